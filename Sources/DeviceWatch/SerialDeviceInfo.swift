/// What is known about one serial device (a `tty` in sysfs), gathered from udev or sysfs.
public struct SerialDeviceInfo: Hashable, Sendable, Codable {
    /// The device node, e.g. `/dev/ttyACM0`.
    public var path: String
    /// The tty's sysfs path, e.g. `/sys/devices/pci0000:00/…/tty/ttyACM0`.
    public var syspath: String
    /// The USB device this tty belongs to, if it is on USB.
    public var usb: USBDeviceInfo?
    /// The kernel driver of the interface (`cdc_acm`, `ftdi_sio`, …), if known.
    public var driver: String?

    public init(path: String, syspath: String, usb: USBDeviceInfo?, driver: String?) {
        self.path = path
        self.syspath = syspath
        self.usb = usb
        self.driver = driver
    }

    /// A device given by path alone (a simulator's pty, a fixed `device.path`), with no udev.
    public static func explicit(path: String) -> SerialDeviceInfo {
        SerialDeviceInfo(path: path, syspath: "", usb: nil, driver: nil)
    }

    /// Who this device is, stable across replugs: its USB ID and serial number when it has
    /// one; otherwise the USB port it hangs off (its USB device's devpath); otherwise its path.
    public var identity: DeviceIdentity {
        if let usb {
            if let serial = usb.serial, !serial.isEmpty { return .usbSerial(usb.id, serial) }
            if !usb.devpath.isEmpty { return .usbPort(usb.devpath) }
        }
        return .path(syspath.isEmpty ? path : syspath)
    }
}

/// The USB device behind a tty.
public struct USBDeviceInfo: Hashable, Sendable, Codable {
    public var id: USBID
    /// `ID_SERIAL_SHORT` or sysfs `serial`; nil if the device has none.
    public var serial: String?
    public var manufacturer: String?
    public var product: String?
    /// The USB device's path below `/sys` (e.g. `/devices/pci0000:00/…/usb1/1-2`): names the port.
    public var devpath: String

    public init(id: USBID, serial: String?, manufacturer: String?, product: String?, devpath: String) {
        self.id = id
        self.serial = serial
        self.manufacturer = manufacturer
        self.product = product
        self.devpath = devpath
    }
}

/// A stable name for a pad, so that one coming back as another ttyACM number is recognised.
public enum DeviceIdentity: Hashable, Sendable, Codable, CustomStringConvertible {
    /// USB vendor:product and the device's serial number: survives replugging into any port.
    case usbSerial(USBID, String)
    /// A USB device without a serial number, named by the port it is plugged into.
    case usbPort(String)
    /// Anything else, named by its path.
    case path(String)

    public var description: String {
        switch self {
        case .usbSerial(let id, let serial): "usb:\(id):\(serial)"
        case .usbPort(let devpath): "usb-port:\(devpath)"
        case .path(let path): "path:\(path)"
        }
    }
}
