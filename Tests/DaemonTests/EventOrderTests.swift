import Checkout
import Foundation
import NetgiroSim
import Testing
@testable import Bridge

/// A kennitala customer: keys the kennitala, then a wrong SMS code, then the right one (read
/// from the Netgíró simulator, as the customer reads it from the SMS).
actor SMSCustomer: AskingTerminal {
    nonisolated let terminalID: String
    nonisolated let promptTasks = PromptTasks()
    private var simulator: NetgiroSimulator?
    private(set) var hints: [CustomerPromptHint] = []

    init(terminalID: String) { self.terminalID = terminalID }

    func use(_ simulator: NetgiroSimulator) { self.simulator = simulator }

    func show(_ screen: CustomerScreen) async {}

    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        switch prompt.kind {
        case .customerID:
            return .entered(NetgiroSimCustomers.smsSSN)
        case .smsCode:
            hints.append(prompt.hint)
            if hints.count == 1 { return .entered("0000") }
            guard let cart = simulator?.ledger().last, let code = simulator?.smsCode(for: cart.transactionId) else { return .timedOut }
            return .entered(code)
        }
    }
}

/// The till sees a payment's events in the order they happened (issue 13 §5).
@Suite(.timeLimit(.minutes(2))) struct EventOrderTests {
    /// Every prompt follows the state it belongs to: `awaiting-sms-code` comes before the first
    /// `sms-code` prompt (not only after a wrong code); ids go 1, 2, 3 …; `Last-Event-ID: n`
    /// resumes with event n + 1.
    @Test func statesAndPromptsArriveInOrderAndResumeAfterTheGivenEvent() async throws {
        let customer = SMSCustomer(terminalID: "NGP-SMS")
        let bridge = try await BridgeUnderTest.start(terminals: SMSTerminals(customer: customer))
        await customer.use(bridge.simulator)
        do {
            let payment = try await bridge.pay(#"{"amount": 2990, "reference": "R-SMS", "confirmation": "automatic"}"#)
            let events = Events()
            let last = try await bridge.api.client.followEvents(payment.id) { await events.add($0) }
            #expect(last?.payment?.state == .paid)
            let seen = await events.all
            #expect(seen.map(\.sequence) == Array(1...seen.count))

            var state: TillPaymentState?
            var prompts: [String] = []
            for event in seen {
                switch event.kind {
                case .state: state = event.state
                case .prompt:
                    prompts.append(event.prompt ?? "")
                    if event.prompt == "customer-id" { #expect(state == .awaitingCustomer, "customer-id prompt in state \(String(describing: state))") }
                    if event.prompt == "sms-code" { #expect(state == .awaitingSMSCode, "sms-code prompt in state \(String(describing: state))") }
                default: break
                }
            }
            #expect(prompts == ["customer-id", "sms-code", "sms-code"])
            #expect(await customer.hints == [.none, .wrongCode])  // D15: notice 1 after a wrong code

            // Resuming: exactly the events after the one named.
            let resume = seen.count / 2
            let answer = try await bridge.api.client.request(
                .GET, "/v1/payments/\(payment.id)/events", headers: [("Accept", "text/event-stream"), ("Last-Event-ID", "\(resume)")])
            let ids = String(decoding: answer.body, as: UTF8.self).split(separator: "\n").compactMap { line -> Int? in
                line.hasPrefix("id: ") ? Int(line.dropFirst(4)) : nil
            }
            #expect(ids == Array((resume + 1)...seen.count))
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }
}

struct SMSTerminals: PaymentTerminals {
    let customer: SMSCustomer
    func terminal(_ id: String) async -> (any CustomerTerminal)? { id == customer.terminalID ? customer : nil }
    func onlineIDs() async -> [String] { [customer.terminalID] }
    func list() async -> [TillTerminal] { [TillTerminal(id: customer.terminalID, status: "online")] }
}
