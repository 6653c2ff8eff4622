/// A failure on a serial line, worded for the person who has to fix it: what failed, why,
/// and what to do.
public struct SerialLineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why it failed, in terms a caller can branch on.
    public enum Reason: Sendable, Equatable {
        /// The path does not exist (`ENOENT`, `ENODEV`, `ENXIO`).
        case noSuchDevice
        /// This user may not open the device (`EACCES`, `EPERM`).
        case permissionDenied
        /// Another open file holds the line: the processes found holding it, if any could be seen.
        case busy(holders: [ProcessHolder])
        /// The path is not a serial device (a regular file, a directory, a tty-less character device…).
        case notASerialDevice(String)
        /// The device went away (unplugged, or the far end of a pty closed).
        case deviceGone
        /// The line was closed by this process; nothing more can be written.
        case closed
        /// Any other system call failure.
        case system(Errno)
    }

    /// The device path involved.
    public var path: String
    /// The operation that failed, e.g. `open`, `lock`, `set line parameters`.
    public var operation: String
    public var reason: Reason

    public init(path: String, operation: String, reason: Reason) {
        self.path = path
        self.operation = operation
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .noSuchDevice:
            "cannot \(operation) \(path): no such device — is it plugged in? `ngbridge devices` lists what is"
        case .permissionDenied:
            "cannot \(operation) \(path): permission denied — install udev/70-netgiro-pinpad.rules "
                + "and add the user to group `netgiro-pinpad` (then log in again)"
        case .busy(let holders) where holders.isEmpty:
            "cannot \(operation) \(path): in use by another process — stop the other program "
                + "(`fuser -v \(path)` shows which) and try again"
        case .busy(let holders):
            "cannot \(operation) \(path): in use by "
                + holders.map(\.description).joined(separator: ", ")
                + " — stop that program and try again"
        case .notASerialDevice(let what):
            "cannot \(operation) \(path): not a serial device (\(what)) — give the path of the PIN pad's tty, "
                + "e.g. /dev/ttyACM0; `ngbridge devices` lists candidates"
        case .deviceGone:
            "\(path): device gone — it was unplugged or switched off; it is picked up again when it comes back"
        case .closed:
            "\(path): the line is closed"
        case .system(let errno):
            "cannot \(operation) \(path): \(errno)"
        }
    }

    /// Classifies a failed `open(2)`.
    static func opening(_ path: String, _ errno: Errno) -> SerialLineError {
        let reason: Reason =
            switch errno {
            case .noSuchFileOrDirectory, .noSuchDevice, .noSuchDeviceOrAddress: .noSuchDevice
            case .permissionDenied, .notPermitted: .permissionDenied
            case .resourceBusy: .busy(holders: ProcessHolder.openers(of: path))
            case .isDirectory: .notASerialDevice("a directory")
            default: .system(errno)
            }
        return SerialLineError(path: path, operation: "open", reason: reason)
    }
}

/// A process found holding a device open or locked.
public struct ProcessHolder: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    /// The short command name from `/proc/PID/comm`, if readable.
    public var command: String?

    public init(pid: Int32, command: String?) {
        self.pid = pid
        self.command = command
    }

    public var description: String {
        if let command { "PID \(pid) (\(command))" } else { "PID \(pid)" }
    }
}
