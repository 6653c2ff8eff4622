import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One line of `ngbridge devices`: a USB serial device, whether it passes the filter, and
/// whether this user may open it.
public struct DeviceCandidate: Hashable, Sendable, Codable {
    public var path: String
    public var usbID: USBID?
    public var serial: String?
    public var manufacturer: String?
    public var product: String?
    public var driver: String?
    public var identity: String
    /// Whether the configured filter accepts it.
    public var matches: Bool
    /// Whether this user has read and write permission on the node (`access(R_OK|W_OK)`).
    /// Says nothing about another process holding it.
    public var canOpen: Bool

    public init(device: SerialDeviceInfo, filter: PadFilter, canOpen: Bool) {
        path = device.path
        usbID = device.usb?.id
        serial = device.usb?.serial
        manufacturer = device.usb?.manufacturer
        product = device.usb?.product
        driver = device.driver
        identity = device.identity.description
        matches = filter.matches(device)
        self.canOpen = canOpen
    }

    enum CodingKeys: String, CodingKey {
        case path, usbID = "vidpid", serial, manufacturer, product, driver, identity, matches, canOpen = "can_open"
    }
}

/// The work behind `ngbridge devices`.
public enum DeviceListing {
    /// Every USB serial device present, matched against `filter`.
    public static func candidates(filter: PadFilter) throws(DeviceWatchError) -> [DeviceCandidate] {
        let context = try UdevContext()
        return try context.serialDevices().map {
            DeviceCandidate(device: $0, filter: filter, canOpen: access($0.path, R_OK | W_OK) == 0)
        }
    }

    /// Candidates as JSON: an array of objects with `path`, `vidpid`, `serial`, `manufacturer`,
    /// `product`, `driver`, `identity`, `matches`, `can_open` (absent values are omitted).
    public static func json(_ candidates: [DeviceCandidate]) -> String {
        if candidates.isEmpty { return "[]" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(candidates) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Candidates as an aligned table for people, followed by hints for what is missing.
    public static func table(_ candidates: [DeviceCandidate], filter: PadFilter) -> String {
        let filterText = describe(filter)
        guard !candidates.isEmpty else {
            return "No USB serial devices found. Is the PIN pad plugged in and switched on? "
                + "(`lsusb` shows USB devices; `dmesg` shows whether a driver took it.)\n"
                + "Looking for: \(filterText)\n"
        }
        let header = ["PATH", "VID:PID", "SERIAL", "PRODUCT", "MATCH", "ACCESS"]
        let rows = candidates.map { c in
            [
                c.path, c.usbID?.description ?? "-", c.serial ?? "-",
                [c.manufacturer, c.product].compactMap { $0 }.joined(separator: " ").ifEmpty("-"),
                c.matches ? "yes" : "no", c.canOpen ? "ok" : "denied",
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
        var text = ([header] + rows).map(line).joined(separator: "\n") + "\n"
        text += "Looking for: \(filterText)\n"
        if !candidates.contains(where: \.matches) {
            text += "No device matches. If one of these is the pad, add its ID with --match VID:PID "
                + "(and to udev/70-netgiro-pinpad.rules).\n"
        }
        if candidates.contains(where: { $0.matches && !$0.canOpen }) {
            text += "Access denied on a matching pad: install udev/70-netgiro-pinpad.rules and add the user "
                + "to group `netgiro-pinpad`, then log in again.\n"
        }
        return text
    }

    static func describe(_ filter: PadFilter) -> String {
        var parts: [String] = []
        parts.append(filter.ids.isEmpty ? "any VID:PID" : "VID:PID " + filter.ids.map(\.description).joined(separator: ", "))
        if !filter.serials.isEmpty { parts.append("serial " + filter.serials.joined(separator: ", ")) }
        return parts.joined(separator: "; ")
    }
}

extension String {
    fileprivate func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
