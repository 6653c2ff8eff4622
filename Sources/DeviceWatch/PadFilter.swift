/// Which serial devices are PIN pads this bridge should drive.
///
/// A device matches when its USB VID:PID is in `ids` (or `ids` is empty) and its USB serial
/// number is in `serials` (or `serials` is empty). A device that is not on USB never matches:
/// such a line (a simulator's pty) is given by explicit path instead. The empty filter is
/// spelled `PadFilter.anyUSBDevice` to make that choice visible.
public struct PadFilter: Hashable, Sendable, Codable {
    public var ids: [USBID]
    public var serials: [String]

    public init(ids: [USBID] = [], serials: [String] = []) {
        self.ids = ids
        self.serials = serials
    }

    /// The pads the bridge supports out of the box: the reference firmware's ID.
    public static let supportedPads = PadFilter(ids: [.referencePad])

    /// Every USB serial device, whatever its IDs: for listing, never for driving.
    public static let anyUSBDevice = PadFilter()

    /// Parses `VID:PID` strings, reporting the first malformed one.
    public init(idStrings: [String], serials: [String] = []) throws(PadFilterError) {
        var ids: [USBID] = []
        for text in idStrings {
            guard let id = USBID(text) else { throw PadFilterError(text: text) }
            ids.append(id)
        }
        self.init(ids: ids, serials: serials)
    }

    public func matches(_ device: SerialDeviceInfo) -> Bool {
        guard let usb = device.usb else { return false }
        if !ids.isEmpty && !ids.contains(usb.id) { return false }
        if !serials.isEmpty {
            guard let serial = usb.serial, serials.contains(serial) else { return false }
        }
        return true
    }
}

/// A VID:PID that could not be read.
public struct PadFilterError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var description: String {
        "“\(text)” is not a USB ID — write vendor and product as four hex digits each, like 1209:0001 (as `lsusb` shows them)"
    }
}
