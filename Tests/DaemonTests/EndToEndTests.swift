import Checkout
import Foundation
import Journal
import NetgiroAPI
import NetgiroSim
import Testing
@testable import Bridge

/// A customer at a terminal, keying what the script says; the till API, the payment service,
/// the runner, the journal and the Netgíró simulator are all real.
actor ScriptedCustomer: AskingTerminal {
    nonisolated let terminalID: String
    nonisolated let promptTasks = PromptTasks()
    private var entries: [CustomerEntry]
    private(set) var screens: [CustomerScreen] = []
    private var hold: CheckedContinuation<Void, Never>?
    private let holdPrompts: Bool

    init(terminalID: String, entries: [CustomerEntry], holdPrompts: Bool = false) {
        self.terminalID = terminalID
        self.entries = entries
        self.holdPrompts = holdPrompts
    }

    func show(_ screen: CustomerScreen) async { screens.append(screen) }

    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        if holdPrompts {
            // The customer never answers: the prompt lasts until the runner cancels it.
            await withTaskCancellationHandler {
                await withCheckedContinuation { hold = $0 }
            } onCancel: {
                Task { await self.release() }
            }
            return .terminalUnavailable
        }
        return entries.isEmpty ? .timedOut : entries.removeFirst()
    }

    private func release() {
        hold?.resume()
        hold = nil
    }
}

struct FixedTerminals: PaymentTerminals {
    let customers: [ScriptedCustomer]
    func terminal(_ id: String) async -> (any CustomerTerminal)? { customers.first { $0.terminalID == id } }
    func onlineIDs() async -> [String] { customers.map(\.terminalID) }
    func list() async -> [TillTerminal] { customers.map { TillTerminal(id: $0.terminalID, status: "online") } }
}

/// The whole bridge but the pad: API on a unix socket → service → runner → journal + simulator.
final class BridgeUnderTest: Sendable {
    let scratch: ScratchDirectory
    let simulator: NetgiroSimulator
    let netgiro: NetgiroClient
    let journal: PaymentJournal
    let service: DaemonPaymentService
    let api: RunningTillAPI
    let log: CapturedLog

    init(scratch: ScratchDirectory, simulator: NetgiroSimulator, netgiro: NetgiroClient, journal: PaymentJournal,
         service: DaemonPaymentService, api: RunningTillAPI, log: CapturedLog) {
        self.scratch = scratch
        self.simulator = simulator
        self.netgiro = netgiro
        self.journal = journal
        self.service = service
        self.api = api
        self.log = log
    }

    static func start(customers: [ScriptedCustomer]) async throws -> BridgeUnderTest {
        try await start(terminals: FixedTerminals(customers: customers))
    }

    static func start(
        terminals: any PaymentTerminals, callbackURL: String? = nil, recoveryGrace: Duration = .seconds(30), terminalGrace: Duration = .seconds(2)
    ) async throws -> BridgeUnderTest {
        let scratch = try ScratchDirectory()
        let log = CapturedLog()
        var options = NetgiroSimulator.Options()
        options.core = .init(customers: NetgiroSimCustomers(acceptDelay: .milliseconds(200)), checkInterval: .milliseconds(200))
        options.logger = log.logger("netgiro.simulator")
        let simulator = try await NetgiroSimulator.start(options)
        let configuration = try NetgiroConfiguration(
            baseURL: simulator.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox, responseSignatures: .verify)
        let metrics = TillAPIMetrics()
        let netgiro = NetgiroClient(configuration: configuration, logger: log.logger("netgiro.api"), observer: { metrics.recordNetgiro($0) })
        let journal = try PaymentJournal(path: scratch.path + "/journal.sqlite")
        var checkout = Checkout.Configuration()
        checkout.pollIntervalBounds = .milliseconds(100) ... .milliseconds(300)
        let runner = PaymentRunner(gateway: netgiro, journal: journal, configuration: checkout, logger: log.logger("ngbridge.payment"))
        let service = DaemonPaymentService(
            runner: runner, terminals: terminals, settings: .init(callbackURL: callbackURL, recoveryGrace: recoveryGrace, terminalGrace: terminalGrace), metrics: metrics,
            logger: log.logger("ngbridge.payments"))
        let api = try await RunningTillAPI.start(service: service, scratch: scratch, log: log, metrics: metrics)
        return BridgeUnderTest(scratch: scratch, simulator: simulator, netgiro: netgiro, journal: journal, service: service, api: api, log: log)
    }

    func stop() async {
        try? await api.stop()
        try? await netgiro.shutdown()
        await simulator.shutdown()
    }

    func pay(_ body: String, key: String? = nil) async throws -> TillPayment {
        let answer = try await api.client.request(.POST, "/v1/payments", body: Data(body.utf8), headers: key.map { [("Idempotency-Key", $0)] } ?? [])
        guard answer.status == 201 else { throw TillAPIClientError.refused(status: answer.status, problem: answer.problem) }
        return try answer.decode(TillPayment.self)
    }
}

@Suite(.timeLimit(.minutes(2))) struct EndToEndTests {
    static let phone = NetgiroSimCustomers.acceptingGSM

    func withBridge(_ customers: [ScriptedCustomer], _ body: (BridgeUnderTest) async throws -> Void) async throws {
        let bridge = try await BridgeUnderTest.start(customers: customers)
        do {
            try await body(bridge)
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }

    @Test func manualPaymentIsPaidWithTransactionAndInvoiceAndNoPersonalDataInTheLog() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(Self.phone)])
        try await withBridge([customer]) { bridge in
            let payment = try await bridge.pay(#"{"amount": 4990, "reference": "R-1", "description": "Kaffi"}"#)
            #expect(payment.confirmation == .manual && payment.terminal == "NGP-0001")
            let events = Events()
            let last = try await bridge.api.client.followEvents(payment.id) { await events.add($0) }
            let outcome = try #require(last?.payment)
            #expect(outcome.state == .paid)
            #expect(outcome.transactionId?.isEmpty == false)
            #expect(outcome.invoiceNumber?.isEmpty == false)
            let fetched = try await bridge.api.client.payment(payment.id).decode(TillPayment.self)
            #expect(fetched == outcome)

            let seen = await events.all
            #expect(seen.contains { $0.kind == .prompt && $0.prompt == "customer-id" })
            #expect(seen.contains { $0.kind == .state && $0.state == .processing })
            #expect(seen.map(\.sequence) == Array(1...seen.count))

            // The customer's phone number reached Netgíró but never the log, in clear.
            let log = bridge.log.text
            #expect(log.contains("payment outcome"))
            #expect(log.contains(payment.id))
            #expect(!log.contains(Self.phone), "the customer id is in the log")
        }
    }

    @Test func tillCancelEndsCancelled() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [], holdPrompts: true)
        try await withBridge([customer]) { bridge in
            let payment = try await bridge.pay(#"{"amount": 1500, "reference": "R-C"}"#)
            let follower = Task { try await bridge.api.client.followEvents(payment.id) { _ in } }
            let asked = try await bridge.api.client.cancel(payment.id)
            #expect(asked.status == 202 || asked.status == 200)
            let last = try await follower.value
            #expect(last?.payment?.state == .cancelled)
            let again = try await bridge.api.client.cancel(payment.id)
            #expect(again.status == 200)
        }
    }

    @Test func idempotentRetryGivesTheSamePaymentFromTheJournal() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(Self.phone)])
        try await withBridge([customer]) { bridge in
            let body = #"{"amount": 2500, "reference": "R-I"}"#
            let first = try await bridge.pay(body, key: "sale-42")
            let retry = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(body.utf8), headers: [("Idempotency-Key", "sale-42")])
            #expect(retry.status == 201 && retry.headers.first(name: "Idempotent-Replayed") == "true")
            let retryID = try retry.decode(TillPayment.self).id
            #expect(retryID == first.id)
            let other = try await bridge.api.client.request(
                .POST, "/v1/payments", body: Data(#"{"amount": 9999, "reference": "R-I"}"#.utf8), headers: [("Idempotency-Key", "sale-42")])
            #expect(other.status == 422 && other.problem?.kind == "idempotency-key-reused")
            let last = try await bridge.api.client.followEvents(first.id) { _ in }
            #expect(last?.payment?.state == .paid)
            // One payment in the journal, not two.
            #expect(try await bridge.journal.recentPayments().count == 1)
        }
    }

    @Test func itemsThatDoNotAddUpAreRefusedNamingItems() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [])
        try await withBridge([customer]) { bridge in
            let answer = try await bridge.api.client.request(
                .POST, "/v1/payments",
                body: Data(#"{"amount": 1000, "reference": "R-X", "items": [{"name": "Kleina", "unitPrice": 300, "quantity": 2}]}"#.utf8))
            #expect(answer.status == 422 && answer.problem?.field == "items" && answer.problem?.rule == "sum-equals-amount")
        }
    }
}
