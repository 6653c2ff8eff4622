import Checkout
import Foundation
import PinpadFirmware
import PinpadProtocol
import LineFaults
import PinpadSim
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

        static func start(_ name: String, faults: PinpadFaults = PinpadFaults(), tokens: (any PromptTokenStore)? = nil) throws -> Rig {
            let path = NSTemporaryDirectory() + "ngbridge-test-\(name)-\(getpid())"
            var options = PinpadSimulatorOptions(linkPath: path)
            options.faults = faults
            let pad = try PinpadSimulator(options: options)
            pad.start()
            let terminal = PadTerminal(terminalID: "SIM-TEST", reconnectGrace: .seconds(20), tokenStore: tokens)
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

    /// Every message the bridge sends is acknowledged; the ACKs are the link layer's business on
    /// the line's thread and never wake the terminal's loop.
    @Test func acknowledgementsDoNotWakeTheTerminalsLoop() async throws {
        let rig = try Rig.start("acks")
        defer { Task { await rig.stop() } }
        async let entry = rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 100))
        #expect(await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20)) != nil)
        rig.pad.press(.cancel)
        #expect(await entry == .cancelledByCustomer)
        let before = await rig.terminal.linkStatistics.validFramesReceived
        for amount in 1...5 {
            await rig.terminal.show(.paid(amount: amount * 1000))
            #expect(await rig.pad.waitForScreen(containing: "\(amount).000 kr.", timeout: .seconds(10)))
        }
        // The five ACKs have been handled once the link's counters show them.
        for _ in 0..<100 where await rig.terminal.linkStatistics.validFramesReceived < before + 5 {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(await rig.terminal.linkStatistics.validFramesReceived >= before + 5)
        try await Task.sleep(for: .milliseconds(200))  // time for anything yielded to be read
        #expect(await rig.terminal.linkReportsReachingTheLoop == 0)
        #expect(PadTerminal.concernsTheLoop(.message(.ping([]))))
        #expect(!PadTerminal.concernsTheLoop(.delivered(.ping([]))))
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

    /// A prompt put as a message answers through its reply; a withdrawn one ends on the pad
    /// (CANCEL_PROMPT) and never replies, even when the customer presses OK as it is withdrawn.
    @Test func aWithdrawnPromptEndsOnThePadAndNeverReplies() async throws {
        let rig = try Rig.start("withdraw")
        defer { Task { await rig.stop() } }
        let (entries, delivery) = AsyncStream.makeStream(of: (Int, CustomerEntry).self)
        await rig.terminal.prompt(CustomerPrompt(kind: .customerID, amount: 10), id: 1) { delivery.yield((1, $0)) }
        let first = try #require(await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20)))
        rig.pad.type("8223281")
        await rig.terminal.withdrawPrompt(1)
        rig.pad.press(.ok)
        #expect(await rig.pad.wait(timeout: .seconds(10)) { $0.prompt == nil } != nil)
        await rig.terminal.prompt(CustomerPrompt(kind: .customerID, amount: 10), id: 2) { delivery.yield((2, $0)) }
        let second = try #require(await rig.pad.waitForPrompt(.customerID, after: first.serial, timeout: .seconds(20)))
        #expect(second.token != first.token)
        rig.pad.type("1111111119")
        rig.pad.press(.ok)
        var replies = entries.makeAsyncIterator()
        let reply = await replies.next()
        #expect(reply?.0 == 2 && reply?.1 == .entered("1111111119"))
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

    /// The session rules through the real shell and a simulated pad: one HELLO at link-up (h);
    /// no SHOW_SCREEN over the next payment's open PROMPT when the previous payment's "back to
    /// idle" comes (c); after a reboot mid-prompt the current payment's prompt, not the previous
    /// payment's result (d); tokens kept across a restart of the terminal session (i).
    @Test func sessionRulesHoldThroughTheShell() async throws {
        let directory = NSTemporaryDirectory() + "ngbridge-tokens-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        let tokens = PromptTokenFile(directory: directory)
        let rig = try Rig.start("session", tokens: tokens)
        defer { Task { await rig.stop() } }
        #expect(await rig.pad.waitForLink(up: true, timeout: .seconds(20)))
        let received = { rig.pad.transcript.filter { $0.kind == .received } }
        let hellos = received().filter { $0.text.hasPrefix("HELLO ") }
        #expect(hellos.filter { $0.at - hellos[0].at < 200 }.count == 1, "\(hellos)")

        await rig.terminal.paymentStarted()
        await rig.terminal.show(.paid(amount: 4990))
        await rig.terminal.paymentEnded()
        #expect(await rig.pad.waitForScreen(containing: "Greitt", timeout: .seconds(10)))
        await rig.terminal.paymentStarted()
        let asking = Task { await rig.terminal.ask(CustomerPrompt(kind: .customerID, amount: 1990)) }
        let first = try #require(await rig.pad.waitForPrompt(.customerID, timeout: .seconds(20)))
        for _ in 0..<3 { await rig.terminal.show(.idle) }  // the previous payment's "back to idle"
        rig.pad.reboot()
        let second = try #require(await rig.pad.waitForPrompt(.customerID, after: first.serial, timeout: .seconds(20)))
        #expect(second.token == first.token + 1)
        let sinceFirstPrompt = received().drop { !$0.text.hasPrefix("PROMPT") }
        #expect(!sinceFirstPrompt.contains { $0.text.hasPrefix("SHOW_SCREEN") }, "\(Array(sinceFirstPrompt))")
        rig.pad.type("8223281")
        rig.pad.press(.ok)
        #expect(await asking.value == .entered("8223281"))
        #expect(tokens.lastToken(terminal: "SIM-TEST") == second.token)

        // A restarted daemon: a new session for the same pad goes on from the kept token.
        rig.line.cancel()
        #expect(await rig.pad.waitForLink(up: false, timeout: .seconds(20)))
        let restarted = PadTerminal(terminalID: "SIM-TEST", tokenStore: tokens)
        let line = Task { await PadLine.keepOpen(path: rig.pad.path, terminal: restarted, hello: Self.hello, retryInterval: .milliseconds(100)) }
        defer { line.cancel() }
        let again = Task { await restarted.ask(CustomerPrompt(kind: .customerID, amount: 1990)) }
        let third = try #require(await rig.pad.waitForPrompt(.customerID, after: second.serial, timeout: .seconds(20)))
        #expect(third.token == second.token + 1)
        again.cancel()
    }

    @Test func theTokenFileNamesAnyTerminalSafely() {
        let directory = NSTemporaryDirectory() + "ngbridge-tokenfile-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        let store = PromptTokenFile(directory: directory)
        #expect(store.lastToken(terminal: "../etc/x") == 0)
        store.save(65535, terminal: "../etc/x")
        store.save(7, terminal: "NGP-0001")
        #expect(store.lastToken(terminal: "../etc/x") == 65535)
        #expect(store.lastToken(terminal: "NGP-0001") == 7)
        #expect(store.path("../etc/x") == directory + "/%2E%2E%2Fetc%2Fx")
    }
}
