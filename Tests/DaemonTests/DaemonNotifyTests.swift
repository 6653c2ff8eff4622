import Foundation
import Testing
@testable import Bridge

#if canImport(Glibc)
import Glibc
#endif

/// sd_notify's wire format, received on a datagram socket the way systemd receives it.
@Suite struct DaemonNotifyTests {
    @Test func readyAndWatchdogArriveAsDatagrams() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)

        let notify = DaemonNotify(environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"])
        #expect(notify.isActive)
        #expect(notify.watchdogInterval == .seconds(10))
        notify.ready(status: "1 terminal online")
        notify.watchdog()

        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            return String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
        }
        #expect(receive() == "READY=1\nSTATUS=1 terminal online")
        #expect(receive() == "WATCHDOG=1")
    }

    @Test func withoutNotifySocketNothingIsSent() {
        let notify = DaemonNotify(environment: [:])
        #expect(!notify.isActive)
        #expect(notify.watchdogInterval == nil)
        #expect(!notify.send("READY=1"))
    }

    @Test func watchdogForAnotherProcessIsIgnored() {
        let notify = DaemonNotify(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"])
        #expect(getpid() == 1 || notify.watchdogInterval == nil)
    }
}
