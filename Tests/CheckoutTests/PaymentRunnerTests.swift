import Common
import Foundation
import Logging
@testable import NetgiroAPI
@testable import NetgiroModels
import NetgiroSim
import Testing

@testable import Bridge
@testable import Checkout
@testable import Journal

/// Waits run 20 times faster than asked: a 500 ms poll takes 25 ms. The wall clock is real.
struct FastClock: PaymentClock {
    func now() -> Date { Date() }
    func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration / 20) }
}

/// A customer at a pad, scripted: types the identifiers in order and reads the SMS code the
/// simulator sent for the cart of `reference`.
final class ScriptedTerminal: AskingTerminal, @unchecked Sendable {
    let terminalID: String
    let promptTasks = PromptTasks()
    private let lock = NSLock()
    private var identifiers: [String]
    private var wrongCodes: Int
    private let smsCode: @Sendable () -> String?
    private var _screens: [CustomerScreen] = []
    private var _prompts: [CustomerPrompt] = []

    init(id: String = "PAD-1", identifiers: [String], wrongCodes: Int = 0, smsCode: @escaping @Sendable () -> String? = { nil }) {
        self.terminalID = id
        self.identifiers = identifiers
        self.wrongCodes = wrongCodes
        self.smsCode = smsCode
    }

    var screens: [CustomerScreen] { lock.withLock { _screens } }
    var prompts: [CustomerPrompt] { lock.withLock { _prompts } }

    func show(_ screen: CustomerScreen) async { lock.withLock { _screens.append(screen) } }

    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        lock.withLock { _prompts.append(prompt) }
        switch prompt.kind {
        case .customerID:
            return lock.withLock { () -> CustomerEntry in
                guard !identifiers.isEmpty else { return .timedOut }
                return .entered(identifiers.count > 1 ? identifiers.removeFirst() : identifiers[0])
            }
        case .smsCode:
            // The SMS arrives; the customer types it (a wrong one first, if scripted).
            for _ in 0..<200 {
                if let code = smsCode() {
                    return lock.withLock { () -> CustomerEntry in
                        if wrongCodes > 0 {
                            wrongCodes -= 1
                            return .entered(code == "0000" ? "1111" : "0000")
                        }
                        return .entered(code)
                    }
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return .timedOut
        }
    }
}

/// A terminal whose customer never answers (the prompt waits until cancelled).
struct SilentTerminal: AskingTerminal {
    let terminalID = "PAD-1"
    let promptTasks = PromptTasks()
    func show(_ screen: CustomerScreen) async {}
    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
        return .entered("8223281")  // digits that crossed the cancel: must be ignored
    }
}

/// A message-style terminal with an actor of its own (like a pad's), that records every call in
/// order — and on which executor it came — and never answers by itself.
actor RecordingTerminal: CustomerTerminal {
    nonisolated let terminalID = "PAD-1"
    private nonisolated let state = Locked<(calls: [String], offOwner: [String], replies: [@Sendable (CustomerEntry) -> Void])>(([], [], []))

    nonisolated var owner: (any Actor)? { self }
    nonisolated var calls: [String] { state.withLock { $0.calls } }
    /// The calls that did not come on this terminal's executor.
    nonisolated var callsOffOwner: [String] { state.withLock { $0.offOwner } }

    /// `caller`: the isolation the call ran on (these calls run where they are called).
    private nonisolated func note(_ call: String, _ caller: (any Actor)?, reply: (@Sendable (CustomerEntry) -> Void)? = nil) {
        let onOwner = caller.map { ObjectIdentifier($0) == ObjectIdentifier(self) } ?? false
        state.withLock {
            $0.calls.append(call)
            if !onOwner { $0.offOwner.append(call) }
            if let reply { $0.replies.append(reply) }
        }
    }

    nonisolated(nonsending) func paymentStarted() async { note("payment started", #isolation) }
    nonisolated(nonsending) func paymentEnded() async { note("payment ended", #isolation) }
    nonisolated(nonsending) func show(_ screen: CustomerScreen) async { note("show \(ObservedTerminal.name(of: screen))", #isolation) }
    nonisolated(nonsending) func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        note("prompt \(id)", #isolation, reply: reply)
    }
    nonisolated(nonsending) func withdrawPrompt(_ id: Int) async { note("withdraw \(id)", #isolation) }

    /// The customer's keys arrive for every prompt ever put (withdrawn or not).
    nonisolated func replyToAll(_ entry: CustomerEntry) {
        for reply in state.withLock({ $0.replies }) { reply(entry) }
    }
}

/// Records, for every call, the payment's phase in the journal (read by another connection)
/// at the moment the call is made.
final class JournalCheckingGateway: PaymentGateway, @unchecked Sendable {
    let inner: any PaymentGateway
    let journal: PaymentJournal
    private let _seen = Locked<[(NetgiroCall, PaymentPhase?, String?)]>([])
    var paymentID = ""

    init(_ inner: any PaymentGateway, journal: PaymentJournal) {
        self.inner = inner
        self.journal = journal
    }

    var seen: [(NetgiroCall, PaymentPhase?, String?)] { _seen.withLock { $0 } }

    private func note(_ call: NetgiroCall) async {
        let record = try? await journal.unfinishedPayments().first
        _seen.withLock { $0.append((call, record?.phase, record?.transactionId)) }
    }

    func insertCart(_ request: InsertCartRequest) async throws(NetgiroClientError) -> InsertCartResponse {
        await note(.insertCart)
        return try await inner.insertCart(request)
    }
    func checkCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse {
        await note(.checkCart)
        return try await inner.checkCart(transactionId: transactionId)
    }
    func confirmCart(transactionId: String, identifier: String?) async throws(NetgiroClientError) -> CartResponse {
        await note(.confirmCart)
        return try await inner.confirmCart(transactionId: transactionId, identifier: identifier)
    }
    func cancelCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse {
        await note(.cancelCart)
        return try await inner.cancelCart(transactionId: transactionId)
    }
}

/// The simulator over loopback (manual clock; GSM customers decide at once), a callback
/// receiver, a client, a journal on a temp file and a runner on a fast clock.
struct EndToEnd {
    let sim: NetgiroSimulator
    let receiver: NetgiroCallbackReceiver
    let client: NetgiroClient
    let tmp: TempJournal
    let journal: PaymentJournal
    let gateway: JournalCheckingGateway
    let runner: PaymentRunner

    static var quiet: Logger {
        var l = Logger(label: "test")
        l.logLevel = .critical
        return l
    }

    static func run(_ body: (EndToEnd) async throws -> Void) async throws {
        var options = NetgiroSimulator.Options()
        options.clock = NetgiroManualSimClock()
        options.logger = quiet
        options.core.customers = NetgiroSimCustomers(acceptDelay: .zero)
        options.core.checkInterval = .milliseconds(500)
        let sim = try await NetgiroSimulator.start(options)
        let receiver = try await NetgiroCallbackReceiver.start(logger: quiet)
        let client = NetgiroClient(
            configuration: try NetgiroConfiguration(
                baseURL: sim.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
                responseSignatures: .verify, timeouts: .uniform(.seconds(10)), retry: .init(maxAttempts: 2, backoff: .zero)),
            logger: quiet)
        let tmp = TempJournal()
        let journal = try tmp.open()
        let gateway = JournalCheckingGateway(client, journal: try tmp.open())
        let runner = PaymentRunner(gateway: gateway, journal: journal, clock: FastClock(), logger: quiet)
        let e2e = EndToEnd(sim: sim, receiver: receiver, client: client, tmp: tmp, journal: journal, gateway: gateway, runner: runner)
        defer { tmp.remove() }
        do {
            try await body(e2e)
        } catch {
            await e2e.stop()
            throw error
        }
        await e2e.stop()
    }

    func stop() async {
        try? await client.shutdown()
        await sim.shutdown()
        await receiver.shutdown()
    }

    func request(_ type: ConfirmationType, reference: String) -> PaymentRequest {
        PaymentRequest(
            amount: 2500, reference: reference, description: "Kaffi", confirmationType: type, terminalID: "PAD-1",
            callbackUrl: type == .serverCallback ? receiver.callbackURL : nil,
            callbackCancelUrl: type == .serverCallback ? receiver.cancelURL : nil)
    }

    func terminal(for customer: Customer, reference: String, wrongCodes: Int = 0) -> ScriptedTerminal {
        let sim = self.sim
        return ScriptedTerminal(identifiers: [customer.id], wrongCodes: wrongCodes) {
            sim.ledger().first { $0.reference == reference }.flatMap { sim.smsCode(for: $0.transactionId) }
        }
    }
}

/// Fails the test (instead of hanging) when a payment takes unreasonably long.
func finalRecord(_ handle: PaymentHandle, guardSeconds: Int = 60) async throws -> PaymentRecord {
    try await withThrowingTaskGroup(of: PaymentRecord?.self) { group in
        group.addTask { await handle.finalRecord() }
        group.addTask {
            try await Task.sleep(for: .seconds(guardSeconds))
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        return try #require(first, "payment \(handle.reference) did not finish")
    }
}

@Suite(.serialized) struct PaymentRunnerEndToEndTests {
    @Test(arguments: CheckoutFlowTests.combinations)
    func everyFlowAgainstTheSimulator(customer: Customer, type: ConfirmationType) async throws {
        try await EndToEnd.run { e in
            let reference = "E2E-\(customer.rawValue)-\(type.rawValue)"
            let terminal = e.terminal(for: customer, reference: reference)
            let handle = try await e.runner.start(e.request(type, reference: reference), terminal: terminal)
            let updates = handle.updates()
            let record = try await finalRecord(handle)
            #expect(record.phase == .paid, "\(record.lastMessage ?? "")")
            #expect(record.invoiceNumber != nil)
            let carts = e.sim.ledger().filter { $0.reference == reference }
            #expect(carts.count == 1)
            #expect(carts.first?.state == "paid")
            #expect(carts.first?.count(.insertCart) == 1)
            #expect(carts.first?.count(.confirmCart) == CheckoutFlowTests.expectedConfirms(customer, type))
            #expect(terminal.screens.contains(.paid(amount: 2500)))
            // The journal has the outcome, and the intent was on disk before InsertCart went out.
            #expect(try await e.journal.payment(id: handle.id)?.phase == .paid)
            let insert = try #require(e.gateway.seen.first { $0.0 == .insertCart })
            #expect(insert.1 == .inserting)
            for call in e.gateway.seen where call.0 != .insertCart {
                #expect(call.2 != nil, "\(call.0) went out before its TransactionId was journaled")
            }
            var phases: [PaymentPhase] = []
            for await r in updates { phases.append(r.phase) }
            #expect(phases.last == .paid)
            #expect(phases.contains(.inserting))
            let outcome = await handle.outcome()
            #expect(outcome?.state == .paid)
            #expect(outcome?.reference == reference)
        }
    }

    @Test func wrongSMSCodeThenRightOne() async throws {
        try await EndToEnd.run { e in
            let terminal = e.terminal(for: .ssn, reference: "E2E-sms", wrongCodes: 1)
            let handle = try await e.runner.start(e.request(.manual, reference: "E2E-sms"), terminal: terminal)
            #expect(try await finalRecord(handle).phase == .paid)
            #expect(terminal.prompts.filter { $0.kind == .smsCode }.map(\.hint) == [.none, .wrongCode])
        }
    }

    @Test func insertCartLostAfterCommitIsUnknownWithItsReference() async throws {
        try await EndToEnd.run { e in
            e.sim.injectNext(.dropAfterCommit, on: .insertCart)
            let terminal = e.terminal(for: .appCode, reference: "E2E-lost")
            let handle = try await e.runner.start(e.request(.automatic, reference: "E2E-lost"), terminal: terminal)
            let record = try await finalRecord(handle)
            #expect(record.phase == .unknown)
            #expect(record.transactionId == nil)
            #expect(record.lastMessage?.contains("E2E-lost") == true)
            let carts = e.sim.ledger().filter { $0.reference == "E2E-lost" }
            #expect(carts.count == 1)  // Netgíró made one cart; the bridge never made another
            #expect(carts.first?.count(.insertCart) == 1)
            #expect(terminal.screens.contains(.outcomeUnknown))
            // Recovery at the next start does not touch it again.
            let recovered = try await e.runner.recover { _ in nil }
            #expect(recovered.isEmpty)
        }
    }

    @Test func tillCancelWhileTheCustomerThinks() async throws {
        try await EndToEnd.run { e in
            let terminal = ScriptedTerminal(identifiers: [NetgiroSimCustomers.silentGSM])
            let handle = try await e.runner.start(e.request(.manual, reference: "E2E-cancel"), terminal: terminal)
            for await r in handle.updates() where r.transactionId != nil {
                handle.cancel()
                break
            }
            let record = try await finalRecord(handle)
            #expect(record.phase == .cancelled)
            #expect(e.sim.ledger().first { $0.reference == "E2E-cancel" }?.state == "cancelled")
        }
    }

    @Test func cancelDuringThePromptEndsItAndIgnoresLateDigits() async throws {
        try await EndToEnd.run { e in
            let handle = try await e.runner.start(e.request(.manual, reference: "E2E-prompt"), terminal: SilentTerminal())
            for await r in handle.updates() where r.phase == .awaitingCustomerID {
                #expect(await e.runner.cancel(paymentID: handle.id))
                break
            }
            #expect(try await finalRecord(handle).phase == .cancelled)
            #expect(e.sim.ledger().isEmpty)
        }
    }

    /// The payment's loop runs on its terminal's executor and sends the terminal its calls in
    /// order, waiting on none: a till's cancel mid-prompt withdraws the prompt before the
    /// cancelled screen goes out, and a reply to the withdrawn prompt (digits that crossed the
    /// cancel) changes nothing.
    @Test func aPromptIsWithdrawnBeforeTheNextScreenAndItsLateReplyIsIgnored() async throws {
        try await EndToEnd.run { e in
            let terminal = RecordingTerminal()
            let handle = try await e.runner.start(e.request(.manual, reference: "E2E-withdraw"), terminal: terminal)
            for await r in handle.updates() where r.phase == .awaitingCustomerID {
                #expect(await e.runner.cancel(paymentID: handle.id))
                break
            }
            #expect(try await finalRecord(handle).phase == .cancelled)
            terminal.replyToAll(.entered("8223281"))
            let calls = terminal.calls
            let prompt = try #require(calls.firstIndex { $0.hasPrefix("prompt ") })
            let withdraw = try #require(calls.firstIndex { $0.hasPrefix("withdraw ") })
            let cancelled = try #require(calls.firstIndex(of: "show cancelled"))
            #expect(prompt < withdraw && withdraw < cancelled, "\(calls)")
            #expect(calls[prompt].dropFirst(7) == calls[withdraw].dropFirst(9), "\(calls)")
            #expect(calls.filter { $0.hasPrefix("prompt ") }.count == 1, "\(calls)")
            // The payment's loop runs on its terminal's executor: every call arrived there.
            #expect(calls.contains("payment started") && calls.contains("payment ended"), "\(calls)")
            #expect(terminal.callsOffOwner.isEmpty, "\(terminal.callsOffOwner)")
            #expect(handle.record.phase == .cancelled)
            #expect(e.sim.ledger().isEmpty)
        }
    }

    @Test func idempotencyKeyAndReferenceInFlight() async throws {
        try await EndToEnd.run { e in
            let request = e.request(.manual, reference: "E2E-idem")
            let first = try await e.runner.start(request, terminal: SilentTerminal(), idempotencyKey: "K1")
            let again = try await e.runner.start(request, terminal: SilentTerminal(), idempotencyKey: "K1")
            #expect(again.id == first.id)
            await #expect(throws: PaymentStartError.referenceInFlight(reference: "E2E-idem", paymentID: first.id)) {
                _ = try await e.runner.start(request, terminal: SilentTerminal(), idempotencyKey: "K2")
            }
            first.cancel()
            #expect(try await finalRecord(first).phase == .cancelled)
            let finished = try await e.runner.start(request, terminal: SilentTerminal(), idempotencyKey: "K1")
            #expect(finished.id == first.id)
            #expect(await finished.outcome()?.state == .cancelled)
        }
    }

    @Test func invalidRequestIsRefused() async throws {
        try await EndToEnd.run { e in
            await #expect(throws: PaymentStartError.invalidRequest(.amountNotPositive(0))) {
                _ = try await e.runner.start(
                    PaymentRequest(amount: 0, reference: "R", terminalID: "PAD-1"), terminal: SilentTerminal())
            }
        }
    }

    @Test func callbackIsRoutedToItsPayment() async throws {
        try await EndToEnd.run { e in
            let terminal = ScriptedTerminal(identifiers: [NetgiroSimCustomers.silentGSM])
            let handle = try await e.runner.start(e.request(.serverCallback, reference: "E2E-cb"), terminal: terminal)
            var transactionId = ""
            for await r in handle.updates() where r.transactionId != nil {
                transactionId = r.transactionId!
                break
            }
            #expect(await !e.runner.callbackReceived(CartResponse(
                success: true, message: nil, resultCode: .paymentCompleted, paymentSuccessful: true,
                paymentInfo: PaymentInfo(transactionId: "not-our-cart"))))
            // Netgíró's callback after the customer accepted (here: as the simulator would send it).
            try e.sim.customerDecides(transactionId: transactionId, accept: true)
            await e.sim.settle()
            let callback = try #require(e.receiver.callbacks.first { $0.isValid })
            guard case .valid(let response) = callback.verification else { return }
            #expect(await e.runner.callbackReceived(response))
            #expect(try await finalRecord(handle).phase == .paid)
        }
    }
}

@Suite(.serialized) struct PaymentRecoveryTests {
    /// Puts a payment into the journal as a crashed bridge would have left it.
    func crashed(_ e: EndToEnd, reference: String, phase: PaymentPhase, transactionId: String?, deadline: Date? = nil,
                 cancel: CancelReason? = nil) async throws -> PaymentRecord {
        var record = try Checkout(id: "crashed-\(reference)", request: e.request(.manual, reference: reference), now: Date()).record
        _ = try await e.journal.create(record)
        record.phase = phase
        record.transactionId = transactionId
        record.cancelReason = cancel
        record.customerMasked = "*******234"
        if let deadline { record.deadline = deadline }
        try await e.journal.record(PaymentTransition(from: .created, record: record, cause: "before the crash", at: Date()))
        return record
    }

    /// Manual: the orphan cart can never be captured, so the payment failed and may be taken again.
    @Test func insertCartIntentWithoutTransactionIdFailsRetryableUnderManual() async throws {
        try await EndToEnd.run { e in
            _ = try await crashed(e, reference: "REC-1", phase: .inserting, transactionId: nil)
            let handles = try await e.runner.recover { _ in nil }
            #expect(handles.count == 1)
            let record = try await finalRecord(handles[0])
            #expect(record.phase == .failed)
            #expect(record.failureReason == .insertUnanswered)
            #expect(record.retryable == true)
            #expect(record.lastMessage?.contains("REC-1") == true)
            #expect(e.gateway.seen.isEmpty)  // never inserted again
            #expect(try await e.journal.unfinishedPayments().isEmpty)
        }
    }

    @Test func reservedCartIsResumedAndCaptured() async throws {
        try await EndToEnd.run { e in
            let inserted = try await e.client.insertCart(InsertCartRequest(
                amount: 2500, reference: "REC-2", customerId: Customer.appCode.id, confirmationType: .manual))
            let id = try #require(inserted.transactionId)
            _ = try await crashed(e, reference: "REC-2", phase: .awaitingCustomer, transactionId: id)
            let pad = ScriptedTerminal(identifiers: [])
            let handles = try await e.runner.recover { $0 == "PAD-1" ? pad : nil }
            let record = try await finalRecord(handles[0])
            #expect(record.phase == .paid)
            #expect(e.gateway.seen.map(\.0) == [.checkCart, .confirmCart])
            #expect(e.sim.cart(id)?.state == "paid")
            #expect(pad.screens.contains(.paid(amount: 2500)))
        }
    }

    @Test func cartPastItsDeadlineIsCancelled() async throws {
        try await EndToEnd.run { e in
            let inserted = try await e.client.insertCart(InsertCartRequest(
                amount: 2500, reference: "REC-3", customerId: NetgiroSimCustomers.silentGSM, confirmationType: .manual))
            let id = try #require(inserted.transactionId)
            _ = try await crashed(e, reference: "REC-3", phase: .awaitingCustomer, transactionId: id, deadline: Date().addingTimeInterval(-1))
            let handles = try await e.runner.recover { _ in nil }
            let record = try await finalRecord(handles[0])
            #expect(record.phase == .cancelled)
            #expect(e.gateway.seen.map(\.0) == [.cancelCart])
            #expect(e.sim.cart(id)?.state == "cancelled")
        }
    }

    @Test func cancelAskedBeforeTheCrashIsCarriedOutAndThePaidRaceIsKept() async throws {
        try await EndToEnd.run { e in
            // AppCode + Automatic: paid at InsertCart; the till had asked to cancel.
            let inserted = try await e.client.insertCart(InsertCartRequest(
                amount: 2500, reference: "REC-4", customerId: Customer.appCode.id, confirmationType: .automatic))
            let id = try #require(inserted.transactionId)
            _ = try await crashed(e, reference: "REC-4", phase: .awaitingCustomer, transactionId: id, cancel: .till)
            let handles = try await e.runner.recover { _ in nil }
            let record = try await finalRecord(handles[0])
            #expect(record.phase == .paid)  // CancelCart answered 10200: the customer won
            #expect(e.gateway.seen.map(\.0) == [.cancelCart])
        }
    }
}
