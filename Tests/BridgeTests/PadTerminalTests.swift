import Checkout
import Foundation
import PinpadFirmware
import PinpadProtocol
import Simulators
import Testing
@testable import Bridge

/// PadTerminal against the simulated pad (the real firmware core behind a pty), through the
/// bridge's own serial stack: what the payment runner will see of a customer at a real pad.
@Suite(.serialized) struct PadTerminalTests {
    static let hello = HostHello(hostName: Array("bridge-test".utf8))

    struct Rig {
        let pad: PinpadSimulator
        let terminal: PadTerminal
        let line: Task<Void, Never>

        static func start(_ name: String, faults: PinpadFaults = PinpadFaults()) throws -> Rig {
            let path = NSTemporaryDirectory() + "ngbridge-test-\(name)-\(getpid())"
            var options = PinpadSimulatorOptions(linkPath: path)
            options.faults = faults
            let pad = try PinpadSimulator(options: options)
            pad.start()
            let terminal = PadTerminal(terminalID: "SIM-TEST", reconnectGrace: .seconds(20))
            let line = Task { await PadLine.keepOpen(path: path, terminal: terminal, hello: PadTerminalTests.hello, retryInterval: .milliseconds(100)) }
            return Rig(pad: pad, terminal: terminal, line: line)
        }

        func stop() async {
            line.cancel()
            pad.stop()
            await pad.waitUntilStopped()
        }
    }

    @Test func askReturnsWhatTheCustomerKeyed() async throws {
        let rig = try Rig.start("entry")
        defer { Task { await rig.stop() } }
        async let entry = rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 4990))
        let prompt = await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20))
        #expect(prompt != nil)
        #expect(rig.pad.snapshot.shows("4.990 kr."))
        rig.pad.type("8223281")
        rig.pad.press(.ok)
        #expect(await entry == .entered("8223281"))
        #expect(await rig.terminal.deviceInfo?.serialNumber.isEmpty == false)
    }

    @Test func customerCancelAndScreensReachThePad() async throws {
        let rig = try Rig.start("cancel")
        defer { Task { await rig.stop() } }
        async let entry = rig.terminal.ask(CustomerPrompt(kind: .smsCode, amount: 100, hint: .wrongCode))
        #expect(await rig.pad.waitForPrompt(.smsCode, timeout: .seconds(20)) != nil)
        rig.pad.press(.cancel)
        #expect(await entry == .cancelledByCustomer)
        await rig.terminal.show(.paid(amount: 4990))
        #expect(await rig.pad.waitForScreen(containing: "Greitt", timeout: .seconds(10)))
        #expect(rig.pad.snapshot.shows("4.990 kr."))
    }

    /// Cancelling the waiting task ends the prompt on the pad (CANCEL_PROMPT), and the pad is
    /// free for the next prompt.
    @Test func cancellingTheAskEndsThePromptOnThePad() async throws {
        let rig = try Rig.start("hostcancel")
        defer { Task { await rig.stop() } }
        let asking = Task { await rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 10)) }
        let first = await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20))
        #expect(first != nil)
        asking.cancel()
        _ = await asking.value
        #expect(await rig.pad.wait(timeout: .seconds(10)) { $0.prompt == nil } != nil)
        async let again = rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 10))
        let second = await rig.pad.waitForPrompt(.customerID, after: first?.serial ?? 0, timeout: .seconds(20))
        #expect(second != nil && second?.token != first?.token)
        rig.pad.type("1111111119")
        rig.pad.press(.ok)
        #expect(await again == .entered("1111111119"))
    }

    /// Pulling the cable mid-prompt loses the prompt (PROTOCOL.md §7.3): after the replug the
    /// terminal asks again with a new token, and the customer's entry arrives once.
    @Test func unplugMidPromptAsksAgainAfterReplug() async throws {
        let rig = try Rig.start("replug")
        defer { Task { await rig.stop() } }
        async let entry = rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 4990))
        let first = await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20))
        #expect(first != nil)
        rig.pad.type("822")
        let beforeUnplug = await rig.terminal.linkStatistics
        rig.pad.unplug()
        try await Task.sleep(for: .milliseconds(300))
        rig.pad.replug()
        let second = await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20))
        #expect(second != nil && second?.token != first?.token)
        // The link counters (for /metrics) carry on over the new line rather than start again:
        // the new line adds at least its HELLO and the prompt asked again.
        let afterReplug = await rig.terminal.linkStatistics
        #expect(afterReplug.framesWritten >= beforeUnplug.framesWritten + 2)
        rig.pad.type("8223281")
        rig.pad.press(.ok)
        #expect(await entry == .entered("8223281"))
    }
}
