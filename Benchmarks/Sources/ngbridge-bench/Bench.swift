import Bridge
import Common
import Foundation
import Histogram
import PinpadProtocol
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

/// Latency samples in nanoseconds, summarised as median and 99th percentile.
struct Samples {
    var histogram = Histogram<UInt64>(highestTrackableValue: 10_000_000_000, numberOfSignificantValueDigits: .three)
    mutating func record(_ d: Duration) {
        histogram.record(UInt64(max(0, d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000)))
    }
    var median: Double { Double(histogram.valueAtPercentile(50)) / 1000 }
    var p99: Double { Double(histogram.valueAtPercentile(99)) / 1000 }
}

func line(_ name: String, _ s: Samples, reference: Samples? = nil) -> String {
    var out = String(format: "%-48@ median %8.1f µs   p99 %8.1f µs", name as NSString, s.median, s.p99)
    if let r = reference { out += String(format: "   ratio %.2f× (median) %.2f× (p99)", s.median / r.median, s.p99 / r.p99) }
    return out
}

// MARK: - Codec throughput

func codecBenchmarks(count: Int) {
    let screen = Message.showScreen(Screen(lines: [
        ScreenLine(text: Array("Staðfestu greiðslu".utf8), alignment: .center),
        ScreenLine(text: Array("í Netgíró appinu".utf8), alignment: .center),
        ScreenLine(text: Array("4.990 kr.".utf8), alignment: .center),
    ]))
    let frame = Frame(type: screen.type.rawValue, sequence: 7, payload: screen.encodePayload())
    let clock = ContinuousClock()
    var bytes = 0
    let encodeTime = clock.measure {
        for i in 0..<count {
            var f = frame
            f.sequence = UInt8(truncatingIfNeeded: i | 1)
            bytes &+= f.encoded().count
        }
    }
    let line1 = frame.encoded()
    var stream: [UInt8] = []
    for _ in 0..<count { stream += line1 }
    var decoded = 0
    let decodeTime = clock.measure {
        var decoder = FrameDecoder()
        var i = 0
        while i < stream.count {  // 4 KiB reads, as from a tty
            let end = min(stream.count, i + 4096)
            for case .frame in decoder.feed(stream[i..<end]) { decoded += 1 }
            i = end
        }
    }
    precondition(decoded == count)
    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
    let e = seconds(encodeTime), d = seconds(decodeTime)
    print(String(format: "codec encode (SHOW_SCREEN, %d B on the line)     %10.0f frames/s  %6.1f MB/s", line1.count, Double(count) / e, Double(bytes) / e / 1e6))
    print(String(format: "codec decode (streaming, 4 KiB reads)           %10.0f frames/s  %6.1f MB/s", Double(count) / d, Double(stream.count) / d / 1e6))
}

// MARK: - Round trips over a pty

/// The floor: 16 bytes written, echoed by a thread on the other side with plain read/write, read back.
func rawRoundTrips(count: Int) throws -> Samples {
    var controller: CInt = -1, device: CInt = -1
    guard openpty(&controller, &device, nil, nil, nil) == 0 else { throw POSIXError(.EIO) }
    for fd in [controller, device] {
        var t = termios()
        tcgetattr(fd, &t)
        cfmakeraw(&t)
        tcsetattr(fd, TCSANOW, &t)
    }
    let peer = controller
    let echo = Thread {
        var buf = [UInt8](repeating: 0, count: 64)
        while true {
            let n = read(peer, &buf, 64)
            if n <= 0 { return }
            _ = write(peer, buf, n)
        }
    }
    echo.start()
    var samples = Samples()
    var buf = [UInt8](repeating: 0, count: 64)
    let payload = [UInt8](repeating: 0x55, count: 16)
    let clock = ContinuousClock()
    for i in 0..<(count + 200) {
        let start = clock.now
        _ = write(device, payload, 16)
        var got = 0
        while got < 16 { got += max(0, read(device, &buf, 64)) }
        if i >= 200 { samples.record(clock.now - start) }  // first 200: warm-up
    }
    close(device)
    close(controller)
    return samples
}

/// The pad end for the link benchmark: a device-role LinkLayer on the pty's controller side,
/// driven by a thread with blocking reads (as a pad's firmware loop would be).
func startPadPeer(controller: CInt) {
    let info = DeviceInfo(
        version: 1, maxPayload: 246, rows: 4, columns: 20, model: Array("BENCH".utf8),
        firmwareVersion: Array("1".utf8), serialNumber: Array("BENCH-1".utf8), prompts: [])
    let peer = Thread {
        var link = LinkLayer(role: .device(info))
        let clock = ContinuousClock()
        let origin = clock.now
        func now() -> UInt64 { UInt64((clock.now - origin) / .milliseconds(1)) }
        func run(_ actions: [LinkAction]) {
            for case .write(let bytes) in actions { _ = write(controller, bytes, bytes.count) }
        }
        run(link.handle(.start, now: now()))
        var buf = [UInt8](repeating: 0, count: 4096)
        var pfd = pollfd(fd: controller, events: Int16(POLLIN), revents: 0)
        while true {
            let wait = link.nextDeadline.map { Int32(clamping: Int64($0) - Int64(now())) } ?? -1
            if poll(&pfd, 1, max(wait, 0)) > 0 {
                let n = read(controller, &buf, buf.count)
                if n <= 0 { return }
                run(link.handle(.received(Array(buf[0..<n])), now: now()))
            }
            run(link.handle(.tick, now: now()))
        }
    }
    peer.start()
}

/// The bridge's serial stack: PadLink (LinkLayer host end + SerialPort's poll thread) sends PING
/// with 16 bytes, timed two ways in the same round trips:
/// - `reported`: until a task awaiting the ACK's delivery report has it (a third thread wake-up);
/// - `handled`: until the link layer has handled the ACK on the line's thread and reported it to
///   the sink a terminal installs (`PadLink.deliver(to:)`) — all the bridge does with an ACK: a
///   terminal's loop is not woken for one (`PadTerminal.concernsTheLoop`).
func linkRoundTripsBothWays(count: Int) async throws -> (reported: Samples, handled: Samples) {
    let pty = try PseudoTerminal(linkPath: nil)
    startPadPeer(controller: pty.takeController().rawValue)
    let port = try SerialPort.open(pty.devicePath, configuration: SerialConfiguration(exclusive: false, raiseModemLines: false))
    let link = PadLink(port: port, hello: HostHello(hostName: Array("bench".utf8)))
    let handledAt = Locked<ContinuousClock.Instant?>(nil)
    let (events, sink) = AsyncStream.makeStream(of: PadLink.Event.self, bufferingPolicy: .unbounded)
    link.deliver { event in
        if case .delivered = event { handledAt.withLock { $0 = .now } }
        sink.yield(event)
    }
    let runner = Task {
        await link.run()
        sink.finish()
    }
    var iterator = events.makeAsyncIterator()
    while let e = await iterator.next() { if case .linkUp = e { break } }
    var reported = Samples(), handled = Samples()
    let clock = ContinuousClock()
    let payload = [UInt8](repeating: 0x55, count: 16)
    for i in 0..<(count + 200) {
        let start = clock.now
        link.enqueue(.ping(payload))
        while let e = await iterator.next() { if case .delivered = e { break } }
        let end = clock.now
        if i >= 200, let handledEnd = handledAt.withLock({ $0 }) {  // first 200: warm-up
            reported.record(end - start)
            handled.record(handledEnd - start)
        }
    }
    await link.close()
    await runner.value
    pty.close()
    return (reported, handled)
}

/// PING → ACK as a task awaiting the delivery report sees it (`linkRoundTripsBothWays`).
func linkRoundTrips(count: Int) async throws -> Samples {
    try await linkRoundTripsBothWays(count: count).reported
}

@main
struct Bench {
    static func main() async throws {
        if try await externalPadMode(CommandLine.arguments) { return }  // --pad PATH: ExternalPad.swift
        if try await selectedBenchmarks(CommandLine.arguments) { return }  // --only …: Sections.swift
        let quick = CommandLine.arguments.contains("--quick")
        let n = quick ? 2_000 : 20_000
        print("netgiro-pos-bridge benchmarks (\(quick ? "quick" : "full") run, \(n) round trips each)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.operatingSystemVersionString)")
        print()
        codecBenchmarks(count: quick ? 50_000 : 500_000)
        print()
        let raw = try rawRoundTrips(count: n)
        let (link, handled) = try await linkRoundTripsBothWays(count: n)
        print(line("pty round trip, raw read/write (the floor)", raw))
        print(line("link round trip, PING 16 B → ACK via PadLink", link, reference: raw))
        print(line("  the same, ACK handled on the line's thread", handled, reference: raw))
        print()
        try await addedBenchmarks(AddedOptions(CommandLine.arguments))
    }
}
