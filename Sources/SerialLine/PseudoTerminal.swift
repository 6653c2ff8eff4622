import Common
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal pair standing in for a serial device: the simulator drives the
/// controller side, and the bridge opens the device side by a stable path of the caller's
/// choosing, exactly as it would open `/dev/ttyACM0`.
///
/// The device side is kept open for the pair's whole life, so its raw settings stick and the
/// controller side never sees a hang-up just because the bridge closed and reopened the line.
/// Closing the controller side is how a simulator "unplugs" the pad: the bridge then reads
/// EIO/`POLLHUP`.
public final class PseudoTerminal: Sendable {
    /// The controller ("master") side, for the simulator. Owned by this pair until taken with
    /// `takeController()`.
    public let controller: FileDescriptor
    /// The device side's own descriptor, held open for the pair's life.
    public let device: FileDescriptor
    /// The device side's kernel path, e.g. `/dev/pts/4`.
    public let devicePath: String
    /// Where the device side is published, if a link path was given.
    public let linkPath: String?

    /// Lock: `close()` may be called from any thread (deinit included), and only once may close.
    private let state: Locked<(controllerTaken: Bool, closed: Bool)>

    /// Creates a pair with the device side in raw mode, and publishes the device side as a
    /// symbolic link at `linkPath` if given. A stale symbolic link there is replaced; anything
    /// else there is left alone and reported. Stands for `openpty(3)`, `cfmakeraw(3)`,
    /// `tcsetattr(3)` and `symlink(2)`.
    public init(linkPath: String? = nil, baudRate: BaudRate = .b115200) throws(SerialLineError) {
        var controllerRaw: CInt = -1
        var deviceRaw: CInt = -1
        guard openpty(&controllerRaw, &deviceRaw, nil, nil, nil) == 0 else {
            throw SerialLineError(path: linkPath ?? "pty", operation: "create a pseudo-terminal for", reason: .system(.current))
        }
        let controller = FileDescriptor(rawValue: controllerRaw)
        let device = FileDescriptor(rawValue: deviceRaw)
        func fail(_ operation: String, _ error: Errno) -> SerialLineError {
            try? controller.close()
            try? device.close()
            return SerialLineError(path: linkPath ?? "pty", operation: operation, reason: .system(error))
        }
        let devicePath: String
        do {
            try controller.setCloseOnExec()
            try device.setCloseOnExec()
            var attributes = try TerminalAttributes.read(from: device)
            attributes.makeRaw()
            try attributes.setSpeed(baudRate)
            attributes.controlFlags |= tcflag_t(CLOCAL) | tcflag_t(CREAD)
            try attributes.apply(to: device)
            devicePath = try device.terminalName()
        } catch {
            throw fail("set up the pseudo-terminal for", error)
        }
        if let linkPath {
            do {
                try Self.publish(devicePath, at: linkPath)
            } catch {
                try? controller.close()
                try? device.close()
                throw error
            }
        }
        self.controller = controller
        self.device = device
        self.devicePath = devicePath
        self.linkPath = linkPath
        self.state = Locked((controllerTaken: false, closed: false))
    }

    deinit {
        close()
    }

    /// Hands the controller side over to the caller, who then closes it (for example by giving
    /// it to `SerialPort(adopting:name:)`); `close()` will no longer close it.
    public func takeController() -> FileDescriptor {
        state.withLock { $0.controllerTaken = true }
        return controller
    }

    /// Removes the published link (if it still points at this pair) and closes both sides
    /// (the controller side only if it was not taken). Safe to call more than once.
    public func close() {
        let (alreadyClosed, controllerTaken) = state.withLock { value in
            let result = (value.closed, value.controllerTaken)
            value.closed = true
            return result
        }
        if alreadyClosed { return }
        if let linkPath, (try? FileManager.default.destinationOfSymbolicLink(atPath: linkPath)) == devicePath {
            unlink(linkPath)
        }
        if !controllerTaken { try? controller.close() }
        try? device.close()
    }

    private static func publish(_ devicePath: String, at linkPath: String) throws(SerialLineError) {
        var info = stat()
        if lstat(linkPath, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFLNK else {
                throw SerialLineError(
                    path: linkPath, operation: "publish the pseudo-terminal at",
                    reason: .system(.fileExists))
            }
            if unlink(linkPath) != 0, Errno.current != .noSuchFileOrDirectory {
                throw SerialLineError(path: linkPath, operation: "replace the stale link", reason: .system(.current))
            }
        }
        if symlink(devicePath, linkPath) != 0 {
            throw SerialLineError(path: linkPath, operation: "publish the pseudo-terminal at", reason: .system(.current))
        }
    }
}
