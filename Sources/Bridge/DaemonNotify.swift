import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// systemd's notify protocol without libsystemd: one datagram per message to the unix socket
/// named by `NOTIFY_SOCKET` (sd_notify(3)). `READY=1` once the till API listens, `WATCHDOG=1`
/// every half `WATCHDOG_USEC`, `STOPPING=1` when draining, `STATUS=…` for `systemctl status`.
/// Does nothing when `NOTIFY_SOCKET` is unset (not started by systemd with `Type=notify`).
public struct DaemonNotify: Sendable {
    public let socketPath: String?
    /// Half the watchdog period systemd asked for, when it asked (`WATCHDOG_USEC`, and
    /// `WATCHDOG_PID` naming this process if set).
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        var path = environment["NOTIFY_SOCKET"]
        if let p = path, p.isEmpty { path = nil }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    public var isActive: Bool { socketPath != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }
    public func status(_ text: String) { send("STATUS=\(text)") }
    public func watchdog() { send("WATCHDOG=1") }

    /// Sends one datagram (sendto(2) on an AF_UNIX SOCK_DGRAM socket). An abstract socket
    /// (`@name`) is addressed with a leading NUL. Failures are ignored, as sd_notify's callers do.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, length) }
            }
        }
        return sent == bytes.count
    }
}
