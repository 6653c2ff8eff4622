#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A line speed in bits per second, limited to the speeds `cfsetspeed(3)` knows by name.
public struct BaudRate: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Bits per second.
    public let rawValue: Int

    /// Returns nil for speeds the termios interface has no constant for.
    public init?(rawValue: Int) {
        guard BaudRate.table.contains(where: { $0.0 == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    public static let b9600 = BaudRate(rawValue: 9600)!
    public static let b19200 = BaudRate(rawValue: 19200)!
    public static let b38400 = BaudRate(rawValue: 38400)!
    public static let b57600 = BaudRate(rawValue: 57600)!
    public static let b115200 = BaudRate(rawValue: 115200)!
    public static let b230400 = BaudRate(rawValue: 230400)!
    public static let b460800 = BaudRate(rawValue: 460800)!
    public static let b921600 = BaudRate(rawValue: 921600)!

    /// Every speed this type accepts, slowest first.
    public static var supported: [Int] { table.map(\.0) }

    public var description: String { "\(rawValue) baud" }

    /// The `speed_t` constant (`B115200` …) for this speed.
    var speedConstant: speed_t { BaudRate.table.first { $0.0 == rawValue }!.1 }

    init?(speedConstant: speed_t) {
        guard let entry = BaudRate.table.first(where: { $0.1 == speedConstant }) else { return nil }
        self.rawValue = entry.0
    }

    private static let table: [(Int, speed_t)] = [
        (1200, speed_t(B1200)), (2400, speed_t(B2400)), (4800, speed_t(B4800)), (9600, speed_t(B9600)),
        (19200, speed_t(B19200)), (38400, speed_t(B38400)), (57600, speed_t(B57600)),
        (115200, speed_t(B115200)), (230400, speed_t(B230400)), (460800, speed_t(B460800)),
        (500000, speed_t(B500000)), (576000, speed_t(B576000)), (921600, speed_t(B921600)),
        (1000000, speed_t(B1000000)), (1500000, speed_t(B1500000)), (2000000, speed_t(B2000000)),
        (3000000, speed_t(B3000000)), (4000000, speed_t(B4000000)),
    ]
}

/// A terminal's line settings: a typed wrapper around C's `struct termios`.
public struct TerminalAttributes: Sendable {
    /// The raw C structure.
    public var raw: termios

    /// Wraps a raw C structure.
    public init(raw: termios) { self.raw = raw }

    /// Reads a terminal's settings. Stands for `tcgetattr(3)`.
    public static func read(from fd: FileDescriptor) throws(Errno) -> TerminalAttributes {
        var t = termios()
        _ = try retryingOnInterrupt { tcgetattr(fd.rawValue, &t) }
        return TerminalAttributes(raw: t)
    }

    /// Applies these settings now. Stands for `tcsetattr(fd, TCSANOW, …)`.
    public func apply(to fd: FileDescriptor) throws(Errno) {
        var t = raw
        _ = try retryingOnInterrupt { tcsetattr(fd.rawValue, TCSANOW, &t) }
    }

    /// Switches off every line-discipline feature: no echo, no canonical mode, no signals,
    /// no CR/NL translation, 8 data bits. Stands for `cfmakeraw(3)`.
    public mutating func makeRaw() {
        cfmakeraw(&raw)
    }

    /// Sets input and output speed. Stands for `cfsetspeed(3)`.
    public mutating func setSpeed(_ speed: BaudRate) throws(Errno) {
        _ = try retryingOnInterrupt { cfsetspeed(&raw, speed.speedConstant) }
    }

    /// The output speed, or nil if it is not one `BaudRate` knows. Stands for `cfgetospeed(3)`.
    public var speed: BaudRate? {
        var t = raw
        return BaudRate(speedConstant: cfgetospeed(&t))
    }

    /// Character size, parity, stop bits and flow control in `c_cflag`.
    public var controlFlags: tcflag_t {
        get { raw.c_cflag }
        set { raw.c_cflag = newValue }
    }

    /// `c_iflag`.
    public var inputFlags: tcflag_t {
        get { raw.c_iflag }
        set { raw.c_iflag = newValue }
    }

    /// `c_oflag`.
    public var outputFlags: tcflag_t {
        get { raw.c_oflag }
        set { raw.c_oflag = newValue }
    }

    /// `c_lflag`.
    public var localFlags: tcflag_t {
        get { raw.c_lflag }
        set { raw.c_lflag = newValue }
    }

    /// `c_cc[VMIN]`: how many bytes a blocking read waits for.
    public var minimumReadCount: UInt8 {
        get { withUnsafeBytes(of: raw.c_cc) { $0[Int(VMIN)] } }
        set { withUnsafeMutableBytes(of: &raw.c_cc) { $0[Int(VMIN)] = newValue } }
    }

    /// `c_cc[VTIME]`: inter-byte read timeout in tenths of a second.
    public var readTimeoutDeciseconds: UInt8 {
        get { withUnsafeBytes(of: raw.c_cc) { $0[Int(VTIME)] } }
        set { withUnsafeMutableBytes(of: &raw.c_cc) { $0[Int(VTIME)] = newValue } }
    }

    /// Whether the line is 8 data bits, no parity, one stop bit (`CS8`, no `PARENB`, no `CSTOPB`).
    public var is8N1: Bool {
        raw.c_cflag & tcflag_t(CSIZE) == tcflag_t(CS8)
            && raw.c_cflag & tcflag_t(PARENB) == 0
            && raw.c_cflag & tcflag_t(CSTOPB) == 0
    }

    /// Whether neither hardware (`CRTSCTS`) nor software (`IXON`/`IXOFF`) flow control is on.
    public var hasNoFlowControl: Bool {
        raw.c_cflag & tcflag_t(CRTSCTS) == 0 && raw.c_iflag & tcflag_t(IXON | IXOFF | IXANY) == 0
    }

    /// Whether the line discipline passes bytes through untouched (no `ICANON`, `ECHO`, `ISIG`,
    /// `IEXTEN`, `OPOST`, `ICRNL`).
    public var isRaw: Bool {
        raw.c_lflag & tcflag_t(ICANON | ECHO | ISIG | IEXTEN) == 0
            && raw.c_oflag & tcflag_t(OPOST) == 0
            && raw.c_iflag & tcflag_t(ICRNL | INLCR | IGNCR | ISTRIP) == 0
    }
}

/// What to discard in `flush`. Stands for the `TCIFLUSH`/`TCOFLUSH`/`TCIOFLUSH` queue selectors.
public enum TerminalQueue: Sendable {
    case input, output, both
    var raw: CInt {
        switch self {
        case .input: TCIFLUSH
        case .output: TCOFLUSH
        case .both: TCIOFLUSH
        }
    }
}

/// The RS-232 modem control lines a USB-serial device may or may not have.
public struct ModemLines: OptionSet, Sendable, Hashable {
    public let rawValue: CInt
    public init(rawValue: CInt) { self.rawValue = rawValue }
    /// `TIOCM_DTR`: data terminal ready.
    public static let dataTerminalReady = ModemLines(rawValue: TIOCM_DTR)
    /// `TIOCM_RTS`: request to send.
    public static let requestToSend = ModemLines(rawValue: TIOCM_RTS)
}

extension FileDescriptor {
    /// Discards queued, untransmitted or unread data. Stands for `tcflush(3)`.
    public func flush(_ queue: TerminalQueue) throws(Errno) {
        _ = try retryingOnInterrupt { tcflush(rawValue, queue.raw) }
    }

    /// Makes further opens of this tty fail with `EBUSY` (except for privileged processes).
    /// Stands for `ioctl(TIOCEXCL)`.
    public func setTerminalExclusive() throws(Errno) {
        _ = try retryingOnInterrupt { ioctl(rawValue, UInt(TIOCEXCL)) }
    }

    /// Undoes `setTerminalExclusive`. Stands for `ioctl(TIOCNXCL)`.
    public func clearTerminalExclusive() throws(Errno) {
        _ = try retryingOnInterrupt { ioctl(rawValue, UInt(TIOCNXCL)) }
    }

    /// Raises the given modem lines. Stands for `ioctl(TIOCMBIS)`. Returns false, without
    /// throwing, when the device has no modem lines (`ENOTTY`/`EINVAL`, as on a pty).
    public func raiseModemLines(_ lines: ModemLines) throws(Errno) -> Bool {
        var bits = lines.rawValue
        do {
            _ = try retryingOnInterrupt { ioctl(rawValue, UInt(TIOCMBIS), &bits) }
            return true
        } catch .notATerminal, .invalidArgument {
            return false
        }
    }

    /// Reads the modem lines, or nil when the device has none (`ENOTTY`/`EINVAL`).
    /// Stands for `ioctl(TIOCMGET)`.
    public func modemLines() throws(Errno) -> ModemLines? {
        var bits: CInt = 0
        do {
            _ = try retryingOnInterrupt { ioctl(rawValue, UInt(TIOCMGET), &bits) }
            return ModemLines(rawValue: bits)
        } catch .notATerminal, .invalidArgument {
            return nil
        }
    }
}
