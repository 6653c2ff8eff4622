import Common
import Foundation
import LineFaults
import PinpadFirmware
import PinpadProtocol
import SerialLine

#if canImport(Glibc)
import Glibc
#endif

public struct PinpadSimulatorOptions: Sendable {
    /// Where the device side of the pty is published (a symbolic link); nil: not published.
    public var linkPath: String?
    public var profile: DeviceProfile
    public var faults: PinpadFaults
    public var seed: UInt64
    /// Show customer entries in clear in the transcript (for debugging with test data only).
    public var revealDigits: Bool
    /// Also record ACK, NAK and HEARTBEAT frames.
    public var transcriptLinkControl: Bool

    public static let defaultLinkPath = "/tmp/ngbridge-pinpad0"

    /// A device profile from command-line words.
    public static func deviceProfile(model: String, serial: String, rows: UInt8, columns: UInt8) -> DeviceProfile {
        DeviceProfile(model: Array(model.utf8), serialNumber: Array(serial.utf8), rows: rows, columns: columns)
    }

    public init(
        linkPath: String? = PinpadSimulatorOptions.defaultLinkPath, profile: DeviceProfile = DeviceProfile(),
        faults: PinpadFaults = PinpadFaults(), seed: UInt64 = 1, revealDigits: Bool = false,
        transcriptLinkControl: Bool = false
    ) {
        self.linkPath = linkPath
        self.profile = profile
        self.faults = faults
        self.seed = seed
        self.revealDigits = revealDigits
        self.transcriptLinkControl = transcriptLinkControl
    }
}

/// What the pad looks like right now.
public struct PinpadSnapshot: Sendable, Hashable {
    public struct OpenPrompt: Sendable, Hashable {
        public var token: UInt16
        public var id: PromptID
        /// Counts prompts opened since the simulator started (1, 2, …), so a waiter can tell a
        /// new prompt from one it has already answered.
        public var serial: Int
        /// Digits entered so far.
        public var length: Int
    }
    public var display: DisplayBuffer
    public var prompt: OpenPrompt?
    public var linkUp: Bool
    /// The linked host's name, empty while not linked.
    public var hostName: String
    /// False once the pad is unplugged or stopped.
    public var plugged: Bool
    public var promptsOpened: Int
    public var light: IndicatorLight
    public var profile: DeviceProfile

    /// The display's rows, trailing spaces removed.
    public var lines: [String] {
        (0..<display.rows).map { r in
            var s = String(decoding: display.rowUTF8(r), as: UTF8.self)
            while s.hasSuffix(" ") { s.removeLast() }
            return s
        }
    }

    /// True when `text` appears on the display (within a row).
    public func shows(_ text: String) -> Bool { lines.contains { $0.contains(text) } }
}

public struct PinpadSimulatorError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A simulated PIN pad: `PadFirmware` behind a pseudo-terminal whose device side the bridge
/// opens like a real `/dev/ttyACM0`. One thread waits in `poll(2)` for bytes from the host,
/// keys and timers and runs the firmware; everything else talks to it through this object.
///
///     let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: "/tmp/pad0"))
///     pad.start()
///     let opened = await pad.waitForPrompt(.customerID, timeout: .seconds(10))
///     pad.type("8223281"); pad.press(.ok)
///     print(pad.snapshot.lines)
public final class PinpadSimulator: Sendable {
    public let options: PinpadSimulatorOptions
    /// Lock (as the three below): shared by the pad's thread and its callers on any task.
    private let state: Locked<Engine>
    private let wakeReader: FileDescriptor
    private let wakeWriter: FileDescriptor
    private let observers: Locked<[@Sendable (PinpadSnapshot) -> Void]>
    private let transcriptObservers: Locked<[@Sendable (PinpadTranscriptEntry) -> Void]>
    private let finished: Locked<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>

    /// Creates the pty (publishing it at `options.linkPath`) and the firmware; call `start()`.
    public init(options: PinpadSimulatorOptions = PinpadSimulatorOptions()) throws(PinpadSimulatorError) {
        self.options = options
        let pty: PseudoTerminal
        do {
            pty = try PseudoTerminal(linkPath: options.linkPath)
            try pty.controller.setNonBlocking(true)
        } catch let error as SerialLineError {
            throw PinpadSimulatorError("cannot create the simulated pad's line: \(error)")
        } catch {
            throw PinpadSimulatorError("cannot create the simulated pad's line: \(error)")
        }
        do {
            (wakeReader, wakeWriter) = try FileDescriptor.pipe()
        } catch {
            throw PinpadSimulatorError("cannot create a wake-up pipe: \(error)")
        }
        state = Locked(Engine(options: options, pty: pty))
        observers = Locked([])
        transcriptObservers = Locked([])
        finished = Locked((false, []))
    }

    deinit {
        try? wakeReader.close()
        try? wakeWriter.close()
    }

    /// The path the bridge opens: the published link, or the pty's own path.
    public var path: String { options.linkPath ?? state.withLock { $0.pty?.devicePath ?? "" } }

    /// Starts the pad: the line opens and the firmware announces itself.
    public func start() {
        // A thread, not a task: it blocks in poll(2) on the pty and the wake-up pipe.
        let thread = Thread { [self] in run() }
        thread.name = "pinpad simulator"
        thread.start()
    }

    // MARK: - Driving the pad

    public func press(_ key: PadKey) { command(.key(key)) }

    /// Presses the digit keys of `digits` (other characters are ignored), without pause.
    public func type(_ digits: String) {
        for c in digits.unicodeScalars where ("0"..."9").contains(c) {
            command(.key(.digit(UInt8(c.value - 48))))
        }
    }

    /// Closes the pty, as when the USB cable is pulled: the host reads EIO/hang-up and the
    /// link path disappears.
    public func unplug() { command(.unplug) }

    /// Plugs the pad in again: a new pty at the same link path, a freshly booted firmware.
    public func replug() { command(.replug) }

    /// Power-cycles the firmware: every state is lost and the pad announces itself (power on).
    public func reboot() { command(.reboot) }

    /// Stops the simulator for good (unplugging it). `run()`'s thread ends.
    public func stop() { command(.stop) }

    /// Waits until the simulator has stopped.
    public func waitUntilStopped() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { f in
                if !f.done { f.waiters.append(c) }
                return f.done
            }
            if done { c.resume() }
        }
    }

    /// Writes a note into the transcript (scenario steps, test markers).
    public func note(_ text: String, kind: PinpadTranscriptEntry.Kind = .script) {
        command(.note(kind, text))
    }

    // MARK: - Watching the pad

    public var snapshot: PinpadSnapshot { state.withLock { $0.snapshot() } }

    /// Everything recorded so far.
    public var transcript: [PinpadTranscriptEntry] { state.withLock { $0.transcript } }

    /// Called on the simulator's thread after every change of the snapshot (display, prompt,
    /// link). Keep it short.
    public func onChange(_ observer: @escaping @Sendable (PinpadSnapshot) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Called on the simulator's thread for every new transcript entry.
    public func onTranscript(_ observer: @escaping @Sendable (PinpadTranscriptEntry) -> Void) {
        transcriptObservers.withLock { $0.append(observer) }
    }

    /// Waits until `condition` holds for the pad's snapshot, or `timeout` passes. Returns the
    /// snapshot that satisfied it, or nil on timeout (or when the simulator stops).
    public func wait(
        timeout: Duration, until condition: @escaping @Sendable (PinpadSnapshot) -> Bool
    ) async -> PinpadSnapshot? {
        let ms = UInt64(timeout.components.seconds) * 1000 + UInt64(timeout.components.attoseconds / 1_000_000_000_000_000)
        let result: PinpadSnapshot? = await withCheckedContinuation { continuation in
            let immediate: PinpadSnapshot?? = state.withLock { engine in
                let snap = engine.snapshot()
                if condition(snap) { return .some(snap) }
                if engine.stopped { return .some(nil) }
                engine.waiters.append(Waiter(condition: condition, deadline: engine.now() + ms, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) } else { wake() }
        }
        return result
    }

    /// Waits for a prompt with this id that opened after prompt number `after` (see
    /// `PinpadSnapshot.OpenPrompt.serial`) and is open now.
    public func waitForPrompt(_ id: PromptID, after serial: Int = 0, timeout: Duration) async -> PinpadSnapshot.OpenPrompt? {
        await wait(timeout: timeout) { s in
            guard let p = s.prompt else { return false }
            return p.id == id && p.serial > serial
        }?.prompt
    }

    /// Waits until a row of the display contains `text`.
    public func waitForScreen(containing text: String, timeout: Duration) async -> Bool {
        await wait(timeout: timeout) { $0.shows(text) } != nil
    }

    public func waitForLink(up: Bool, timeout: Duration) async -> Bool {
        await wait(timeout: timeout) { $0.linkUp == up } != nil
    }

    // MARK: - The thread

    private func command(_ c: Command) {
        state.withLock { $0.commands.append(c) }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWriter.rawValue, &byte, 1)
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
        defer { buffer.deallocate() }
        var outcome = state.withLock { $0.begin() }
        deliver(outcome)
        while true {
            let plan = state.withLock { $0.pollPlan() }
            if plan.stop { break }
            var requests = [PollRequest(wakeReader, events: .readable)]
            if let fd = plan.line { requests.append(PollRequest(fd, events: plan.wantsWrite ? [.readable, .writable] : .readable)) }
            let ready = (try? FileDescriptor.poll(requests, timeoutMilliseconds: plan.timeout)) ?? []
            if ready.first?.contains(.readable) == true {
                var scratch = [UInt8](repeating: 0, count: 64)
                while Glibc.read(wakeReader.rawValue, &scratch, scratch.count) > 0 {}
            }
            let lineReady = ready.count > 1 ? ready[1] : []
            outcome = state.withLock { $0.step(lineReady: lineReady, buffer: buffer) }
            deliver(outcome)
        }
        let last = state.withLock { $0.shutDown() }
        deliver(last)
        let waiters = finished.withLock { f in
            f.done = true
            defer { f.waiters = [] }
            return f.waiters
        }
        for w in waiters { w.resume() }
    }

    private func deliver(_ outcome: StepOutcome) {
        if !outcome.entries.isEmpty {
            let list = transcriptObservers.withLock { $0 }
            for e in outcome.entries { for o in list { o(e) } }
        }
        if let snap = outcome.changed {
            let list = observers.withLock { $0 }
            for o in list { o(snap) }
        }
        for (c, s) in outcome.resumed { c.resume(returning: s) }
    }
}

// MARK: - Engine (all state, guarded by the simulator's mutex)

private enum Command: Sendable {
    case key(PadKey)
    case unplug
    case replug
    case reboot
    case stop
    case note(PinpadTranscriptEntry.Kind, String)
}

private struct Waiter: Sendable {
    var condition: @Sendable (PinpadSnapshot) -> Bool
    var deadline: UInt64
    var continuation: CheckedContinuation<PinpadSnapshot?, Never>
}

private struct StepOutcome: Sendable {
    var entries: [PinpadTranscriptEntry] = []
    var changed: PinpadSnapshot?
    var resumed: [(CheckedContinuation<PinpadSnapshot?, Never>, PinpadSnapshot?)] = []
}


private struct Engine: Sendable {
    let options: PinpadSimulatorOptions
    var pty: PseudoTerminal?
    var firmware: PadFirmware
    let origin = ContinuousClock.now
    var commands: [Command] = []
    var waiters: [Waiter] = []
    var transcript: [PinpadTranscriptEntry] = []
    var pendingEntries: [PinpadTranscriptEntry] = []
    var outgoing: [UInt8] = []
    var delayed: [(at: UInt64, bytes: [UInt8])] = []
    var rng: SeededRandom
    var stopped = false
    var stopRequested = false
    var promptsOpened = 0
    var promptSerial = 0
    var promptOpenedAt: UInt64?
    var rebootedMidPrompt = false
    var unplugDone = false
    var lastSnapshot: PinpadSnapshot?
    var inDecoder = FrameDecoder()
    var outDecoder = FrameDecoder()

    init(options: PinpadSimulatorOptions, pty: PseudoTerminal) {
        self.options = options
        self.pty = pty
        self.firmware = PadFirmware(profile: options.profile)
        self.rng = SeededRandom(seed: options.seed)
    }

    func now() -> UInt64 {
        let e = ContinuousClock.now - origin
        return UInt64(e.components.seconds) * 1000 + UInt64(e.components.attoseconds / 1_000_000_000_000_000)
    }

    func snapshot() -> PinpadSnapshot {
        PinpadSnapshot(
            display: firmware.display,
            prompt: firmware.prompt.map {
                .init(token: $0.request.token, id: $0.request.prompt, serial: promptSerial, length: $0.entry.count)
            },
            linkUp: firmware.isLinkUp, hostName: String(decoding: firmware.hostName, as: UTF8.self),
            plugged: pty != nil && !stopped, promptsOpened: promptsOpened, light: firmware.light,
            profile: options.profile)
    }

    mutating func record(_ kind: PinpadTranscriptEntry.Kind, _ text: String) {
        let e = PinpadTranscriptEntry(at: now(), kind: kind, text: text)
        transcript.append(e)
        pendingEntries.append(e)
    }

    mutating func begin() -> StepOutcome {
        record(.link, "line opened at \(pty?.linkPath ?? pty?.devicePath ?? "?") (\(pty?.devicePath ?? "?"))")
        run(.lineOpened)
        return finishStep()
    }

    struct PollPlan {
        var line: FileDescriptor?
        var wantsWrite: Bool
        var timeout: CInt
        var stop: Bool
    }

    func pollPlan() -> PollPlan {
        let t = now()
        var deadline: UInt64? = firmware.nextDeadline
        func consider(_ d: UInt64?) {
            guard let d else { return }
            deadline = deadline.map { min($0, d) } ?? d
        }
        consider(delayed.first?.at)
        for w in waiters { consider(w.deadline) }
        if let u = options.faults.unplugAfterMilliseconds, !unplugDone { consider(u) }
        if let r = options.faults.rebootMidPromptAfterMilliseconds, !rebootedMidPrompt, let opened = promptOpenedAt {
            consider(opened + r)
        }
        let timeout: CInt
        if !commands.isEmpty || stopRequested {
            timeout = 0
        } else if let deadline {
            timeout = CInt(clamping: deadline > t ? deadline - t : 0)
        } else {
            timeout = -1
        }
        return PollPlan(line: pty?.controller, wantsWrite: !outgoing.isEmpty, timeout: timeout, stop: stopRequested && commands.isEmpty)
    }

    mutating func step(lineReady: PollEvents, buffer: UnsafeMutableRawBufferPointer) -> StepOutcome {
        // Bytes from the host.
        if let fd = pty?.controller, !lineReady.isDisjoint(with: [.readable, .hangUp, .error]) {
            while true {
                guard let count = try? fd.read(into: buffer), count > 0 else { break }
                let bytes = noise(Array(buffer[0..<count]), direction: "from the host")
                if bytes.isEmpty { continue }
                describeIncoming(bytes)
                run(.received(bytes))
            }
        }
        // Keys and other commands.
        let pending = commands
        commands = []
        for c in pending { execute(c) }
        // Timers.
        let t = now()
        if let u = options.faults.unplugAfterMilliseconds, !unplugDone, t >= u {
            unplugDone = true
            record(.fault, "unplugged after \(u) ms")
            unplugLine()
        }
        if let r = options.faults.rebootMidPromptAfterMilliseconds, !rebootedMidPrompt, let opened = promptOpenedAt, t >= opened + r {
            rebootedMidPrompt = true
            record(.fault, "reboot mid-prompt")
            rebootFirmware()
        }
        if let d = firmware.nextDeadline, t >= d { run(.tick) }
        // Output, delayed output first.
        while let first = delayed.first, first.at <= t {
            outgoing += first.bytes
            delayed.removeFirst()
        }
        flush()
        return finishStep()
    }

    mutating func shutDown() -> StepOutcome {
        unplugLine()
        stopped = true
        return finishStep()
    }

    private mutating func execute(_ c: Command) {
        switch c {
        case .key(let k):
            record(.key, PinpadNames.key(k, reveal: options.revealDigits))
            run(.key(k))
        case .unplug:
            record(.link, "unplugged")
            unplugLine()
        case .replug:
            guard pty == nil, !stopRequested else { return }
            do {
                let p = try PseudoTerminal(linkPath: options.linkPath)
                try p.controller.setNonBlocking(true)
                pty = p
                firmware = PadFirmware(profile: options.profile)
                inDecoder = FrameDecoder()
                outDecoder = FrameDecoder()
                record(.link, "plugged in again at \(p.linkPath ?? p.devicePath)")
                run(.lineOpened)
            } catch {
                record(.link, "cannot plug in again: \(error)")
            }
        case .reboot:
            record(.link, "reboot")
            rebootFirmware()
        case .stop:
            stopRequested = true
        case .note(let kind, let text):
            record(kind, text)
        }
    }

    private mutating func rebootFirmware() {
        firmware = PadFirmware(profile: options.profile)
        outgoing = []
        delayed = []
        promptOpenedAt = nil
        if pty != nil { run(.lineOpened) }
    }

    private mutating func unplugLine() {
        guard let p = pty else { return }
        _ = firmware.handle(.lineClosed, now: now())
        pty = nil
        outgoing = []
        delayed = []
        p.close()
        promptOpenedAt = nil
    }

    /// Runs one firmware event and carries out its actions.
    private mutating func run(_ event: FirmwareEvent) {
        let t = now()
        for action in firmware.handle(event, now: t) {
            switch action {
            case .write(let bytes):
                describeOutgoing(bytes)
                send(bytes, now: t)
            case .display(let d):
                record(.screen, PinpadNames.screen(d, reveal: options.revealDigits))
            case .indicate(let i):
                if i.beep != .none || i.light != .unchanged {
                    record(.link, "indicate beep=\(i.beep.rawValue) light=\(i.light.rawValue)")
                }
            case .linkUp(let host):
                record(.link, "link up with \"\(String(decoding: host, as: UTF8.self))\"")
            case .linkDown(let reason):
                record(.link, "link down (\(reason))")
            case .promptOpened(let token, let id):
                promptsOpened += 1
                promptSerial = promptsOpened
                promptOpenedAt = t
                record(.prompt, "\(PinpadNames.prompt(id)) opened (token \(token))")
            case .promptEnded(let token, let id, let outcome):
                if firmware.prompt == nil { promptOpenedAt = nil }
                record(.prompt, "\(PinpadNames.prompt(id)) \(PinpadNames.outcome(outcome)) (token \(token))")
            }
        }
    }

    /// Applies the output faults and queues bytes for the line.
    private mutating func send(_ bytes: [UInt8], now t: UInt64) {
        let f = options.faults
        if let silent = f.silentAfterMilliseconds, t >= silent { return }
        if rng.chance(f.drop) {
            record(.fault, "dropped \(bytes.count) bytes")
            return
        }
        var b = bytes
        if rng.chance(f.corrupt), !b.isEmpty {
            let i = Int(rng.next() % UInt64(b.count))
            b[i] ^= UInt8(1 + rng.next() % 255)
            record(.fault, "damaged byte \(i) of \(b.count)")
        }
        b = noise(b, direction: "to the host")
        let copies = rng.chance(f.duplicate) ? 2 : 1
        if copies == 2 { record(.fault, "sent \(b.count) bytes twice") }
        for _ in 0..<copies {
            if f.delayMilliseconds > 0 {
                delayed.append((t + f.delayMilliseconds, b))
            } else {
                outgoing += b
            }
        }
    }

    /// Applies the per-byte line noise to bytes crossing the line in one direction.
    private mutating func noise(_ bytes: [UInt8], direction: String) -> [UInt8] {
        let f = options.faults
        guard f.noiseCorruptPerByte > 0 || f.noiseDropPerByte > 0 else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var damaged = 0, lost = 0
        for byte in bytes {
            if rng.chance(f.noiseDropPerByte) {
                lost += 1
                continue
            }
            if rng.chance(f.noiseCorruptPerByte) {
                out.append(byte ^ UInt8(1 + rng.next() % 255))
                damaged += 1
            } else {
                out.append(byte)
            }
        }
        if damaged + lost > 0 { record(.fault, "noise \(direction): \(damaged) damaged, \(lost) lost of \(bytes.count) bytes") }
        return out
    }

    private mutating func flush() {
        guard let fd = pty?.controller, !outgoing.isEmpty else { return }
        var written = 0
        while written < outgoing.count {
            let n: Int? = outgoing.withUnsafeBytes { raw in
                try? fd.write(UnsafeRawBufferPointer(rebasing: raw[written...]))
            }
            guard let n, n > 0 else { break }
            written += n
        }
        outgoing.removeFirst(written)
        // Nobody reads the line (no host attached): keep only the most recent output.
        if outgoing.count > 65_536 { outgoing.removeFirst(outgoing.count - 65_536) }
    }

    private mutating func describeIncoming(_ bytes: [UInt8]) {
        for case .frame(let f) in inDecoder.feed(bytes) {
            if let text = PinpadNames.describe(f, reveal: options.revealDigits, linkControl: options.transcriptLinkControl) {
                record(.received, text)
            }
        }
    }

    private mutating func describeOutgoing(_ bytes: [UInt8]) {
        for case .frame(let f) in outDecoder.feed(bytes) {
            if let text = PinpadNames.describe(f, reveal: options.revealDigits, linkControl: options.transcriptLinkControl) {
                record(.sent, text)
            }
        }
    }

    private mutating func finishStep() -> StepOutcome {
        var out = StepOutcome()
        out.entries = pendingEntries
        pendingEntries = []
        let snap = snapshot()
        if snap != lastSnapshot {
            lastSnapshot = snap
            out.changed = snap
        }
        let t = now()
        var keep: [Waiter] = []
        for w in waiters {
            if w.condition(snap) {
                out.resumed.append((w.continuation, snap))
            } else if t >= w.deadline || stopped {
                out.resumed.append((w.continuation, nil))
            } else {
                keep.append(w)
            }
        }
        waiters = keep
        return out
    }
}
