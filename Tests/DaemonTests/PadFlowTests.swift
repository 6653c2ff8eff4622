import Checkout
import Foundation
import NetgiroAPI
import PinpadFirmware
import PinpadProtocol
import NetgiroSim
import PinpadSim
import Testing
@testable import Bridge

/// One simulated PIN pad (the firmware core behind a pty) as the daemon's only terminal,
/// reached through the bridge's own serial stack (PadLine → PadLink → PadTerminal).
struct OnePad: PaymentTerminals {
    let pad: PadTerminal
    func terminal(_ id: String) async -> (any CustomerTerminal)? { id == pad.terminalID ? pad : nil }
    func onlineIDs() async -> [String] { [pad.terminalID] }
    func list() async -> [TillTerminal] { [TillTerminal(id: pad.terminalID, status: "online")] }
}

/// Every customer identifier × every confirmation type through the whole product: the till API
/// on a unix socket, the payment service, runner and journal, the Netgíró simulator, and a
/// simulated pad on which the test keys what the customer would — including the SMS code
/// Netgíró sends for a kennitala.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PadFlowTests {
    static let customers: [(name: String, id: String)] = [
        ("phone", NetgiroSimCustomers.acceptingGSM),
        ("kennitala", NetgiroSimCustomers.smsSSN),
        ("app-code", NetgiroSimCustomers.appCodePrefix + "4321"),
    ]
    static let confirmations = ["automatic", "manual", "server-callback"]

    @Test func everyCustomerKindWithEveryConfirmationTypeIsPaidThroughThePad() async throws {
        let path = NSTemporaryDirectory() + "ngbridge-padflows-\(getpid())"
        let simulatedPad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        simulatedPad.start()
        let terminal = PadTerminal(terminalID: "SIM00001")
        let line = Task { await PadLine.keepOpen(path: path, terminal: terminal, hello: HostHello(hostName: Array("e2e".utf8)), retryInterval: .milliseconds(100)) }
        let callbacks = try await NetgiroCallbackReceiver.start()
        let bridge = try await BridgeUnderTest.start(terminals: OnePad(pad: terminal), callbackURL: callbacks.callbackURL)
        defer {
            line.cancel()
            simulatedPad.stop()
        }
        #expect(await simulatedPad.waitForLink(up: true, timeout: .seconds(20)))

        var lastPrompt = 0
        var flow = 0
        for customer in Self.customers {
            for confirmation in Self.confirmations {
                flow += 1
                let payment = try await bridge.pay(#"{"amount": \#(1000 + flow), "reference": "FLOW-\#(flow)", "confirmation": "\#(confirmation)"}"#)
                let follower = Task { try await bridge.api.client.followEvents(payment.id) { _ in } }

                let asked = try #require(await simulatedPad.waitForPrompt(.customerID, after: lastPrompt, timeout: .seconds(20)), "no customer-id prompt for \(customer.name)/\(confirmation)")
                lastPrompt = asked.serial
                // The pad's own loop drives the payment: no task of the payment's own.
                #expect(await terminal.hostedPayments == [payment.id])
                simulatedPad.type(customer.id)
                simulatedPad.press(.ok)
                if customer.name == "kennitala" {
                    let sms = try #require(await simulatedPad.waitForPrompt(.smsCode, after: lastPrompt, timeout: .seconds(20)), "no SMS-code prompt")
                    lastPrompt = sms.serial
                    let cart = try #require(bridge.simulator.ledger().last { $0.reference == "FLOW-\(flow)" })
                    let code = try #require(bridge.simulator.smsCode(for: cart.transactionId))
                    simulatedPad.type(code)
                    simulatedPad.press(.ok)
                }

                let outcome = try #require(try await follower.value?.payment, "no outcome for \(customer.name)/\(confirmation)")
                #expect(outcome.state == .paid, "\(customer.name)/\(confirmation) ended \(outcome.state)")
                #expect(await terminal.hostedPayments.isEmpty, "the pad still holds an ended payment")
                #expect(outcome.transactionId?.isEmpty == false)
                #expect(await simulatedPad.waitForScreen(containing: "Greitt", timeout: .seconds(10)), "the pad did not show the payment as paid")
                let carts = bridge.simulator.ledger().filter { $0.reference == "FLOW-\(flow)" }
                #expect(carts.count == 1, "\(carts.count) carts for one payment")
            }
        }
        #expect(flow == 9)
        #expect(!bridge.log.text.contains(NetgiroSimCustomers.smsSSN), "a kennitala is in the log")
        #expect(!bridge.log.text.contains(NetgiroSimCustomers.acceptingGSM), "a phone number is in the log")
        line.cancel()
        simulatedPad.stop()
        await bridge.stop()
        await callbacks.shutdown()
        await simulatedPad.waitUntilStopped()
    }
}
