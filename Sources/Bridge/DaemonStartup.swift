import Foundation
import Journal
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `ngbridge run` claims before it takes payments, each refusal one
/// ``DaemonConfigurationError`` naming the key, with its sysexits status: the journal (its
/// directory, a lock so no second daemon shares it, the file), the unix socket's path (never
/// taken from a daemon still serving it), and the listeners' addresses.
enum DaemonStartup {
    /// Creates the journal's directory, locks the journal for this process, opens it.
    static func openJournal(_ path: String) throws(DaemonConfigurationError) -> (PaymentJournal, JournalLock?) {
        guard path != ":memory:" else {
            do { return (try PaymentJournal(path: path), nil) } catch {
                throw DaemonConfigurationError(key: "journal.path", problem: "\(error)", exitStatus: .cannotCreate)
            }
        }
        let directory = (path as NSString).deletingLastPathComponent
        try makeDirectory(directory, key: "journal.path", for: "the journal")
        let lock: JournalLock
        do {
            lock = try JournalLock(journalPath: path)
        } catch {
            switch error {
            case .held:
                throw DaemonConfigurationError(
                    key: "journal.path",
                    problem: "\(path) is in use: \(error) — one daemon per journal; stop the other, or give this one its own journal.path",
                    exitStatus: .unavailable)
            case .cannotCreate:
                throw DaemonConfigurationError(
                    key: "journal.path", problem: "\(error) — let the ngbridge user write \(directory)", exitStatus: .cannotCreate)
            }
        }
        do {
            return (try PaymentJournal(path: path), lock)
        } catch {
            throw DaemonConfigurationError(key: "journal.path", problem: "\(error)", exitStatus: .cannotCreate)
        }
    }

    /// `mkdir -p`, with the reason in words when it fails (not Foundation's error object).
    static func makeDirectory(_ directory: String, key: String, for what: String) throws(DaemonConfigurationError) {
        var st = stat()
        if stat(directory, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw DaemonConfigurationError(
                    key: key, problem: "\(directory), the directory for \(what), is not a directory", exitStatus: .cannotCreate)
            }
            return
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if parent != directory, !parent.isEmpty { try makeDirectory(parent, key: key, for: what) }
        if mkdir(directory, 0o750) != 0, errno != EEXIST {
            throw DaemonConfigurationError(
                key: key,
                problem: "cannot create \(directory) for \(what): \(String(cString: strerror(errno))) — create it and let the ngbridge user write it",
                exitStatus: .cannotCreate)
        }
    }

    /// Makes `path` free for this daemon's socket: absent, or a stale socket (nobody accepts on
    /// it) which is removed. A socket another process still serves is never touched — removing
    /// it would cut that daemon off from its tills while it keeps running.
    static func claimSocketPath(_ path: String) throws(DaemonConfigurationError) {
        try makeDirectory((path as NSString).deletingLastPathComponent, key: "api.listen", for: "the till API's socket")
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw DaemonConfigurationError(
                key: "api.listen", problem: "\(path) exists and is not a socket — remove it, or choose another api.listen",
                exitStatus: .cannotCreate)
        }
        switch connectUnix(path) {
        case 0:
            throw DaemonConfigurationError(
                key: "api.listen",
                problem: "unix:\(path) is served by another running process (another ngbridge?) — stop it, or give this daemon its own api.listen",
                exitStatus: .unavailable)
        case ECONNREFUSED:
            guard unlink(path) == 0 || errno == ENOENT else {
                throw DaemonConfigurationError(
                    key: "api.listen", problem: "cannot remove the stale socket \(path): \(String(cString: strerror(errno)))",
                    exitStatus: .cannotCreate)
            }
        case let code:
            throw DaemonConfigurationError(
                key: "api.listen",
                problem: "cannot tell whether unix:\(path) is still in use (connect: \(String(cString: strerror(code)))) — remove it if no daemon serves it",
                exitStatus: .unavailable)
        }
    }

    /// 0 when something accepts connections on the unix socket at `path`, else the errno.
    static func connectUnix(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return ENAMETOOLONG }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return result == 0 ? 0 : errno
    }

    /// Set once a listener is bound. An atomic, not a lock: set from the listener's start-up
    /// callback, read when its service ends.
    final class Bound: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// A listener whose failure before it was bound is a start-up failure naming its key
    /// (address in use → EX_UNAVAILABLE); later failures pass through as they are.
    struct Listener<Inner: Service>: Service {
        let key: String
        let address: DaemonConfiguration.ListenAddress
        let bound: Bound
        let service: Inner

        func run() async throws {
            do {
                try await service.run()
            } catch {
                guard !bound.isSet else { throw error }
                throw DaemonStartup.bindFailure(key: key, address: address, error: error)
            }
        }
    }

    static func bindFailure(key: String, address: DaemonConfiguration.ListenAddress, error: any Error) -> DaemonConfigurationError {
        guard let io = error as? IOError else {
            return DaemonConfigurationError(key: key, problem: "cannot listen on \(address): \(error)", exitStatus: .unavailable)
        }
        let reason = String(cString: strerror(io.errnoCode))
        switch io.errnoCode {
        case EADDRINUSE:
            return DaemonConfigurationError(
                key: key, problem: "\(address) is already in use by another process — stop it, or choose another address", exitStatus: .unavailable)
        case EADDRNOTAVAIL:
            return DaemonConfigurationError(key: key, problem: "\(address) is not an address of this machine (\(reason))", exitStatus: .configuration)
        case EACCES, EPERM:
            return DaemonConfigurationError(
                key: key, problem: "not allowed to listen on \(address) (\(reason)) — a port above 1023, or a path the ngbridge user may write",
                exitStatus: .cannotCreate)
        default:
            return DaemonConfigurationError(key: key, problem: "cannot listen on \(address): \(reason)", exitStatus: .unavailable)
        }
    }
}
