import Foundation
import NetgiroSim
import Testing
@testable import Bridge

/// One pad whose link the test switches, counting how often the service looked at it.
actor SwitchableTerminals: PaymentTerminals {
    let customer: ScriptedCustomer
    private(set) var linked: Bool
    private(set) var looks = 0
    /// The prompts the pad announced, as GET /v1/terminals lists them (nil: not reported).
    let prompts: [String]?

    init(customer: ScriptedCustomer, linked: Bool, prompts: [String]? = nil) {
        self.customer = customer
        self.linked = linked
        self.prompts = prompts
    }

    private var listeners: [AsyncStream<Void>.Continuation] = []

    func setLinked(_ value: Bool) {
        linked = value
        for listener in listeners { listener.yield() }
    }
    /// Tells waiting requests when the link changes, as the daemon's terminals do: a request
    /// waiting for the pad must take it without a timer.
    func watchChanges() -> AsyncStream<Void>? {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        listeners.append(continuation)
        return stream
    }
    func terminal(_ id: String) async -> (any CustomerTerminal)? { id == customer.terminalID ? customer : nil }
    func onlineIDs() async -> [String] {
        looks += 1
        return linked ? [customer.terminalID] : []
    }
    func list() async -> [TillTerminal] {
        var terminal = TillTerminal(id: customer.terminalID, status: linked ? "online" : "offline")
        terminal.prompts = linked ? prompts : nil
        return [terminal]
    }
}

/// Admission through the till API with the real service, runner, journal and Netgíró simulator:
/// answers a till can act on.
@Suite(.timeLimit(.minutes(2))) struct AdmissionThroughAPITests {
    static let phone = NetgiroSimCustomers.acceptingGSM

    func withBridge(
        _ terminals: any PaymentTerminals, terminalGrace: Duration = .seconds(2), _ body: (BridgeUnderTest) async throws -> Void
    ) async throws {
        let bridge = try await BridgeUnderTest.start(terminals: terminals, terminalGrace: terminalGrace)
        do {
            try await body(bridge)
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }

    /// The only pad briefly unlinked: not naming it used to be 422 terminal-required (final to a
    /// till), naming it 409 terminal-offline. Now both are the same retryable answer.
    @Test func theOnlyPadAwayGivesTheSameRetryableAnswerNamedOrNot() async throws {
        let terminals = SwitchableTerminals(customer: ScriptedCustomer(terminalID: "NGP-0001", entries: []), linked: false)
        try await withBridge(terminals, terminalGrace: .zero) { bridge in
            for body in [#"{"amount": 4990, "reference": "R-AWAY"}"#, #"{"amount": 4990, "reference": "R-AWAY", "terminal": "NGP-0001"}"#] {
                let answer = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(body.utf8))
                #expect(answer.status == 409, "\(body) → \(answer.status) \(answer.body.text)")
                #expect(answer.problem?.kind == "terminal-offline" && answer.problem?.field == "terminal")
                #expect(answer.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 > 0 } == true)
            }
            #expect(try await bridge.journal.recentPayments().isEmpty)
        }
    }

    /// PROTOCOL.md §5.2, D4: a pad that did not announce CUSTOMER_ID cannot take payments; the
    /// till is told so, naming the missing prompt, and nothing is journaled.
    @Test func aPadWithoutTheCustomerIDPromptIsRefusedNamingIt() async throws {
        let terminals = SwitchableTerminals(
            customer: ScriptedCustomer(terminalID: "NGP-0001", entries: []), linked: true, prompts: ["sms-code", "confirm-amount"])
        try await withBridge(terminals) { bridge in
            let answer = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 4990, "reference": "R-NOID"}"#.utf8))
            #expect(answer.status == 409, "\(answer.status) \(answer.body.text)")
            #expect(answer.problem?.kind == "terminal-cannot-pay" && answer.problem?.field == "terminal")
            #expect(answer.problem?.rule == "prompt-customer-id")
            #expect(answer.problem?.detail.contains("customer-id") == true)
            #expect(try await bridge.journal.recentPayments().isEmpty)
        }
    }

    /// A pad that comes back within the grace takes the payment: the request waited for it,
    /// woken by the terminals' change (the grace is a minute: no timer would serve it in time).
    @Test func aPadBackWithinTheGraceTakesThePayment() async throws {
        let terminals = SwitchableTerminals(customer: ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(Self.phone)]), linked: false)
        try await withBridge(terminals, terminalGrace: .seconds(60)) { bridge in
            let post = Task { try await bridge.api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 2500, "reference": "R-BACK"}"#.utf8)) }
            // Wait until the request has looked at the pad and found it away, then link it.
            while await terminals.looks < 1 { try await Task.sleep(for: .milliseconds(5)) }
            await terminals.setLinked(true)
            let answer = try await post.value
            #expect(answer.status == 201, "\(answer.body.text)")
            let payment = try answer.decode(TillPayment.self)
            #expect(payment.terminal == "NGP-0001")
            let last = try await bridge.api.client.followEvents(payment.id) { _ in }
            #expect(last?.payment?.state == .paid)
        }
    }

    /// Two baskets with the same total and the same number of lines are two requests: the second
    /// under the first one's key is refused, not answered with the first payment.
    @Test func anotherBasketWithTheSameTotalAndLineCountUnderOneKeyIsRefused() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [], holdPrompts: true)
        try await withBridge(FixedTerminals(customers: [customer])) { bridge in
            let first = #"{"amount": 1300, "reference": "R-B", "items": [{"name": "Kaffi", "unitPrice": 500, "quantity": 2}, {"name": "Kleina", "unitPrice": 300, "quantity": 1}]}"#
            let other = #"{"amount": 1300, "reference": "R-B", "items": [{"name": "Te", "unitPrice": 400, "quantity": 2}, {"name": "Snúður", "unitPrice": 500, "quantity": 1}]}"#
            let key = [("Idempotency-Key", "till-3-sale-9")]
            let started = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(first.utf8), headers: key)
            #expect(started.status == 201)
            let reused = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(other.utf8), headers: key)
            #expect(reused.status == 422, "\(reused.body.text)")
            #expect(reused.problem?.kind == "idempotency-key-reused" && reused.problem?.field == "Idempotency-Key")
            let same = try await bridge.api.client.request(.POST, "/v1/payments", body: Data(first.utf8), headers: key)
            #expect(same.status == 201 && same.headers.first(name: "Idempotent-Replayed") == "true")
            let payment = try started.decode(TillPayment.self)
            _ = try await bridge.api.client.cancel(payment.id)
            #expect(try await bridge.journal.recentPayments().count == 1)
        }
    }

    /// A new payment for a reference that was paid is refused naming the paid one — unless the
    /// till says it is a deliberate repeat.
    @Test func aPaidReferenceIsRefusedUnlessRepeatedOnPurpose() async throws {
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(Self.phone), .entered(Self.phone)])
        try await withBridge(FixedTerminals(customers: [customer])) { bridge in
            let first = try await bridge.pay(#"{"amount": 2500, "reference": "R-PAID"}"#, key: "sale-1")
            // In flight: refused, naming it.
            let meanwhile = try await bridge.api.client.request(
                .POST, "/v1/payments", body: Data(#"{"amount": 2500, "reference": "R-PAID"}"#.utf8), headers: [("Idempotency-Key", "sale-1b")])
            #expect(meanwhile.status == 409, "\(meanwhile.body.text)")
            #expect(meanwhile.problem?.kind == "reference-in-use" && meanwhile.problem?.payment?.id == first.id)
            let last = try await bridge.api.client.followEvents(first.id) { _ in }
            #expect(last?.payment?.state == .paid)

            for key in [nil, "sale-2"] as [String?] {
                let again = try await bridge.api.client.request(
                    .POST, "/v1/payments", body: Data(#"{"amount": 2500, "reference": "R-PAID"}"#.utf8),
                    headers: key.map { [("Idempotency-Key", $0)] } ?? [])
                #expect(again.status == 409, "\(again.body.text)")
                #expect(again.problem?.kind == "reference-in-use" && again.problem?.field == "reference")
                #expect(again.problem?.payment?.id == first.id && again.problem?.payment?.state == .paid)
            }
            #expect(try await bridge.journal.recentPayments().count == 1)

            let repeated = try await bridge.pay(#"{"amount": 2500, "reference": "R-PAID", "repeat": true}"#, key: "sale-3")
            #expect(repeated.id != first.id)
            let second = try await bridge.api.client.followEvents(repeated.id) { _ in }
            #expect(second?.payment?.state == .paid)
        }
    }

    /// `ngbridge pay` without --idempotency-key sends a key derived from the sale: running it
    /// again after a timeout joins the payment the first run started.
    @Test func aRerunOfPayJoinsThePaymentItStarted() async throws {
        let key = TillAPIClient.derivedIdempotencyKey(reference: "Sala 7/ÁÐ", amount: 2500)
        #expect(key == TillAPIClient.derivedIdempotencyKey(reference: "Sala 7/ÁÐ", amount: 2500))
        #expect(key != TillAPIClient.derivedIdempotencyKey(reference: "Sala 7/ÁÐ", amount: 2500, attempt: 2))
        #expect(key != TillAPIClient.derivedIdempotencyKey(reference: "Sala 7/ÁÐ", amount: 2600))
        #expect(key != TillAPIClient.derivedIdempotencyKey(reference: "Sala 8/ÁÐ", amount: 2500))
        #expect(key != TillAPIClient.derivedIdempotencyKey(reference: "Sala 7/ÁÐ", amount: 2500, repeat: true))
        let long = String(repeating: "Þ", count: 64)
        for reference in ["Sala 7/ÁÐ", long, long.dropLast() + "Ð"] {
            let derived = TillAPIClient.derivedIdempotencyKey(reference: String(reference), amount: 10_000_000, attempt: 99, repeat: true)
            #expect((try? TillAPIValidation.idempotencyKey(derived)) == derived, "\(derived) is not a valid Idempotency-Key")
        }
        #expect(
            TillAPIClient.derivedIdempotencyKey(reference: long, amount: 100)
                != TillAPIClient.derivedIdempotencyKey(reference: String(long.dropLast()) + "Ð", amount: 100))

        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(Self.phone)])
        try await withBridge(FixedTerminals(customers: [customer])) { bridge in
            let request = TillPaymentRequest(amount: 2500, reference: "Sala 7/ÁÐ")
            let first = try await bridge.api.client.startPayment(request, idempotencyKey: key)
            #expect(first.status == 201)
            let rerun = try await bridge.api.client.startPayment(request, idempotencyKey: key)
            #expect(rerun.status == 201 && rerun.headers.first(name: "Idempotent-Replayed") == "true")
            let firstID = try first.decode(TillPayment.self).id
            #expect(try rerun.decode(TillPayment.self).id == firstID)
            let last = try await bridge.api.client.followEvents(firstID) { _ in }
            #expect(last?.payment?.state == .paid)
            #expect(try await bridge.journal.recentPayments().count == 1)
        }
    }
}
