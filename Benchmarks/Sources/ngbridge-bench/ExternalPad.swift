import Bridge
import Foundation
import PinpadProtocol
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

// `ngbridge-bench --pad PATH [--count N] [--peer-pid PID] [--floor]`: the link round trip
// (PING 16 B → ACK via PadLink) against a pad in another process, e.g.
// `ngbridge sim pinpad --no-interactive --link PATH`, so the bridge and another host
// (Benchmarks/python/ngpp_host.py) can be measured against the same pad. Same event and warm-up
// as linkRoundTrips(count:); the line is opened as the daemon opens it (default
// SerialConfiguration). --floor adds this file's neighbours' raw pty floor and in-process link
// round trip with the same count, so one run gives all three.

/// CPU seconds (user + system) used so far by process `pid` (from /proc), or nil.
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3, utime 14, stime 15 (1-based), i.e. 11 and 12 here.
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds (user + system, all threads) used so far by this process.
func selfCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// Handles `--pad PATH`; returns false (doing nothing) when the argument is absent.
func externalPadMode(_ arguments: [String]) async throws -> Bool {
    func value(_ name: String) -> String? {
        guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
        return arguments[i + 1]
    }
    guard let path = value("--pad") else { return false }
    let count = value("--count").flatMap(Int.init) ?? 2_000
    let peer = value("--peer-pid").flatMap(Int32.init)

    let port = try SerialPort.open(path, configuration: SerialConfiguration())
    let link = PadLink(port: port, hello: HostHello(hostName: Array("bench".utf8)))
    let runner = Task { await link.run() }
    var events = link.events.makeAsyncIterator()
    linking: while let e = await events.next() {
        switch e {
        case .linkUp: break linking
        case .lineClosed(let reason): throw PadModeError("line closed before the link came up: \(reason)")
        default: continue
        }
    }
    var samples = Samples()
    let clock = ContinuousClock()
    let payload = [UInt8](repeating: 0x55, count: 16)
    var cpu0 = 0.0, peer0: Double?
    var measuredStart = clock.now
    for i in 0..<(count + 200) {
        if i == 200 {  // first 200: warm-up
            cpu0 = selfCPUSeconds()
            peer0 = peer.flatMap(processCPUSeconds)
            measuredStart = clock.now
        }
        let start = clock.now
        await link.send(.ping(payload))
        waiting: while let e = await events.next() {
            switch e {
            case .delivered: break waiting
            case .linkDown(let reason): throw PadModeError("link down during the run: \(reason)")
            case .sendFailed(_, let failure): throw PadModeError("PING not delivered: \(failure)")
            case .lineClosed(let reason): throw PadModeError("line closed during the run: \(reason)")
            default: continue
            }
        }
        if i >= 200 { samples.record(clock.now - start) }
    }
    let wall = clock.now - measuredStart
    let cpu = selfCPUSeconds() - cpu0
    let peerCPU = peer0.flatMap { p0 in peer.flatMap(processCPUSeconds).map { $0 - p0 } }
    await link.close()
    await runner.value

    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    var floor: Samples?
    if arguments.contains("--floor") {
        let raw = try rawRoundTrips(count: count)
        print(line("pty round trip, raw read/write (the floor)", raw))
        print(line("link round trip, PING 16 B → ACK, pad in-process", try await linkRoundTrips(count: count), reference: raw))
        floor = raw
    }
    print(line("link round trip, PING 16 B → ACK via PadLink", samples, reference: floor))
    var extra = String(format: "  %d round trips in %.2f s; host CPU %.1f µs/round trip", count, seconds, cpu / Double(count) * 1e6)
    if let p = peerCPU { extra += String(format: "; pad process CPU %.1f µs/round trip", p / Double(count) * 1e6) }
    print(extra)
    return true
}

struct PadModeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
