import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How a serial line is set up when it is opened.
public struct SerialConfiguration: Sendable, Equatable {
    /// Line speed; ignored by USB CDC-ACM devices and ptys, which take any.
    public var baudRate: BaudRate
    /// Take the line for this process alone: `flock(LOCK_EX|LOCK_NB)` (refuses a second
    /// cooperating opener, including root) and `TIOCEXCL` (refuses any other unprivileged opener).
    public var exclusive: Bool
    /// Raise DTR and RTS after opening, where the device has modem lines.
    public var raiseModemLines: Bool
    /// Drop DTR when the line is closed (`HUPCL`). Off by default: some boards reset on DTR drop.
    public var hangUpOnClose: Bool

    public init(
        baudRate: BaudRate = .b115200, exclusive: Bool = true,
        raiseModemLines: Bool = true, hangUpOnClose: Bool = false
    ) {
        self.baudRate = baudRate
        self.exclusive = exclusive
        self.raiseModemLines = raiseModemLines
        self.hangUpOnClose = hangUpOnClose
    }
}

/// An open serial line (a tty, or any descriptor adopted with `init(adopting:name:)`) with
/// asynchronous, non-blocking reads and writes.
///
/// One thread per line waits in `poll(2)` on the descriptor and on a wake-up pipe, so a silent
/// line costs no CPU. Received bytes arrive, in order, on `events`; writes are queued and
/// written as the device takes them, while reading goes on — a peer that doesn't read never
/// blocks the caller or the reader. When the device goes away (EIO, end of file, `POLLHUP`)
/// `events` yields `.deviceGone` exactly once and finishes, the descriptor is closed (so a
/// replugged device gets its old name back where the kernel allows), and `closed()` returns.
public final class SerialPort: Sendable {
    /// Something that happened on the line.
    public enum Event: Sendable, Equatable {
        /// Bytes read from the device, in the order they came.
        case received([UInt8])
        /// The device went away; this is the last event.
        case deviceGone(SerialLineError)
    }

    /// Why the line ended.
    public enum CloseReason: Sendable, Equatable {
        /// `close()` was called.
        case closedLocally
        /// The device went away.
        case deviceGone(SerialLineError)
    }

    /// The path the line was opened by (or the name given to an adopted descriptor).
    public let path: String
    /// Whether the device has modem control lines (false for ptys and umockdev ttys).
    public let hasModemLines: Bool
    /// Received bytes and the hang-up, in order. Single consumer; finishes when the line ends.
    /// Events that arrived before the first use wait for it. (Or use `receive(_:)` instead.)
    public var events: AsyncStream<Event> {
        loop.useStream()
        return stream
    }

    private let stream: AsyncStream<Event>

    private let loop: IOLoop

    /// Opens and configures a serial device: `open(O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC)`,
    /// optionally `flock(LOCK_EX|LOCK_NB)` + `ioctl(TIOCEXCL)`, raw 8N1 at the configured speed
    /// without flow control, `CLOCAL|CREAD`, both queues flushed, DTR/RTS raised where supported.
    ///
    /// Does not require `isatty()` to be true; only that the device accepts line settings.
    public static func open(
        _ path: String, configuration: SerialConfiguration = SerialConfiguration()
    ) throws(SerialLineError) -> SerialPort {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, .serialLine)
        } catch {
            throw SerialLineError.opening(path, error)
        }
        do {
            let hasModemLines = try configure(fd, path: path, configuration: configuration)
            return try SerialPort(fd: fd, path: path, hasModemLines: hasModemLines, releasesExclusivity: configuration.exclusive)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Takes over an already open descriptor — e.g. the controller side of a `PseudoTerminal`
    /// in a simulator — without touching its settings. The line closes it when it ends.
    public convenience init(adopting fd: FileDescriptor, name: String) throws(SerialLineError) {
        do {
            try fd.setNonBlocking(true)
        } catch {
            throw SerialLineError(path: name, operation: "adopt", reason: .system(error))
        }
        try self.init(fd: fd, path: name, hasModemLines: false, releasesExclusivity: false)
    }

    private init(fd: FileDescriptor, path: String, hasModemLines: Bool, releasesExclusivity: Bool) throws(SerialLineError) {
        self.path = path
        self.hasModemLines = hasModemLines
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        self.stream = stream
        do {
            self.loop = try IOLoop(fd: fd, path: path, events: continuation, releasesExclusivity: releasesExclusivity)
        } catch {
            throw SerialLineError(path: path, operation: "start reading", reason: .system(error))
        }
        loop.start()
    }

    deinit {
        loop.requestClose()
    }

    /// Delivers the line's events to `receiver` instead of `events`: called on the line's own
    /// thread as the bytes are read, one call at a time, in order, starting with any that
    /// arrived before. For a consumer that reacts at once (a protocol's link layer) this saves
    /// the hop through a task. The receiver must not block; it may call `send(_:)`.
    /// Call it once, before using `events`.
    ///
    /// `alarm`, if given, is called on the same thread once the deadline set with
    /// ``wake(at:)`` has passed: a protocol's timers are served by the poll() that waits for
    /// the line, so they need no task or thread of their own.
    public func receive(_ receiver: @escaping @Sendable (Event) -> Void, alarm: (@Sendable () -> Void)? = nil) {
        loop.useReceiver(receiver, alarm: alarm)
    }

    /// How many times the line's thread has come back from poll() (for tests).
    var pollReturns: Int { loop.pollReturns }

    /// Sets when the receiver's `alarm` is due, replacing the deadline before; nil clears it.
    /// Callable from any thread, also from the receiver or the alarm itself.
    public func wake(at deadline: ContinuousClock.Instant?) {
        loop.setDeadline(deadline)
    }

    /// Queues bytes and returns at once, without waiting for the device to take them.
    /// Throws if the line has already ended.
    public func send(_ bytes: [UInt8]) throws(SerialLineError) {
        try loop.enqueue(bytes, completion: nil)
    }

    /// Queues bytes and waits (without blocking a thread) until the kernel has taken all of them.
    /// Throws `.deviceGone` or `.closed` if the line ends first. Cancelling the waiting task
    /// does not withdraw the bytes.
    public func write(_ bytes: [UInt8]) async throws(SerialLineError) {
        let result: Result<Void, SerialLineError> = await withCheckedContinuation { continuation in
            do throws(SerialLineError) {
                try loop.enqueue(bytes, completion: continuation)
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        try result.get()
    }

    /// Ends the line: stops reading, fails queued writes with `.closed`, releases the lock and
    /// closes the descriptor. Returns when all of that is done. Safe to call more than once.
    @discardableResult
    public func close() async -> CloseReason {
        loop.requestClose()
        return await closed()
    }

    /// Starts closing the line and returns at once (for synchronous code, a cancellation
    /// handler say); ``closed()`` says when it is done.
    public func beginClose() {
        loop.requestClose()
    }

    /// Waits until the line has ended, for whatever reason, and says why.
    public func closed() async -> CloseReason {
        await withCheckedContinuation { continuation in loop.whenClosed(continuation) }
    }

    /// Why the line ended, or nil while it is open.
    public var closeReason: CloseReason? { loop.closeReason }

    /// The line's current settings, as the kernel reports them. Stands for `tcgetattr(3)`.
    public func terminalAttributes() throws(SerialLineError) -> TerminalAttributes {
        try loop.withDescriptor(operation: "read line settings") { fd throws(Errno) in try TerminalAttributes.read(from: fd) }
    }

    /// The modem lines' state, or nil if the device has none. Stands for `ioctl(TIOCMGET)`.
    public func modemLines() throws(SerialLineError) -> ModemLines? {
        try loop.withDescriptor(operation: "read modem lines") { fd throws(Errno) in try fd.modemLines() }
    }

    // MARK: - Setup

    /// Exclusivity and line settings; returns whether the device has modem lines.
    private static func configure(_ fd: FileDescriptor, path: String, configuration: SerialConfiguration) throws(SerialLineError) -> Bool {
        func failure(_ operation: String, _ errno: Errno) -> SerialLineError {
            SerialLineError(path: path, operation: operation, reason: .system(errno))
        }
        switch try? fd.fileKind() {
        case .characterDevice, nil: break
        case .regularFile: throw SerialLineError(path: path, operation: "open", reason: .notASerialDevice("a regular file"))
        case .directory: throw SerialLineError(path: path, operation: "open", reason: .notASerialDevice("a directory"))
        case .blockDevice: throw SerialLineError(path: path, operation: "open", reason: .notASerialDevice("a block device"))
        case .some(let other): throw SerialLineError(path: path, operation: "open", reason: .notASerialDevice("a \(other)"))
        }

        if configuration.exclusive {
            do {
                try fd.lockExclusiveNonBlocking()
            } catch .wouldBlock {
                let holders = (try? fd.fileIdentity()).map { ProcessHolder.lockHolders(device: $0.device, inode: $0.inode) } ?? []
                throw SerialLineError(path: path, operation: "open", reason: .busy(holders: holders))
            } catch {
                throw failure("lock", error)
            }
            do {
                try fd.setTerminalExclusive()
            } catch .notATerminal, .invalidArgument {
                // Not every tty-like device supports it; the flock still keeps cooperating programs out.
            } catch {
                throw failure("take exclusive use of", error)
            }
        }

        var attributes: TerminalAttributes
        do {
            attributes = try TerminalAttributes.read(from: fd)
        } catch .notATerminal, .invalidArgument {
            throw SerialLineError(path: path, operation: "open", reason: .notASerialDevice("it has no line settings"))
        } catch {
            throw failure("read line settings of", error)
        }
        attributes.makeRaw()
        do { try attributes.setSpeed(configuration.baudRate) } catch { throw failure("set the speed of", error) }
        var control = attributes.controlFlags
        control &= ~(tcflag_t(CSIZE) | tcflag_t(PARENB) | tcflag_t(CSTOPB) | tcflag_t(CRTSCTS))
        control |= tcflag_t(CS8) | tcflag_t(CLOCAL) | tcflag_t(CREAD)
        if configuration.hangUpOnClose { control |= tcflag_t(HUPCL) } else { control &= ~tcflag_t(HUPCL) }
        attributes.controlFlags = control
        attributes.inputFlags &= ~tcflag_t(IXON | IXOFF | IXANY)
        attributes.minimumReadCount = 1
        attributes.readTimeoutDeciseconds = 0
        do { try attributes.apply(to: fd) } catch { throw failure("set line parameters of", error) }
        do { try fd.flush(.both) } catch { throw failure("flush", error) }

        guard configuration.raiseModemLines else { return (try? fd.modemLines()) != nil }
        do {
            return try fd.raiseModemLines([.dataTerminalReady, .requestToSend])
        } catch {
            throw failure("raise DTR/RTS on", error)
        }
    }
}
