import Common
import Foundation
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

/// A bad cable between the bridge and any PIN pad — the in-process simulator, the firmware
/// image in QEMU, a real pad on /dev/ttyACM0. It opens the pad's line, publishes a fresh pty at
/// `linkPath` for the bridge, and forwards bytes both ways, damaging them on the way with seeded,
/// independent faults per direction. It can also pull the cable: the published side closes (the
/// bridge reads a hang-up, as when a USB pad is unplugged) and a new pty appears at the same
/// path after a pause.
///
///     let proxy = try await LineFaultProxy.start(LineFaultProxyOptions(
///         devicePath: "/tmp/ngbridge-qemu-pad", linkPath: "/tmp/ngbridge-pinpad0",
///         toPad: faults, toHost: faults, seed: 7))
///     await proxy.pullCable()
///     print(await proxy.stop())
///
/// The faults are `PinpadFaults`' line faults — per byte `noiseCorruptPerByte` and
/// `noiseDropPerByte`, per frame `corrupt`, `drop` and `duplicate`, and `delayMilliseconds`
/// (see `LineFaultInjector`); the pad-only faults (silence, unplug and reboot times) are
/// ignored. Bytes are never logged: they may hold a customer's entry.
public actor LineFaultProxy {
    public nonisolated let options: LineFaultProxyOptions

    private struct HostSide {
        var id: Int
        var pty: PseudoTerminal
        var port: SerialPort
    }

    private struct Delayed: Sendable {
        var due: ContinuousClock.Instant
        var generation: Int
        var bytes: [UInt8]
    }

    private var pad: SerialPort?
    private var host: HostSide?
    private var toPad: LineFaultInjector
    private var toHost: LineFaultInjector
    private var discardedToPad = 0
    private var discardedToHost = 0
    private var cablePulls = 0
    private var padLosses = 0
    private var stopped = false
    /// Counts published lines; bumped by every unplug and pad loss, so bytes delayed before one
    /// never reach the line that replaced it.
    private var generation = 0
    private var nextHostID = 0
    private var delayQueues: [LineDirection: AsyncStream<Delayed>.Continuation] = [:]
    private var tasks: [Task<Void, Never>] = []
    private var reopening: Task<Void, Never>?

    private init(options: LineFaultProxyOptions) {
        self.options = options
        toPad = LineFaultInjector(faults: options.toPad, seed: LineFaultInjector.seed(options.seed, .toPad))
        toHost = LineFaultInjector(faults: options.toHost, seed: LineFaultInjector.seed(options.seed, .toHost))
    }

    /// Opens the pad's line (waiting up to `options.waitForDevice` for it to appear), publishes
    /// the bridge's side and starts forwarding.
    public static func start(_ options: LineFaultProxyOptions) async throws(LineFaultProxyError) -> LineFaultProxy {
        guard options.devicePath != options.linkPath else {
            throw LineFaultProxyError("the pad's line and the published line are both \(options.linkPath) — publish at another path")
        }
        let proxy = LineFaultProxy(options: options)
        try await proxy.begin()
        return proxy
    }

    private func begin() async throws(LineFaultProxyError) {
        let deadline = ContinuousClock.now + options.waitForDevice
        var waitingNoted = false
        while true {
            do {
                let port = try SerialPort.open(options.devicePath)
                attachPad(port)
                break
            } catch where error.reason == .noSuchDevice && ContinuousClock.now < deadline {
                if !waitingNoted {
                    options.notes("waiting for the pad's line \(options.devicePath) to appear")
                    waitingNoted = true
                }
                try? await Task.sleep(for: options.reopenInterval)
            } catch {
                throw LineFaultProxyError("cannot open the pad's line: \(error)")
            }
        }
        do {
            try publish()
        } catch {
            await stopEverything()
            throw error
        }
        for direction in LineDirection.allCases where faults(direction).delayMilliseconds > 0 {
            let (stream, continuation) = AsyncStream.makeStream(of: Delayed.self, bufferingPolicy: .unbounded)
            delayQueues[direction] = continuation
            // Unstructured: delays this direction's bytes for as long as the proxy runs, long
            // after start() returned; stop() cancels it.
            tasks.append(Task { [self] in
                for await item in stream {
                    try? await Task.sleep(until: item.due, clock: .continuous)
                    write(item.bytes, direction, generation: item.generation)
                }
            })
        }
        if let every = options.unplugEvery {
            // Unstructured: pulls the cable for as long as the proxy runs; stop() cancels it.
            tasks.append(Task { [self] in await pullPeriodically(every: every) })
        }
    }

    // MARK: - The cable

    /// Pulls the cable: the published link goes and the bridge's side closes (the bridge reads
    /// hang-up). Bytes from the pad are discarded until `replug()`. Does nothing if it is out.
    public func unplug() async {
        guard host != nil else { return }
        cablePulls += 1
        await unpublish()
        options.notes("cable pulled: \(options.linkPath) is gone")
    }

    /// Plugs the cable back in: a fresh pty at the same link path. Does nothing while it is in,
    /// while the pad's own line is away (it comes back by itself with the pad) or once stopped.
    public func replug() throws(LineFaultProxyError) {
        guard host == nil, pad != nil, !stopped else { return }
        try publish()
    }

    /// `unplug()`, a pause (`options.replugAfter` if not given), `replug()`. Returns when the
    /// new line is published (or could not be, which goes to the notes).
    public func pullCable(for pause: Duration? = nil) async {
        await unplug()
        try? await Task.sleep(for: pause ?? options.replugAfter)
        do {
            try replug()
        } catch {
            options.notes("\(error)")
        }
    }

    /// Whether the bridge's side is published now.
    public var isPlugged: Bool { host != nil }

    /// The published side's own path (`/dev/pts/N`), while plugged.
    public var publishedDevicePath: String? { host?.pty.devicePath }

    /// What the proxy has done so far.
    public var statistics: LineFaultStatistics {
        var s = LineFaultStatistics(toPad: toPad.counts, toHost: toHost.counts, cablePulls: cablePulls, padLosses: padLosses)
        s.toPad.discarded += discardedToPad
        s.toHost.discarded += discardedToHost
        return s
    }

    /// Stops forwarding, closes both lines and removes the link. Returns what was done.
    @discardableResult
    public func stop() async -> LineFaultStatistics {
        if !stopped { await stopEverything() }
        return statistics
    }

    private func stopEverything() async {
        stopped = true
        reopening?.cancel()
        for task in tasks { task.cancel() }
        for continuation in delayQueues.values { continuation.finish() }
        delayQueues = [:]
        await unpublish()
        if let port = pad {
            pad = nil
            await port.close()
        }
    }

    private func publish() throws(LineFaultProxyError) {
        let pty: PseudoTerminal
        let port: SerialPort
        do {
            pty = try PseudoTerminal(linkPath: options.linkPath)
        } catch {
            throw LineFaultProxyError("cannot publish the bridge's line: \(error)")
        }
        do {
            port = try SerialPort(adopting: pty.takeController(), name: "\(options.linkPath) (proxy side)")
        } catch {
            try? pty.controller.close()
            pty.close()
            throw LineFaultProxyError("cannot publish the bridge's line: \(error)")
        }
        nextHostID += 1
        let id = nextHostID
        host = HostSide(id: id, pty: pty, port: port)
        // Unstructured: reads the bridge's side until it closes (an unplug or stop()), long
        // after publish() returned.
        tasks.append(Task { [self] in
            for await event in port.events {
                if case .received(let bytes) = event { fromHost(bytes, side: id) }
            }
        })
        options.notes("published \(options.linkPath) -> \(pty.devicePath)")
    }

    /// Removes the link first (so the bridge cannot reopen a dead pty), then closes the
    /// controller side, which the bridge reads as hang-up.
    private func unpublish() async {
        guard let side = host else { return }
        host = nil
        generation += 1
        side.pty.close()
        await side.port.close()
    }

    private func pullPeriodically(every: Duration) async {
        var random = SeededRandom(seed: options.seed ^ 0x0C0F_FEE0_CAB1_E000)
        let ms = max(1, Int64(every.components.seconds) * 1000 + Int64(every.components.attoseconds / 1_000_000_000_000_000))
        while !Task.isCancelled {
            let wait = options.unplugAtRandom ? ms / 2 + Int64(random.next() % UInt64(ms)) : ms
            try? await Task.sleep(for: .milliseconds(wait))
            if Task.isCancelled || stopped { return }
            await pullCable()
        }
    }

    // MARK: - The pad's line

    private func attachPad(_ port: SerialPort) {
        pad = port
        // Unstructured: reads the pad's line until it ends, long after attachPad() returned.
        tasks.append(Task { [self] in
            for await event in port.events {
                if case .received(let bytes) = event { fromPad(bytes, port: port) }
            }
            await padEnded(port)
        })
    }

    /// The pad's own line went away (the pad was unplugged, or QEMU stopped): the bridge's
    /// side goes too, and comes back when the pad's line can be opened again.
    private func padEnded(_ port: SerialPort) async {
        guard pad === port, !stopped else { return }
        pad = nil
        padLosses += 1
        generation += 1
        options.notes("the pad's line \(options.devicePath) went away; the bridge's line is pulled until it is back")
        await unpublish()
        // Unstructured: waits for the pad's line to come back after this event is handled;
        // stop() cancels it.
        reopening = Task { [self] in await reopenPad() }
    }

    private func reopenPad() async {
        var lastError: String?
        while !Task.isCancelled, !stopped {
            do {
                let port = try SerialPort.open(options.devicePath)
                attachPad(port)
                options.notes("the pad's line \(options.devicePath) is back")
                do {
                    try publish()
                } catch {
                    options.notes("\(error)")
                }
                return
            } catch {
                let text = "\(error)"
                if error.reason != .noSuchDevice, text != lastError { options.notes("still waiting: \(text)") }
                lastError = text
            }
            try? await Task.sleep(for: options.reopenInterval)
        }
    }

    // MARK: - Forwarding

    private func fromPad(_ bytes: [UInt8], port: SerialPort) {
        guard pad === port else { return }
        guard host != nil else {
            discardedToHost += bytes.count
            return
        }
        forward(toHost.pass(bytes), .toHost)
    }

    private func fromHost(_ bytes: [UInt8], side: Int) {
        guard host?.id == side, pad != nil else {
            discardedToPad += bytes.count
            return
        }
        forward(toPad.pass(bytes), .toPad)
    }

    private func faults(_ direction: LineDirection) -> PinpadFaults {
        direction == .toPad ? options.toPad : options.toHost
    }

    private func forward(_ bytes: [UInt8], _ direction: LineDirection) {
        guard !bytes.isEmpty else { return }
        if let queue = delayQueues[direction] {
            let delay = Duration.milliseconds(Int64(clamping: faults(direction).delayMilliseconds))
            queue.yield(Delayed(due: .now + delay, generation: generation, bytes: bytes))
        } else {
            write(bytes, direction, generation: generation)
        }
    }

    private func write(_ bytes: [UInt8], _ direction: LineDirection, generation sent: Int) {
        let port = direction == .toPad ? pad : host?.port
        guard sent == generation, let port, (try? port.send(bytes)) != nil else {
            if direction == .toPad { discardedToPad += bytes.count } else { discardedToHost += bytes.count }
            return
        }
    }
}

/// What `LineFaultProxy` is to do.
public struct LineFaultProxyOptions: Sendable {
    /// The pad's line: a tty, or a pty (the simulator's or QEMU's published link).
    public var devicePath: String
    /// Where to publish the bridge's side (a symbolic link to a fresh pty).
    public var linkPath: String
    /// Faults on bytes from the bridge to the pad.
    public var toPad: PinpadFaults
    /// Faults on bytes from the pad to the bridge.
    public var toHost: PinpadFaults
    /// Seeds both directions' faults (each its own generator) and the random unplug times.
    public var seed: UInt64
    /// How long the cable stays out when pulled.
    public var replugAfter: Duration
    /// Pull the cable this long after it was last plugged in; nil: only on command.
    public var unplugEvery: Duration?
    /// Draw each of those waits at random between half and one and a half times `unplugEvery`.
    public var unplugAtRandom: Bool
    /// At start, how long to wait for the pad's line to appear.
    public var waitForDevice: Duration
    /// How often to try the pad's line again while it is away.
    public var reopenInterval: Duration
    /// Told what happens to the cable (published, pulled, pad gone); never bytes.
    public var notes: @Sendable (String) -> Void

    public init(
        devicePath: String, linkPath: String, toPad: PinpadFaults = PinpadFaults(), toHost: PinpadFaults = PinpadFaults(),
        seed: UInt64 = 1, replugAfter: Duration = .milliseconds(500), unplugEvery: Duration? = nil,
        unplugAtRandom: Bool = false, waitForDevice: Duration = .zero, reopenInterval: Duration = .milliseconds(200),
        notes: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.devicePath = devicePath
        self.linkPath = linkPath
        self.toPad = toPad
        self.toHost = toHost
        self.seed = seed
        self.replugAfter = replugAfter
        self.unplugEvery = unplugEvery
        self.unplugAtRandom = unplugAtRandom
        self.waitForDevice = waitForDevice
        self.reopenInterval = reopenInterval
        self.notes = notes
    }
}

public struct LineFaultProxyError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One way through the proxy.
public enum LineDirection: String, Sendable, CaseIterable {
    case toPad = "to pad"
    case toHost = "to host"
}

/// What the proxy did to the bytes going one way.
public struct LineFaultCounts: Sendable, Hashable {
    /// Bytes read from the sending side.
    public var bytesIn = 0
    /// Bytes passed on, after the faults (repeated frames included).
    public var bytesOut = 0
    /// Frames among the bytes read (non-empty runs ended by a `0x00` delimiter).
    public var frames = 0
    /// Single bytes damaged by line noise (`byte-corrupt`).
    public var bytesCorrupted = 0
    /// Single bytes lost to line noise (`byte-drop`).
    public var bytesDropped = 0
    /// Frames with one byte damaged (`corrupt`).
    public var framesCorrupted = 0
    /// Whole frames lost (`drop`).
    public var framesDropped = 0
    /// Frames sent twice (`duplicate`).
    public var framesDuplicated = 0
    /// Bytes lost because the cable was out (or the pad's line away) when they came or fell due.
    public var discarded = 0

    public init() {}

    /// Every fault of this direction, bytes and frames together.
    public var faults: Int { bytesCorrupted + bytesDropped + framesCorrupted + framesDropped + framesDuplicated }
}

/// What the proxy did, both ways.
public struct LineFaultStatistics: Sendable, Hashable, CustomStringConvertible {
    public var toPad: LineFaultCounts
    public var toHost: LineFaultCounts
    /// Times the cable was pulled (on command or on schedule).
    public var cablePulls: Int
    /// Times the pad's own line went away.
    public var padLosses: Int

    public init(toPad: LineFaultCounts = LineFaultCounts(), toHost: LineFaultCounts = LineFaultCounts(), cablePulls: Int = 0, padLosses: Int = 0) {
        self.toPad = toPad
        self.toHost = toHost
        self.cablePulls = cablePulls
        self.padLosses = padLosses
    }

    public var description: String {
        func line(_ name: String, _ c: LineFaultCounts) -> String {
            "\(name): \(c.bytesIn) bytes in, \(c.bytesOut) out, \(c.frames) frames; bytes damaged \(c.bytesCorrupted), "
                + "lost \(c.bytesDropped); frames damaged \(c.framesCorrupted), lost \(c.framesDropped), "
                + "repeated \(c.framesDuplicated); \(c.discarded) bytes discarded with the cable out"
        }
        return [
            line("to pad", toPad), line("to host", toHost),
            "cable pulled \(cablePulls) times; the pad's line went away \(padLosses) times",
        ].joined(separator: "\n")
    }
}

/// The faults of one direction as a pure function of the byte stream: the same bytes with the
/// same seed come out the same, however they are cut into reads.
///
/// `PinpadFaults` means here what it means for the pad simulator and the soak run, for any pad:
/// line noise hits single bytes — each is lost with probability `noiseDropPerByte`
/// (`byte-drop`), else damaged (XORed with a random non-zero value) with probability
/// `noiseCorruptPerByte` (`byte-corrupt`) — and the frame faults hit whole frames, a frame being
/// a non-empty run ended by a `0x00` delimiter (`PROTOCOL.md` §3.2): it is lost with probability
/// `drop`, else has one byte damaged with probability `corrupt`, and is sent a second time right
/// after itself with probability `duplicate` (as it went out, damage included, if its ending
/// delimiter got through). With frame faults a frame is held until its delimiter comes; a run
/// longer than any frame is noise and passes as it comes. `delayMilliseconds` is the I/O
/// shell's business.
public struct LineFaultInjector: Sendable {
    public let faults: PinpadFaults
    public private(set) var counts = LineFaultCounts()
    private var random: SeededRandom
    /// Whether any frame fault is asked for (else nothing is held back).
    private let holdsFrames: Bool
    /// Bytes read since the last delimiter.
    private var runLength = 0
    /// The frame being held (after the line noise), while `holding`.
    private var frame: [UInt8] = []
    private var holding: Bool
    /// Longer than any frame (258 encoded bytes and the delimiters): noise, not a frame.
    private static let longestFrame = 260

    public init(faults: PinpadFaults, seed: UInt64) {
        self.faults = faults
        self.random = SeededRandom(seed: seed)
        holdsFrames = faults.drop > 0 || faults.corrupt > 0 || faults.duplicate > 0
        holding = holdsFrames
    }

    /// The seed of one direction's generator, from the proxy's seed.
    public static func seed(_ seed: UInt64, _ direction: LineDirection) -> UInt64 {
        seed ^ (direction == .toPad ? 0x70_9AD0_0000_0001 : 0x4057_0000_0000_0002)
    }

    /// Passes bytes through the faults; returns what goes on the line now.
    public mutating func pass(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + (holding ? frame.count : 0))
        for byte in bytes {
            counts.bytesIn += 1
            var sent: UInt8? = byte
            if random.chance(faults.noiseDropPerByte) {
                counts.bytesDropped += 1
                sent = nil
            } else if random.chance(faults.noiseCorruptPerByte) {
                sent = byte ^ UInt8(1 + random.next() % 255)
                counts.bytesCorrupted += 1
            }
            if byte != 0 {
                runLength += 1
                guard let sent else { continue }
                if holding {
                    frame.append(sent)
                    if frame.count > Self.longestFrame {
                        out += frame
                        frame = []
                        holding = false
                    }
                } else {
                    out.append(sent)
                }
                continue
            }
            // A delimiter in the stream read: it ends the frame, if one was open.
            if runLength > 0 {
                counts.frames += 1
                if holding {
                    out += faultFrame(frame, ended: sent == 0, sentDelimiter: sent)
                } else if let sent {
                    out.append(sent)
                }
            } else if let sent {
                out.append(sent)
            }
            runLength = 0
            frame.removeAll(keepingCapacity: true)
            holding = holdsFrames
        }
        counts.bytesOut += out.count
        return out
    }

    /// A held frame with the frame faults applied, its delimiter (as the noise left it) last.
    private mutating func faultFrame(_ body: [UInt8], ended: Bool, sentDelimiter: UInt8?) -> [UInt8] {
        var bytes = body
        if let sentDelimiter { bytes.append(sentDelimiter) }
        if random.chance(faults.drop) {
            counts.framesDropped += 1
            return []
        }
        if random.chance(faults.corrupt), !body.isEmpty {
            bytes[Int(random.next() % UInt64(body.count))] ^= UInt8(1 + random.next() % 255)
            counts.framesCorrupted += 1
        }
        if random.chance(faults.duplicate), ended {
            counts.framesDuplicated += 1
            return bytes + [0] + bytes
        }
        return bytes
    }
}
