import Bridge
import Foundation
import PinpadProtocol
import SerialLine
import PinpadSim
import Testing

/// The pad's firmware image (`firmware/`, built by `make firmware`) booted in QEMU's Cortex-M4
/// and driven by the bridge's host side over the emulated UART's pty: the same `PadLink` and
/// `SerialPort` that drive a USB pad. Keys are pressed through the firmware's debug channel.
/// Skipped when `qemu-system-arm` or the image is missing.
@Suite(
    .enabled(if: QEMUPad.qemu != nil, "qemu-system-arm is not installed (apt-get install qemu-system-arm)"),
    .enabled(if: QEMUPad.imageExists, "no firmware image at \(QEMUPad.image) — build it with `make firmware`"),
    .serialized, .timeLimit(.minutes(2)))
struct PinpadQEMUTests {
    @Test func linkComesUpWithTheFirmwaresDeviceInfo() async throws {
        try await QEMUPad.session { pad, session in
            let info = session.deviceInfo
            #expect(info.model == Array("NG-PAD-1".utf8))
            #expect(info.serialNumber == Array("EMU00001".utf8))
            #expect(info.firmwareVersion == Array("1.1.0".utf8))
            #expect(info.rows == 4 && info.columns == 20)
            #expect(info.prompts.map(\.id) == [.customerID, .smsCode, .confirmAmount])
            let state = try await pad.console.state()
            #expect(state.linkUp)
            #expect(state.prompt == 0)
        }
    }

    @Test func customerTypesTheirIDAtThePrompt() async throws {
        try await QEMUPad.session { pad, session in
            try await session.prompt(PromptRequest(token: 1, prompt: .customerID, amount: 4990))
            let state = try await pad.console.state()
            #expect(state.prompt == PromptID.customerID.rawValue && state.token == 1)
            let screen = try await pad.console.screen()
            #expect(screen.contains { $0.contains("4.990 kr.") })

            try await pad.console.press("0101302989O")
            let (result, keys) = try await session.entryResult(token: 1)
            #expect(result == EntryResult(token: 1, prompt: .customerID, outcome: .entered, digits: Array("0101302989".utf8)))
            // Every key was reported, by kind and length only (never the digit itself).
            #expect(keys.map(\.key) == Array(repeating: .digit, count: 10) + [.ok])
            #expect(keys.map(\.length) == Array(1...10) + [10])
            #expect(try await pad.console.state().prompt == 0)
        }
    }

    @Test func entryRulesHoldOnThePad() async throws {
        try await QEMUPad.session { pad, session in
            try await session.prompt(PromptRequest(token: 7, prompt: .customerID))
            // Too short for OK, then corrected with Clear.
            try await pad.console.press("12345O")
            #expect(try await pad.console.state().entryLength == 5)
            try await pad.console.press("C678O")
            let (result, keys) = try await session.entryResult(token: 7)
            #expect(result.outcome == .entered)
            #expect(result.digits == Array("1234678".utf8))
            #expect(keys.contains { $0.key == .refused })
        }
    }

    @Test func customerCancels() async throws {
        try await QEMUPad.session { pad, session in
            try await session.prompt(PromptRequest(token: 2, prompt: .smsCode))
            try await pad.console.press("12X")
            let (result, _) = try await session.entryResult(token: 2)
            #expect(result == EntryResult(token: 2, prompt: .smsCode, outcome: .cancelledByCustomer))
        }
    }

    @Test func hostCancels() async throws {
        try await QEMUPad.session { pad, session in
            try await session.prompt(PromptRequest(token: 3, prompt: .customerID))
            try await pad.console.press("55")
            await session.link.send(.cancelPrompt(token: 3))
            let (result, _) = try await session.entryResult(token: 3)
            #expect(result == EntryResult(token: 3, prompt: .customerID, outcome: .cancelledByHost))
            #expect(try await pad.console.state().prompt == 0)
        }
    }

    @Test func firmwareStaysWithinItsMemory() async throws {
        try await QEMUPad.session { pad, session in
            try await session.prompt(PromptRequest(token: 4, prompt: .customerID, amount: 123_456))
            try await pad.console.press("8223281O")
            _ = try await session.entryResult(token: 4)
            let memory = try await pad.console.memory()
            let heap = try #require(memory["heap"]), peak = try #require(memory["peak"])
            let stack = try #require(memory["stack"]), stackPeak = try #require(memory["stackpeak"])
            #expect(peak < heap)
            #expect(stackPeak < stack)
        }
    }
}

/// Starting, driving and stopping the emulated pad for one test.
enum QEMUPad {
    static let qemu = PinpadQEMU.locate()

    /// The image `make firmware` builds, or `NGBRIDGE_PAD_IMAGE`.
    static let image: String = ProcessInfo.processInfo.environment["NGBRIDGE_PAD_IMAGE"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("firmware/build/pinpad.elf").path

    static var imageExists: Bool { FileManager.default.fileExists(atPath: image) }

    /// Failure guard for one exchange with the pad; never reached when things work.
    static let guardTime: Duration = .seconds(15)

    /// Boots the image, brings the link up through its published symlink, runs `body`, and
    /// always stops QEMU and checks it left nothing behind.
    static func session(_ body: (PinpadQEMU, HostSession) async throws -> Void) async throws {
        let link = FileManager.default.temporaryDirectory
            .appendingPathComponent("ngbridge-pinpad-qemu-\(getpid())-\(UUID().uuidString.prefix(8))").path
        let pad = try await PinpadQEMU.start(PinpadQEMU.Configuration(image: image, linkPath: link))
        var failure: Error?
        do {
            let session = try await HostSession.open(link)
            do {
                try await body(pad, session)
            } catch {
                failure = error
            }
            await session.close()
        } catch {
            failure = error
        }
        await pad.stop()
        #expect(!pad.isRunning, "QEMU still running after stop()")
        #expect(!FileManager.default.fileExists(atPath: link), "the symlink outlived the pad")
        if let failure {
            Issue.record("QEMU output: \(pad.qemuOutput)")
            throw failure
        }
    }
}

/// Everything the host link reported, in order.
actor EventLog {
    private var events: [PadLink.Event] = []
    private(set) var finished = false

    func append(_ event: PadLink.Event) { events.append(event) }
    func finish() { finished = true }
    func events(from index: Int) -> [PadLink.Event] { index < events.count ? Array(events[index...]) : [] }
}

/// The bridge's host side on the emulated pad's line: `PadLink` over `SerialPort`.
final class HostSession: @unchecked Sendable {
    // @unchecked: `cursor` is used by one test task at a time.
    let link: PadLink
    private(set) var deviceInfo = DeviceInfo(
        version: 0, maxPayload: 0, rows: 0, columns: 0, charset: 0, keys: [], model: [], firmwareVersion: [],
        serialNumber: [], prompts: [])
    private let log = EventLog()
    private var cursor = 0
    private let runner: Task<Void, Never>
    private let forwarder: Task<Void, Never>

    private init(link: PadLink) {
        self.link = link
        runner = Task { await link.run() }
        forwarder = Task { [log] in
            for await event in link.events { await log.append(event) }
            await log.finish()
        }
    }

    /// Opens the line and waits for HELLO_REPLY. QEMU connects the pty on a 1 s timer; the link
    /// layer's HELLO every 250 ms rides that out.
    static func open(_ path: String) async throws -> HostSession {
        let port = try SerialPort.open(path)
        let session = HostSession(link: PadLink(port: port, hello: HostHello(hostName: Array("qemu-test".utf8))))
        do {
            session.deviceInfo = try await session.next("HELLO_REPLY") { event in
                if case .linkUp(let info) = event { return info }
                return nil
            }
        } catch {
            await session.close()
            throw error
        }
        return session
    }

    /// Sends a PROMPT and waits until the pad has acknowledged it (it acts on a message in the
    /// same step as it acknowledges it, so keys pressed afterwards reach the open prompt).
    func prompt(_ request: PromptRequest) async throws {
        await link.send(.prompt(request))
        _ = try await next("the PROMPT's acknowledgement") { event -> Bool? in
            if case .delivered(.prompt(request)) = event { return true }
            if case .sendFailed(.prompt(request), let failure) = event { throw TestFailure("PROMPT failed: \(failure)") }
            return nil
        }
    }

    /// Waits for the ENTRY_RESULT of `token`, collecting the KEY_EVENTs before it.
    func entryResult(token: UInt16) async throws -> (EntryResult, [KeyEvent]) {
        var keys: [KeyEvent] = []
        let result = try await next("ENTRY_RESULT \(token)") { event -> EntryResult? in
            switch event {
            case .message(.keyEvent(let key)) where key.token == token: keys.append(key)
            case .message(.entryResult(let result)) where result.token == token: return result
            case .linkDown(let reason): throw TestFailure("link went down: \(reason)")
            default: break
            }
            return nil
        }
        return (result, keys)
    }

    func close() async {
        await link.close()
        await runner.value
        await forwarder.value
    }

    /// The first event from the cursor on that `match` accepts. `QEMUPad.guardTime` only
    /// guards against a hang; no result depends on timing.
    private func next<T>(_ what: String, _ match: (PadLink.Event) throws -> T?) async throws -> T {
        let deadline = ContinuousClock.now + QEMUPad.guardTime
        while true {
            let finished = await log.finished
            for event in await log.events(from: cursor) {
                cursor += 1
                if let value = try match(event) { return value }
            }
            if finished { throw TestFailure("the line closed while waiting for \(what)") }
            if ContinuousClock.now > deadline { throw TestFailure("no \(what) within \(QEMUPad.guardTime)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
