import Common
import Bridge
import Foundation
import PinpadProtocol
import SerialLine
import PinpadSim

// Replug → link up: the simulated pad's cable is pulled (`PinpadSimulator.unplug()`: its pty
// closes and the published link disappears), and after a while plugged in again (`replug()`:
// a new pty published at the same path, a freshly booted firmware). The clock starts when the
// simulator's thread has published the new node (its transcript says "plugged in again") and
// stops when the bridge's PadTerminal reports `.linkUp` to a status listener.
//
// How the daemon learns that the node is back:
// - `device.path` (fixed path, what `ngbridge run --set device.path=…` and the simulators use):
//   DaemonTerminals.keep(path:) → PadLine.keepOpen, which tries to open the path again every
//   `retryInterval` (1 s in the daemon; not configurable) — measured as it is, and with 100 ms.
// - `device.match` (USB pads, the deployment's default): udev's add event reaches DeviceWatcher,
//   and DaemonTerminals.attach opens the node at once. Without udev here, the simulator's own
//   "plugged in" moment stands in for the event: the line is opened from that callback the way
//   `attach` opens it (PadLine.serve(SerialPort.open(path))). That measures the bridge's part
//   after udev has spoken; udev's own latency (kernel uevent → rules → libudev monitor) is not in it.

struct ReplugResult {
    var fixedPathDaemon = Samples()
    var fixedPathFast = Samples()
    var onEvent = Samples()
    var missed = 0
}

/// Status reports of one terminal with the time each arrived.
final class StatusLog: Sendable {
    let entries = Locked<[(at: UInt64, up: Bool)]>([])
    func add(_ status: PadTerminal.TerminalStatus) {
        let t = monotonicNanos()
        let up: Bool
        if case .linkUp = status { up = true } else { up = false }
        entries.withLock { $0.append((t, up)) }
    }
    func first(up: Bool, after t: UInt64, timeout: Duration) async -> UInt64? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let hit = entries.withLock({ $0.first { $0.up == up && $0.at >= t }?.at }) { return hit }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return nil
    }
}

/// Moments the simulated pad's node was published again.
final class PlugLog: Sendable {
    let plugged = Locked<[UInt64]>([])
    let onPlug = Locked<(@Sendable () -> Void)?>(nil)
    init(_ pad: PinpadSimulator) {
        pad.onTranscript { [self] entry in
            guard entry.kind == .link, entry.text.hasPrefix("plugged in again") else { return }
            let t = monotonicNanos()
            plugged.withLock { $0.append(t) }
            onPlug.withLock { $0 }?()
        }
    }
}

/// A fixed sequence of "away" times, so each variant sees the same ones.
struct AwayTimes {
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    mutating func next(_ range: ClosedRange<Int>) -> Int {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return range.lowerBound + Int(state % UInt64(range.count))
    }
}

private func cycle(
    pad: PinpadSimulator, plugs: PlugLog, statuses: StatusLog, count: Int, into samples: inout Samples, missed: inout Int
) async {
    var away = AwayTimes()
    for _ in 0..<count {
        let unpluggedAt = monotonicNanos()
        pad.unplug()
        _ = await statuses.first(up: false, after: unpluggedAt, timeout: .seconds(5))
        // Away for a while, so the replug falls anywhere in the reopen loop's period.
        try? await Task.sleep(for: .milliseconds(away.next(150...1_150)))
        let before = plugs.plugged.withLock { $0.count }
        pad.replug()
        var plugged: UInt64?
        for _ in 0..<2_000 where plugged == nil {
            plugged = plugs.plugged.withLock { $0.count > before ? $0[before] : nil }
            if plugged == nil { try? await Task.sleep(for: .milliseconds(1)) }
        }
        guard let plugged, let up = await statuses.first(up: true, after: plugged, timeout: .seconds(5)) else {
            missed += 1
            continue
        }
        samples.record(nanos: up - plugged)
    }
}

func replugBenchmarks(count: Int) async throws -> ReplugResult {
    let dir = try benchDirectory("replug")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let logger = benchLogger("bench")
    let hello = HostHello(hostName: Array("bench".utf8))
    var result = ReplugResult()

    // 1 and 2: fixed path, through DaemonTerminals.keep(path:) as the daemon runs it.
    for (retry, fast) in [(Duration.seconds(1), false), (Duration.milliseconds(100), true)] {
        let path = dir + (fast ? "/pad-fast" : "/pad-daemon")
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        let plugs = PlugLog(pad)
        pad.start()
        let terminals = DaemonTerminals(hello: hello, reconnectGrace: .seconds(30), logger: logger)
        let keeper = Task { await terminals.keep(path: path, retryInterval: retry) }
        var terminal: PadTerminal?
        for _ in 0..<1_000 where terminal == nil {
            terminal = await terminals.pad("SIM00001")
            if terminal == nil { try await Task.sleep(for: .milliseconds(5)) }
        }
        guard let terminal else { throw POSIXError(.ETIMEDOUT) }
        let statuses = StatusLog()
        let stream = await terminal.statusUpdates()
        let listener = Task { for await s in stream { statuses.add(s) } }
        _ = await pad.waitForLink(up: true, timeout: .seconds(10))
        try await Task.sleep(for: .milliseconds(100))
        if fast {
            await cycle(pad: pad, plugs: plugs, statuses: statuses, count: count, into: &result.fixedPathFast, missed: &result.missed)
        } else {
            await cycle(pad: pad, plugs: plugs, statuses: statuses, count: count, into: &result.fixedPathDaemon, missed: &result.missed)
        }
        keeper.cancel()
        await terminals.closeAll()
        listener.cancel()
        pad.stop()
        await pad.waitUntilStopped()
    }

    // 3: opened on the (stand-in) hotplug event, as DaemonTerminals.attach does.
    let path = dir + "/pad-event"
    let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
    let plugs = PlugLog(pad)
    let terminal = PadTerminal(terminalID: "SIM00001")
    let statuses = StatusLog()
    let stream = await terminal.statusUpdates()
    let listener = Task { for await s in stream { statuses.add(s) } }
    let lines = Locked<[Task<Void, Never>]>([])
    @Sendable func attach() {
        let task = Task {
            guard let port = try? SerialPort.open(path) else { return }
            await PadLine.serve(port, terminal: terminal, hello: hello)
        }
        lines.withLock { $0.append(task) }
    }
    plugs.onPlug.withLock { $0 = attach }
    pad.start()
    attach()
    _ = await pad.waitForLink(up: true, timeout: .seconds(10))
    try await Task.sleep(for: .milliseconds(100))
    await cycle(pad: pad, plugs: plugs, statuses: statuses, count: count, into: &result.onEvent, missed: &result.missed)
    for task in lines.withLock({ $0 }) { task.cancel() }
    listener.cancel()
    pad.stop()
    await pad.waitUntilStopped()
    return result
}
