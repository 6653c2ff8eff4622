import CUmockdev
import Foundation
import XCTest

/// A umockdev testbed: a fake /sys and /dev for this process, with uevents on demand.
///
/// Only works with umockdev's preload library active, i.e. under
/// `umockdev-wrapper swift test --filter DeviceWatchTests`. Elsewhere `Testbed.make()` skips.
final class Testbed {
    private let raw: UnsafeMutablePointer<UMockdevTestbed>

    /// Skips the calling test, with the command to run, unless the preload library is active.
    /// (`umockdev_in_mock_environment()` is not a reliable check; LD_PRELOAD is.)
    static func make() throws -> Testbed {
        let preload = ProcessInfo.processInfo.environment["LD_PRELOAD"] ?? ""
        guard preload.contains("libumockdev-preload") else {
            throw XCTSkip(
                "needs umockdev's preload library: run `umockdev-wrapper swift test --filter DeviceWatchTests` "
                    + "(Debian packages umockdev, libumockdev-dev)")
        }
        return Testbed(raw: umockdev_testbed_new())
    }

    private init(raw: UnsafeMutablePointer<UMockdevTestbed>) {
        self.raw = raw
    }

    deinit {
        g_object_unref(UnsafeMutableRawPointer(raw))
    }

    /// Adds devices from umockdev's text format (blocks of P:/N:/E:/A:/L: lines, the device
    /// first, then its parents), parents first, one block at a time.
    ///
    /// umockdev sends an `add` uevent for each device as it creates it. Given the whole text at
    /// once it may create the tty while its USB parent's attributes are still being written, so
    /// a watcher could read a half-made parent — something a real kernel never shows, since a
    /// USB device is complete before its interfaces' ttys appear.
    func add(_ description: String) throws {
        let blocks = description.components(separatedBy: "\n\n").filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        for block in blocks.reversed() { try addBlock(block + "\n") }
    }

    private func addBlock(_ description: String) throws {
        var error: UnsafeMutablePointer<GError>? = nil
        if umockdev_testbed_add_from_string(raw, description, &error) == 0 {
            let message = error.map { String(cString: $0.pointee.message) } ?? "unknown error"
            if let error { g_error_free(error) }
            throw TestbedError(message: "cannot add fake device: \(message)")
        }
    }

    /// Sends a uevent (`add`, `remove`, `change`) for the device at this sysfs path.
    func uevent(_ action: String, _ syspath: String) {
        umockdev_testbed_uevent(raw, syspath, action)
    }

    /// Removes a device and its sysfs directory.
    func remove(_ syspath: String) {
        umockdev_testbed_remove_device(raw, syspath)
    }
}

struct TestbedError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The reference pad as `/dev/ttyACM0` on USB port 1-2 (serial NGP-TEST-0001).
    static func pad() throws -> String {
        try String(contentsOf: directory.appendingPathComponent("pad.umockdev"), encoding: .utf8)
    }

    /// The same pad replugged: same serial, now `/dev/ttyACM<number>` on another port.
    static func pad(asACM number: Int, port: String) throws -> String {
        try pad()
            .replacingOccurrences(of: "ttyACM0", with: "ttyACM\(number)")
            .replacingOccurrences(of: "MINOR=0", with: "MINOR=\(number)")
            .replacingOccurrences(of: "dev=166:0", with: "dev=166:\(number)")
            .replacingOccurrences(of: "usb1/1-2/1-2:1.0", with: "usb1/\(port)/\(port):1.0")
            .replacingOccurrences(of: "usb1/1-2\n", with: "usb1/\(port)\n")
    }

    static func ttySyspath(acm number: Int, port: String) -> String {
        "/sys/devices/pci0000:00/0000:00:14.0/usb1/\(port)/\(port):1.0/tty/ttyACM\(number)"
    }

    static func usbSyspath(port: String) -> String {
        "/sys/devices/pci0000:00/0000:00:14.0/usb1/\(port)"
    }
}
