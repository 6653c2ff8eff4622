import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One daemon per journal: an advisory lock (`flock(LOCK_EX|LOCK_NB)`) on `JOURNAL.lock` next
/// to the journal, held as long as this object lives (the kernel drops it when the process ends,
/// however it ends, so a crash leaves no stale lock). The holder's pid is written into the file
/// so the one refused can say who holds it. The file is never removed: removing a lock file
/// while another process opens it would let two processes each lock a different file.
public final class JournalLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Takes the lock for the journal at `journalPath`, or throws ``JournalLockError``.
    public init(journalPath: String) throws(JournalLockError) {
        path = journalPath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotCreate(path: path, reason: String(cString: strerror(errno))) }
        var result: Int32
        repeat { result = flock(fd, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
        guard result == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard code == EWOULDBLOCK else { throw .cannotCreate(path: path, reason: String(cString: strerror(code))) }
            let holder = Int32(String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            throw .held(path: path, pid: holder)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit { close(fd) }
}

public enum JournalLockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another process holds the lock (its pid when it wrote one).
    case held(path: String, pid: Int32?)
    case cannotCreate(path: String, reason: String)

    public var description: String {
        switch self {
        case .held(let path, let pid):
            return "\(path) is locked by another running ngbridge\(pid.map { " (pid \($0))" } ?? "")"
        case .cannotCreate(let path, let reason):
            return "cannot create \(path): \(reason)"
        }
    }
}
