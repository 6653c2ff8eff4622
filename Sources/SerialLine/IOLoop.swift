import CTimerFD
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The thread behind a `SerialPort`: waits in `poll(2)` on the line, a wake-up pipe and a timer,
/// reads whatever arrives, writes whatever is queued as the device takes it, and notices hang-up.
///
/// The consumer's deadline is poll()'s timeout. One set earlier while the thread waits (a
/// retransmission deadline when a frame goes out, say) arms the kernel's timer (`timerfd`)
/// instead of waking the thread: the answer usually comes first, and the thread wakes once, for
/// it.
///
/// All mutable state is guarded by `lock`; the descriptor is closed under it, so
/// `withDescriptor` never touches a number that has been reused.
final class IOLoop: @unchecked Sendable {
    typealias Completion = CheckedContinuation<Result<Void, SerialLineError>, Never>

    private struct PendingWrite {
        var bytes: [UInt8]
        var offset: Int
        var completion: Completion?
    }

    private enum State {
        case running
        case closeRequested
        case ended(SerialPort.CloseReason)
    }

    /// Guards the queues, the state and the descriptor together: callers on any task, the loop
    /// on its thread.
    private let lock = NSLock()
    private let fd: FileDescriptor
    private let path: String
    private let wakeReader: FileDescriptor
    private let wakeWriter: FileDescriptor
    /// A `timerfd`: armed for a deadline set earlier than the one the thread waits in poll() for.
    private let timer: FileDescriptor
    /// Whether `timer` is armed (the thread disarms it before it next waits).
    private var timerArmed = false
    /// How many times the thread has come back from poll() (for tests).
    private var wakeUps = 0
    private let events: AsyncStream<SerialPort.Event>.Continuation
    private let releasesExclusivity: Bool

    /// Where received events go. Until a consumer takes the line (`events` or a receiver) they
    /// wait here, so nothing read early is lost or reordered.
    private enum Delivery {
        case undecided([SerialPort.Event])
        case stream
        case receiver(@Sendable (SerialPort.Event) -> Void, backlog: [SerialPort.Event])
    }

    private var state: State = .running
    private var delivery: Delivery = .undecided([])
    private var finished = false
    private var outgoing: [PendingWrite] = []
    private var outgoingHead = 0
    private var closeWaiters: [CheckedContinuation<SerialPort.CloseReason, Never>] = []
    /// The consumer's one timer: `alarm` is called on the loop thread once `deadline` has passed
    /// (poll(2)'s timeout, so a protocol's timers need no task or thread of their own).
    private var deadline: ContinuousClock.Instant?
    private var alarm: (@Sendable () -> Void)?
    /// The deadline the thread is waiting in poll() for (nil: none), while it waits.
    private var pollingUntil: ContinuousClock.Instant??

    /// Largest single read; a pad's frames are far smaller.
    private static let readChunk = 16 * 1024
    /// Reads per wake-up before queued writes get a turn, so a chatty peer can't starve them.
    private static let readsPerTurn = 16

    init(fd: FileDescriptor, path: String, events: AsyncStream<SerialPort.Event>.Continuation, releasesExclusivity: Bool) throws(Errno) {
        self.fd = fd
        self.path = path
        self.events = events
        self.releasesExclusivity = releasesExclusivity
        (wakeReader, wakeWriter) = try FileDescriptor.pipe()
        let timer = timerfd_create(CLOCK_MONOTONIC, CInt(TFD_NONBLOCK | TFD_CLOEXEC))
        guard timer >= 0 else {
            let error = Errno.current
            try? wakeReader.close()
            try? wakeWriter.close()
            throw error
        }
        self.timer = FileDescriptor(rawValue: timer)
    }

    func start() {
        // A thread, not a task: it blocks in poll(2) until the line or the wake-up pipe has news.
        let thread = Thread { [self] in run() }
        thread.name = "serial \(path)"
        thread.start()
    }

    // MARK: - Called from any thread

    func enqueue(_ bytes: [UInt8], completion: Completion?) throws(SerialLineError) {
        lock.lock()
        switch state {
        case .running:
            if bytes.isEmpty {
                lock.unlock()
                completion?.resume(returning: .success(()))
                return
            }
            var offset = 0
            if outgoingHead == outgoing.count {
                // Nothing queued and nothing being written by the loop thread (it keeps the
                // entry it writes in the queue until done): write now, on the caller's thread,
                // and save the loop a wake-up. What the device does not take yet is queued.
                offset = writeNowLocked(bytes)
                if offset == bytes.count {
                    lock.unlock()
                    completion?.resume(returning: .success(()))
                    return
                }
                outgoing.append(PendingWrite(bytes: bytes, offset: offset, completion: completion))
                wakeLocked()
            } else {
                outgoing.append(PendingWrite(bytes: bytes, offset: 0, completion: completion))
            }
            lock.unlock()
        case .closeRequested:
            lock.unlock()
            throw SerialLineError(path: path, operation: "write to", reason: .closed)
        case .ended(let reason):
            lock.unlock()
            throw Self.writeError(path: path, after: reason)
        }
    }

    /// From now on events go to `events` (those that waited go first).
    func useStream() {
        lock.lock()
        defer { lock.unlock() }
        guard case .undecided(let waiting) = delivery else { return }
        delivery = .stream
        for event in waiting { events.yield(event) }
        if finished { events.finish() }
    }

    /// From now on events go to `receiver`, called on the loop thread, one at a time, in order
    /// (those that waited go first). Events already given to `events` stay there.
    func useReceiver(_ receiver: @escaping @Sendable (SerialPort.Event) -> Void, alarm: (@Sendable () -> Void)?) {
        lock.lock()
        var backlog: [SerialPort.Event] = []
        if case .undecided(let waiting) = delivery { backlog = waiting }
        delivery = .receiver(receiver, backlog: backlog)
        self.alarm = alarm
        let deliverNow = finished && !backlog.isEmpty
        if !backlog.isEmpty || (alarm != nil && deadline != nil), case .running = state { wakeLocked() }
        lock.unlock()
        // The loop has ended and will not pass by again: hand over what waited here.
        if deliverNow { deliverBacklog() }
    }

    /// Sets (or with nil clears) the time the alarm is due, replacing the one before.
    /// How many times the loop thread has come back from poll().
    var pollReturns: Int {
        lock.lock()
        defer { lock.unlock() }
        return wakeUps
    }

    func setDeadline(_ newDeadline: ContinuousClock.Instant?) {
        lock.lock()
        defer { lock.unlock() }
        deadline = newDeadline
        // The thread reads the deadline before each poll(); when it waits for a later one (or
        // none), the kernel's timer rings it at the new one. Called from the thread itself (a
        // receiver), it never waits.
        if case .some(let waitingFor) = pollingUntil, let newDeadline, waitingFor.map({ newDeadline < $0 }) ?? true {
            armTimerLocked(newDeadline - .now)
        }
    }

    /// Arms the timer to ring after `left` (at once if it is not positive). Call with `lock` held
    /// and the loop not yet ended (`finish` closes the timer under the same lock).
    private func armTimerLocked(_ left: Duration) {
        let (seconds, attoseconds) = left.components
        var spec = itimerspec()
        if left > .zero {
            // Rounded up to whole nanoseconds: never rung before the deadline.
            let nanoseconds = Int((attoseconds + 999_999_999) / 1_000_000_000)
            spec.it_value.tv_sec = Int(seconds) + nanoseconds / 1_000_000_000
            spec.it_value.tv_nsec = nanoseconds % 1_000_000_000
        } else {
            spec.it_value.tv_nsec = 1  // zero would disarm it
        }
        if timerfd_settime(timer.rawValue, 0, &spec, nil) == 0 {
            timerArmed = true
        } else {
            wakeLocked()  // cannot happen with a valid timer; waking is always correct
        }
    }

    /// Disarms the timer and drops a ring it may have left. Call with `lock` held.
    private func disarmTimerLocked() {
        guard timerArmed else { return }
        var spec = itimerspec()
        _ = timerfd_settime(timer.rawValue, 0, &spec, nil)
        var expirations: UInt64 = 0
        _ = Glibc.read(timer.rawValue, &expirations, MemoryLayout<UInt64>.size)
        timerArmed = false
    }

    func requestClose() {
        lock.lock()
        if case .running = state {
            state = .closeRequested
            wakeLocked()
        }
        lock.unlock()
    }

    func whenClosed(_ waiter: CheckedContinuation<SerialPort.CloseReason, Never>) {
        lock.lock()
        // Only once every event has been handed over (a receiver has had the hang-up).
        if finished, case .ended(let reason) = state {
            lock.unlock()
            waiter.resume(returning: reason)
        } else {
            closeWaiters.append(waiter)
            lock.unlock()
        }
    }

    var closeReason: SerialPort.CloseReason? {
        lock.lock()
        defer { lock.unlock() }
        if case .ended(let reason) = state { return reason }
        return nil
    }

    func withDescriptor<T>(operation: String, _ body: (FileDescriptor) throws(Errno) -> T) throws(SerialLineError) -> T {
        lock.lock()
        defer { lock.unlock() }
        if case .ended(let reason) = state { throw Self.writeError(path: path, after: reason) }
        do {
            return try body(fd)
        } catch {
            throw SerialLineError(path: path, operation: operation, reason: .system(error))
        }
    }

    /// One non-blocking `write` of `bytes` on the line; how many it took. Any error (including
    /// "would block") takes nothing here: the bytes are queued and the loop thread meets the
    /// error itself and reports it as it always does. Call with `lock` held and the loop running.
    private func writeNowLocked(_ bytes: [UInt8]) -> Int {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(Errno) -> Int in try fd.write(raw) }
        }
        return (try? result.get()) ?? 0
    }

    /// Wakes the loop thread out of `poll`. Call with `lock` held and the loop not yet ended:
    /// `finish` closes the pipe under the same lock, so the descriptor is never a stale number.
    private func wakeLocked() {
        var byte: UInt8 = 1
        // A full pipe already means "wake up"; nothing else can go wrong worth reporting.
        _ = Glibc.write(wakeWriter.rawValue, &byte, 1)
    }

    private static func writeError(path: String, after reason: SerialPort.CloseReason) -> SerialLineError {
        switch reason {
        case .closedLocally: SerialLineError(path: path, operation: "write to", reason: .closed)
        case .deviceGone(let error): error
        }
    }

    // MARK: - Delivery (the loop thread; `useReceiver` after the end)

    private func deliver(_ event: SerialPort.Event) {
        lock.lock()
        switch delivery {
        case .undecided(var waiting):
            waiting.append(event)
            delivery = .undecided(waiting)
            lock.unlock()
        case .stream:
            events.yield(event)
            lock.unlock()
        case .receiver(let receiver, let backlog):
            if !backlog.isEmpty { delivery = .receiver(receiver, backlog: []) }
            lock.unlock()
            for earlier in backlog { receiver(earlier) }
            receiver(event)
        }
    }

    private func deliverBacklog() {
        lock.lock()
        guard case .receiver(let receiver, let backlog) = delivery, !backlog.isEmpty else {
            lock.unlock()
            return
        }
        delivery = .receiver(receiver, backlog: [])
        lock.unlock()
        for event in backlog { receiver(event) }
    }

    // MARK: - The loop thread

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readChunk, alignment: 1)
        defer { buffer.deallocate() }
        var ending: SerialPort.CloseReason? = nil

        while ending == nil {
            lock.lock()
            if case .closeRequested = state {
                lock.unlock()
                ending = .closedLocally
                break
            }
            let wantsWrite = outgoingHead < outgoing.count
            let waitFor = alarm == nil ? nil : deadline
            pollingUntil = .some(waitFor)
            // poll()'s timeout covers the deadline as it stands now; the timer only for one set
            // earlier while the thread waits.
            disarmTimerLocked()
            lock.unlock()

            let line: PollEvents
            let wake: PollEvents
            do {
                (line, wake, _) = try FileDescriptor.poll(
                    PollRequest(fd, events: wantsWrite ? [.readable, .writable] : .readable),
                    PollRequest(wakeReader, events: .readable),
                    PollRequest(timer, events: .readable),
                    timeoutMilliseconds: waitFor.map(Self.milliseconds(until:)) ?? -1)
            } catch {
                ending = gone(error)
                break
            }
            ringAlarmIfDue()
            if wake.contains(.readable) {
                drainWakePipe()
                deliverBacklog()
            }
            if line.contains(.invalid) {
                ending = gone(.badFileDescriptor)
                break
            }
            if !line.isDisjoint(with: [.readable, .hangUp, .error]) {
                // POLLHUP or POLLERR with nothing left to read: the device is gone (and polling
                // again would return at once, forever).
                if let reason = readAvailable(into: buffer, hungUp: !line.isDisjoint(with: [.hangUp, .error])) {
                    ending = reason
                    break
                }
            }
            if line.contains(.writable) {
                if let reason = writeQueued() {
                    ending = reason
                    break
                }
            }
        }
        finish(ending ?? .closedLocally)
    }

    /// poll()'s timeout for a deadline: whole milliseconds, rounded up (never woken early).
    private static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        let left = deadline - .now
        guard left > .zero else { return 0 }
        let ms = left.components.seconds * 1000 + (left.components.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: ms)
    }

    /// Calls the alarm (without the lock) when its deadline has passed; it is then cleared.
    private func ringAlarmIfDue() {
        lock.lock()
        pollingUntil = nil
        wakeUps += 1
        guard let alarm, let deadline, deadline <= .now else {
            lock.unlock()
            return
        }
        self.deadline = nil
        lock.unlock()
        alarm()
    }

    /// Reads until the kernel has nothing more (or a turn is used up). Returns a reason to end
    /// when the device has gone.
    private func readAvailable(into buffer: UnsafeMutableRawBufferPointer, hungUp: Bool) -> SerialPort.CloseReason? {
        for _ in 0..<Self.readsPerTurn {
            do {
                let count = try fd.read(into: buffer)
                if count == 0 { return gone(nil) }
                deliver(.received(Array(buffer[0..<count])))
                // A short read took all the kernel had: the next poll reports what comes later,
                // so the read that would only say "nothing more" is saved (a syscall per frame).
                // After a hang-up, read on until the end shows itself.
                if count < buffer.count, !hungUp { return nil }
            } catch .wouldBlock {
                // Nothing more to read. A hang-up without data means the device is gone.
                return hungUp ? gone(nil) : nil
            } catch {
                return gone(error)
            }
        }
        return nil
    }

    private func writeQueued() -> SerialPort.CloseReason? {
        while true {
            lock.lock()
            guard outgoingHead < outgoing.count else {
                outgoing.removeAll(keepingCapacity: true)
                outgoingHead = 0
                lock.unlock()
                return nil
            }
            let bytes = outgoing[outgoingHead].bytes
            let offset = outgoing[outgoingHead].offset
            lock.unlock()

            let written: Int
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) -> Int in try fd.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            }
            do throws(Errno) {
                written = try result.get()
            } catch .wouldBlock {
                return nil
            } catch {
                return gone(error)
            }

            lock.lock()
            outgoing[outgoingHead].offset += written
            var done: Completion? = nil
            if outgoing[outgoingHead].offset == bytes.count {
                done = outgoing[outgoingHead].completion
                outgoing[outgoingHead] = PendingWrite(bytes: [], offset: 0, completion: nil)
                outgoingHead += 1
            }
            lock.unlock()
            done?.resume(returning: .success(()))
        }
    }

    private func gone(_ errno: Errno?) -> SerialPort.CloseReason {
        // EIO, end of file and POLLHUP all mean the same to a person: the device went away.
        _ = errno
        return .deviceGone(SerialLineError(path: path, operation: "read", reason: .deviceGone))
    }

    private func drainWakePipe() {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { scratch in
            while Glibc.read(wakeReader.rawValue, scratch.baseAddress!, scratch.count) > 0 {}
        }
    }

    private func finish(_ reason: SerialPort.CloseReason) {
        lock.lock()
        state = .ended(reason)
        let abandoned = outgoing[outgoingHead...].compactMap(\.completion)
        outgoing = []
        outgoingHead = 0
        if releasesExclusivity {
            // TIOCEXCL outlives this descriptor while any other holds the tty (a pty's owner does).
            try? fd.clearTerminalExclusive()
        }
        try? fd.close()
        try? wakeReader.close()
        try? wakeWriter.close()
        try? timer.close()
        lock.unlock()

        let writeError = Self.writeError(path: path, after: reason)
        for completion in abandoned { completion.resume(returning: .failure(writeError)) }
        if case .deviceGone(let error) = reason { deliver(.deviceGone(error)) }
        deliverBacklog()
        lock.lock()
        finished = true
        if case .undecided = delivery {} else { events.finish() }
        let waiters = closeWaiters
        closeWaiters = []
        lock.unlock()
        for waiter in waiters { waiter.resume(returning: reason) }
    }
}
