#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error number reported by a system call, as read from C's `errno`.
public struct Errno: RawRepresentable, Error, Hashable, Sendable, CustomStringConvertible {
    /// The raw C error number.
    public let rawValue: CInt

    /// Creates a typed error number from a raw C error number.
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: errno) }

    /// No such file or directory (`ENOENT`).
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// Permission denied (`EACCES`).
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// Operation not permitted (`EPERM`).
    public static let notPermitted = Errno(rawValue: EPERM)
    /// Device or resource busy (`EBUSY`).
    public static let resourceBusy = Errno(rawValue: EBUSY)
    /// Resource temporarily unavailable (`EAGAIN`, also `EWOULDBLOCK` on Linux).
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    /// Interrupted system call (`EINTR`).
    public static let interrupted = Errno(rawValue: EINTR)
    /// Input/output error (`EIO`); on a tty this means the device went away.
    public static let ioError = Errno(rawValue: EIO)
    /// Inappropriate ioctl for device (`ENOTTY`).
    public static let notATerminal = Errno(rawValue: ENOTTY)
    /// Invalid argument (`EINVAL`).
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// No such device (`ENODEV`).
    public static let noSuchDevice = Errno(rawValue: ENODEV)
    /// No such device or address (`ENXIO`).
    public static let noSuchDeviceOrAddress = Errno(rawValue: ENXIO)
    /// Is a directory (`EISDIR`).
    public static let isDirectory = Errno(rawValue: EISDIR)
    /// File exists (`EEXIST`).
    public static let fileExists = Errno(rawValue: EEXIST)
    /// Bad file descriptor (`EBADF`).
    public static let badFileDescriptor = Errno(rawValue: EBADF)

    /// The symbolic name and the C library's text, e.g. `EACCES (Permission denied)`.
    public var description: String {
        let text = strerror(rawValue).map { String(cString: $0) } ?? "unknown error"
        return "\(symbol) (\(text))"
    }

    /// The symbolic name where known (`EIO`), else `errno N`.
    public var symbol: String {
        switch rawValue {
        case ENOENT: "ENOENT"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EBUSY: "EBUSY"
        case EAGAIN: "EAGAIN"
        case EINTR: "EINTR"
        case EIO: "EIO"
        case ENOTTY: "ENOTTY"
        case EINVAL: "EINVAL"
        case ENODEV: "ENODEV"
        case ENXIO: "ENXIO"
        case EISDIR: "EISDIR"
        case EEXIST: "EEXIST"
        case EBADF: "EBADF"
        default: "errno \(rawValue)"
        }
    }
}

/// Runs a system call until it stops failing with `EINTR`; returns its result or throws `errno`.
@inline(__always)
func retryingOnInterrupt<T: FixedWidthInteger>(_ call: () -> T) throws(Errno) -> T {
    while true {
        let result = call()
        if result != -1 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}
