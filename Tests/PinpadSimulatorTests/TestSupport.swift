import Bridge
import Foundation
import PinpadFirmware
import PinpadProtocol
import SerialLine
import Testing

/// A unique link path for one test's pad.
func uniqueLinkPath() -> String {
    "/tmp/ngbridge-pinpad-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

/// Collects a `PadLink`'s events so a test can wait for the one it expects.
actor EventLog {
    private(set) var events: [PadLink.Event] = []
    func append(_ e: PadLink.Event) { events.append(e) }
}

/// The host side of a test: the bridge's own `PadLink` on the simulator's link path.
final class TestHost: Sendable {
    let link: PadLink
    let log = EventLog()
    private let runner: Task<Void, Never>
    private let collector: Task<Void, Never>

    init(path: String, name: String = "test-till") throws {
        let port = try SerialPort.open(path)
        link = PadLink(port: port, hello: HostHello(hostName: Array(name.utf8)))
        let link = self.link
        let log = self.log
        runner = Task { await link.run() }
        collector = Task { for await e in link.events { await log.append(e) } }
    }

    func send(_ m: Message) async { await link.send(m) }

    func close() async {
        await link.close()
        await runner.value
        await collector.value
    }

    /// Waits (10 s at most, a guard against hangs, not a timing check) for an event.
    @discardableResult
    func waitFor(_ what: String, _ match: @Sendable (PadLink.Event) -> Bool) async -> PadLink.Event? {
        for _ in 0..<1000 {
            if let e = await log.events.first(where: match) { return e }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("the host did not see \(what)")
        return nil
    }

    func entryResults() async -> [EntryResult] {
        await log.events.compactMap { if case .message(.entryResult(let r)) = $0 { r } else { nil } }
    }

    func waitForResult(token: UInt16) async -> EntryResult? {
        let e = await waitFor("ENTRY_RESULT for token \(token)") {
            if case .message(.entryResult(let r)) = $0 { return r.token == token }
            return false
        }
        if case .message(.entryResult(let r)) = e { return r }
        return nil
    }

    func waitForLinkUp() async {
        await waitFor("link up") { if case .linkUp = $0 { true } else { false } }
    }
}
