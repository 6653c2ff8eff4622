#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A typed handle to an open file, in the manner of swift-system's `FileDescriptor`.
///
/// A value of this type does not own the descriptor: whoever opened it closes it, once.
public struct FileDescriptor: RawRepresentable, Hashable, Sendable {
    /// The raw C file descriptor.
    public let rawValue: CInt

    /// Wraps a raw C file descriptor.
    public init(rawValue: CInt) { self.rawValue = rawValue }
}

extension FileDescriptor {
    /// Flags for `open(2)`.
    public struct OpenOptions: OptionSet, Sendable, Hashable {
        public let rawValue: CInt
        public init(rawValue: CInt) { self.rawValue = rawValue }

        /// `O_RDWR`: open for reading and writing.
        public static let readWrite = OpenOptions(rawValue: O_RDWR)
        /// `O_NOCTTY`: never become the controlling terminal of this process.
        public static let noControllingTerminal = OpenOptions(rawValue: O_NOCTTY)
        /// `O_NONBLOCK`: do not wait for carrier on open; reads and writes never block.
        public static let nonBlocking = OpenOptions(rawValue: O_NONBLOCK)
        /// `O_CLOEXEC`: close across `exec`, so child processes don't inherit the line.
        public static let closeOnExec = OpenOptions(rawValue: O_CLOEXEC)

        /// The flags a serial line is opened with: `O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC`.
        public static let serialLine: OpenOptions = [.readWrite, .noControllingTerminal, .nonBlocking, .closeOnExec]
    }

    /// Opens a file. Stands for `open(2)`; retries on `EINTR`.
    public static func open(_ path: String, _ options: OpenOptions) throws(Errno) -> FileDescriptor {
        let fd = try retryingOnInterrupt { Glibc.open(path, options.rawValue) }
        return FileDescriptor(rawValue: fd)
    }

    /// Closes the descriptor. Stands for `close(2)`. `EINTR` is not retried: on Linux the
    /// descriptor is released regardless.
    public func close() throws(Errno) {
        if Glibc.close(rawValue) == -1 {
            let error = Errno.current
            if error != .interrupted { throw error }
        }
    }

    /// Reads up to `buffer.count` bytes. Stands for `read(2)`; retries on `EINTR`.
    /// Returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingOnInterrupt { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes up to `buffer.count` bytes. Stands for `write(2)`; retries on `EINTR`.
    /// Returns how many bytes the kernel took.
    public func write(_ buffer: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retryingOnInterrupt { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// Writes all of `bytes`, blocking (or, on a non-blocking descriptor, waiting in `poll(2)`)
    /// until the kernel has taken them. For tests and simple tools, not for the I/O loop.
    public func writeAll(_ bytes: [UInt8]) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(Errno) -> Int in try write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            }
            do throws(Errno) {
                offset += try result.get()
            } catch .wouldBlock {
                _ = try FileDescriptor.poll([PollRequest(self, events: .writable)], timeoutMilliseconds: -1)
            }
        }
    }

    /// Takes or tests an advisory whole-file lock without waiting. Stands for
    /// `flock(fd, LOCK_EX | LOCK_NB)`. Throws `EWOULDBLOCK` when another open file holds it.
    public func lockExclusiveNonBlocking() throws(Errno) {
        _ = try retryingOnInterrupt { flock(rawValue, LOCK_EX | LOCK_NB) }
    }

    /// Releases the advisory lock. Stands for `flock(fd, LOCK_UN)`.
    public func unlock() throws(Errno) {
        _ = try retryingOnInterrupt { flock(rawValue, LOCK_UN) }
    }

    /// Sets or clears `O_NONBLOCK`. Stands for `fcntl(F_GETFL)` + `fcntl(F_SETFL)`.
    public func setNonBlocking(_ on: Bool) throws(Errno) {
        let flags = try retryingOnInterrupt { fcntl(rawValue, F_GETFL) }
        let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if wanted != flags { _ = try retryingOnInterrupt { fcntl(rawValue, F_SETFL, wanted) } }
    }

    /// Sets `FD_CLOEXEC`. Stands for `fcntl(F_SETFD, FD_CLOEXEC)`.
    public func setCloseOnExec() throws(Errno) {
        _ = try retryingOnInterrupt { fcntl(rawValue, F_SETFD, FD_CLOEXEC) }
    }

    /// What kind of file this is. Stands for `fstat(2)`.
    public func fileKind() throws(Errno) -> FileKind {
        var info = stat()
        _ = try retryingOnInterrupt { fstat(rawValue, &info) }
        return FileKind(mode: info.st_mode)
    }

    /// The device and inode numbers of the open file, as `/proc/locks` names them. Stands for `fstat(2)`.
    public func fileIdentity() throws(Errno) -> (device: UInt64, inode: UInt64) {
        var info = stat()
        _ = try retryingOnInterrupt { fstat(rawValue, &info) }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// The terminal's device path (e.g. `/dev/pts/3`). Stands for `ttyname_r(3)`.
    public func terminalName() throws(Errno) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let result = ttyname_r(rawValue, &buffer, buffer.count)
        if result != 0 { throw Errno(rawValue: result) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The type of an open file, from `st_mode`.
public enum FileKind: Sendable, Equatable {
    case characterDevice, blockDevice, regularFile, directory, pipe, socket, symbolicLink, unknown

    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFREG: self = .regularFile
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .pipe
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        default: self = .unknown
        }
    }
}

// MARK: - poll(2)

/// Events `poll(2)` waits for or reports.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// `POLLIN`: data to read (or end of file).
    public static let readable = PollEvents(rawValue: Int16(POLLIN))
    /// `POLLOUT`: room to write.
    public static let writable = PollEvents(rawValue: Int16(POLLOUT))
    /// `POLLERR`: an error condition (reported, never requested).
    public static let error = PollEvents(rawValue: Int16(POLLERR))
    /// `POLLHUP`: the other side hung up (reported, never requested).
    public static let hangUp = PollEvents(rawValue: Int16(POLLHUP))
    /// `POLLNVAL`: the descriptor is not open (reported, never requested).
    public static let invalid = PollEvents(rawValue: Int16(POLLNVAL))
}

/// One descriptor to watch in `FileDescriptor.poll`, with what to wait for.
public struct PollRequest: Sendable {
    public var descriptor: FileDescriptor
    public var events: PollEvents
    public init(_ descriptor: FileDescriptor, events: PollEvents) {
        self.descriptor = descriptor
        self.events = events
    }
}

extension FileDescriptor {
    /// Waits until one of the descriptors is ready or the timeout (ms, -1 = forever) passes.
    /// Stands for `poll(2)`; retries on `EINTR`. Returns what happened to each, in order.
    public static func poll(_ requests: [PollRequest], timeoutMilliseconds: CInt) throws(Errno) -> [PollEvents] {
        var fds = requests.map { pollfd(fd: $0.descriptor.rawValue, events: $0.events.rawValue, revents: 0) }
        _ = try retryingOnInterrupt { Glibc.poll(&fds, nfds_t(fds.count), timeoutMilliseconds) }
        return fds.map { PollEvents(rawValue: $0.revents) }
    }

    /// `poll(_:timeoutMilliseconds:)` for exactly two descriptors, without allocating: a line's
    /// loop waits here once per wake-up.
    public static func poll(_ first: PollRequest, _ second: PollRequest, timeoutMilliseconds: CInt) throws(Errno) -> (PollEvents, PollEvents) {
        var fds = (
            pollfd(fd: first.descriptor.rawValue, events: first.events.rawValue, revents: 0),
            pollfd(fd: second.descriptor.rawValue, events: second.events.rawValue, revents: 0))
        _ = try withUnsafeMutableBytes(of: &fds) { raw throws(Errno) in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: pollfd.self)
            return try retryingOnInterrupt { Glibc.poll(pointer, 2, timeoutMilliseconds) }
        }
        return (PollEvents(rawValue: fds.0.revents), PollEvents(rawValue: fds.1.revents))
    }

    /// `poll(_:timeoutMilliseconds:)` for exactly three descriptors, without allocating.
    public static func poll(
        _ first: PollRequest, _ second: PollRequest, _ third: PollRequest, timeoutMilliseconds: CInt
    ) throws(Errno) -> (PollEvents, PollEvents, PollEvents) {
        var fds = (
            pollfd(fd: first.descriptor.rawValue, events: first.events.rawValue, revents: 0),
            pollfd(fd: second.descriptor.rawValue, events: second.events.rawValue, revents: 0),
            pollfd(fd: third.descriptor.rawValue, events: third.events.rawValue, revents: 0))
        _ = try withUnsafeMutableBytes(of: &fds) { raw throws(Errno) in
            let pointer = raw.baseAddress!.assumingMemoryBound(to: pollfd.self)
            return try retryingOnInterrupt { Glibc.poll(pointer, 3, timeoutMilliseconds) }
        }
        return (PollEvents(rawValue: fds.0.revents), PollEvents(rawValue: fds.1.revents), PollEvents(rawValue: fds.2.revents))
    }

    /// Creates a pipe whose ends close across `exec` and never block. Stands for `pipe(2)`
    /// followed by `fcntl(FD_CLOEXEC)` and `fcntl(O_NONBLOCK)` on each end.
    public static func pipe() throws(Errno) -> (readEnd: FileDescriptor, writeEnd: FileDescriptor) {
        var fds: [CInt] = [-1, -1]
        _ = try retryingOnInterrupt { Glibc.pipe(&fds) }
        let ends = (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
        do {
            for end in [ends.0, ends.1] {
                try end.setCloseOnExec()
                try end.setNonBlocking(true)
            }
        } catch {
            try? ends.0.close()
            try? ends.1.close()
            throw error
        }
        return ends
    }
}
