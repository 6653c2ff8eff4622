import Foundation
import Journal
import Testing
@testable import Bridge

#if canImport(Glibc)
import Glibc
#endif

/// Start-up refusals: each one line naming the key, with a sysexits status (issue 15, failures
/// 1, 2, 5 and 7).
@Suite struct DaemonStartupTests {
    func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func newJournalFilesAreForTheOwnerOnlyWhateverTheUmask() async throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/journal.sqlite"
        let old = umask(0o022)
        defer { umask(old) }
        let journal = try PaymentJournal(path: path)
        _ = try await journal.recentPayments()
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            let m = try mode(file)
            #expect(m & 0o077 == 0, "\(file) is \(String(m, radix: 8))")
        }
        #expect(FileManager.default.fileExists(atPath: path + "-wal"), "WAL: the check above covered the side files")
        try journal.close()
    }

    @Test func aSecondDaemonOnTheSameJournalIsRefusedUntilTheFirstLetsGo() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/state/journal.sqlite"
        var first: (PaymentJournal, JournalLock?)? = try DaemonStartup.openJournal(path)
        let error = try #require(throws: DaemonConfigurationError.self) { try DaemonStartup.openJournal(path) }
        #expect(error.key == "journal.path" && error.exitStatus == .unavailable)
        #expect(error.description.contains("pid \(getpid())") && error.description.contains("one daemon per journal"), "\(error)")
        #expect(try mode(path + ".lock") & 0o077 == 0)
        try first?.0.close()
        first = nil
        let second = try DaemonStartup.openJournal(path)
        #expect(second.1 != nil)
        try second.0.close()
    }

    @Test func aJournalWhereNothingCanBeCreatedNamesJournalPathNotFoundationsError() throws {
        for path in ["/proc/nope/j.sqlite", "/etc/hostname/j.sqlite"] {
            let error = try #require(throws: DaemonConfigurationError.self) { try DaemonStartup.openJournal(path) }
            #expect(error.key == "journal.path" && error.exitStatus == .cannotCreate, "\(error)")
            #expect(!error.description.contains("NSCocoaErrorDomain") && !error.description.contains("\n"), "\(error)")
        }
    }

    @Test func aSocketAnotherProcessServesIsNeverTakenAStaleOneIs() async throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/api.sock"
        let api = try await RunningTillAPI.start(service: ScriptedPaymentService(), scratch: scratch)
        let error = try #require(throws: DaemonConfigurationError.self) { try DaemonStartup.claimSocketPath(path) }
        #expect(error.key == "api.listen" && error.exitStatus == .unavailable, "\(error)")
        #expect(try await api.client.request(.GET, "/healthz").status == 200, "the first daemon is still reachable")
        try await api.stop()

        // Left behind by a daemon that is gone (or never removed): stale, so it is taken.
        if !FileManager.default.fileExists(atPath: path) { try Self.bindAndClose(path) }
        #expect(DaemonStartup.connectUnix(path) == ECONNREFUSED)
        try DaemonStartup.claimSocketPath(path)
        #expect(!FileManager.default.fileExists(atPath: path))

        let file = try scratch.write("not-a-socket", "x")
        let notSocket = try #require(throws: DaemonConfigurationError.self) { try DaemonStartup.claimSocketPath(file) }
        #expect(notSocket.key == "api.listen" && notSocket.exitStatus == .cannotCreate)
        #expect(FileManager.default.fileExists(atPath: file))
    }

    /// Failure 1 of issue 15: the till API's TCP port already taken. The daemon used to log
    /// "daemon stopped: bind(…)" and return as if all was well (exit 0).
    @Test func addressInUseStopsTheDaemonNamingApiListen() async throws {
        let scratch = try ScratchDirectory()
        let (fd, port) = try Self.listenTCP()
        defer { close(fd) }
        var env = ConfigurationTests.minimal
        env["NGBRIDGE_API_LISTEN"] = "127.0.0.1:\(port)"
        env["NGBRIDGE_API_TOKEN_FILE"] = try scratch.write("token", "0123456789abcdef0123", mode: 0o600)
        env["NGBRIDGE_JOURNAL_PATH"] = scratch.path + "/journal.sqlite"
        env["NGBRIDGE_DEVICE_PATH"] = scratch.path + "/no-pad"
        let configuration = try await DaemonConfiguration.load(environment: env)
        let log = CapturedLog()
        let error = try await #require(throws: DaemonConfigurationError.self) {
            try await Daemon.run(configuration: configuration, logger: log.logger())
        }
        #expect(error.key == "api.listen" && error.exitStatus == .unavailable, "\(error)")
        #expect(error.description.contains("127.0.0.1:\(port) is already in use"), "\(error)")
        #expect(!error.description.contains("errno"), "\(error)")
    }

    static func listenTCP() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        try #require(bound)
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func bindAndClose(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
    }
}
