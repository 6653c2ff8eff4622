import CUdev

#if canImport(Glibc)
import Glibc
#endif

/// A failure to talk to udev or the kernel's device events, with what to do about it.
public struct DeviceWatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "error \(errno)"
        return "cannot \(operation): \(text) — device discovery needs /sys (and netlink for hotplug); "
            + "give the pad's path explicitly (device.path) to run without it"
    }
}

/// A libudev context (`struct udev`). Not thread-safe: use each instance, and everything made
/// from it, on one thread at a time.
final class UdevContext {
    let raw: OpaquePointer

    /// Stands for `udev_new()`.
    init() throws(DeviceWatchError) {
        guard let raw = udev_new() else { throw DeviceWatchError(operation: "start libudev", errno: errno) }
        self.raw = raw
    }

    deinit { udev_unref(raw) }

    /// Every `tty` device that has a node and sits on USB. Stands for `udev_enumerate_new`,
    /// `udev_enumerate_add_match_subsystem("tty")`, `udev_enumerate_scan_devices` and
    /// `udev_device_new_from_syspath` for each entry.
    func serialDevices() throws(DeviceWatchError) -> [SerialDeviceInfo] {
        guard let enumerate = udev_enumerate_new(raw) else {
            throw DeviceWatchError(operation: "enumerate serial devices", errno: errno)
        }
        defer { udev_enumerate_unref(enumerate) }
        udev_enumerate_add_match_subsystem(enumerate, "tty")
        let status = udev_enumerate_scan_devices(enumerate)
        if status < 0 { throw DeviceWatchError(operation: "enumerate serial devices", errno: -status) }
        var devices: [SerialDeviceInfo] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let syspath = udev_list_entry_get_name(current), let device = udev_device_new_from_syspath(raw, syspath) {
                if let info = Self.describe(device) { devices.append(info) }
                udev_device_unref(device)
            }
            entry = udev_list_entry_get_next(current)
        }
        return devices.sorted { $0.path < $1.path }
    }

    /// Describes a tty `udev_device`, or nil if it has no node or is not on USB.
    ///
    /// IDs come from udev's database (`ID_VENDOR_ID`, `ID_MODEL_ID`, `ID_SERIAL_SHORT`) where
    /// udevd runs; otherwise from the parent `usb`/`usb_device`'s sysfs attributes (`idVendor`,
    /// `idProduct`, `serial`, `manufacturer`, `product`).
    static func describe(_ device: OpaquePointer) -> SerialDeviceInfo? {
        guard let node = string(udev_device_get_devnode(device)), let syspath = string(udev_device_get_syspath(device)) else {
            return nil
        }
        guard let usbDevice = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_device") else { return nil }
        func property(_ name: String) -> String? { nonEmpty(string(udev_device_get_property_value(device, name))) }
        func attribute(_ name: String) -> String? { nonEmpty(string(udev_device_get_sysattr_value(usbDevice, name))) }

        let id =
            USBID(vendor: property("ID_VENDOR_ID"), product: property("ID_MODEL_ID"))
            ?? USBID(vendor: attribute("idVendor"), product: attribute("idProduct"))
        guard let id else { return nil }
        let serial = property("ID_SERIAL_SHORT") ?? attribute("serial")
        let manufacturer = attribute("manufacturer") ?? property("ID_VENDOR")
        let product = attribute("product") ?? property("ID_MODEL")
        let devpath = string(udev_device_get_devpath(usbDevice)) ?? ""
        var driver = property("ID_USB_DRIVER")
        if driver == nil, let interface = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_interface") {
            driver = nonEmpty(string(udev_device_get_driver(interface)))
                ?? nonEmpty(string(udev_device_get_property_value(interface, "DRIVER")))
        }
        return SerialDeviceInfo(
            path: node, syspath: syspath,
            usb: USBDeviceInfo(id: id, serial: serial, manufacturer: manufacturer, product: product, devpath: devpath),
            driver: driver)
    }

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingCharacters(in: " \n\t"), !trimmed.isEmpty else { return nil }
        return trimmed
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var view = Substring(self)
        while let first = view.first, set.contains(first) { view = view.dropFirst() }
        while let last = view.last, set.contains(last) { view = view.dropLast() }
        return String(view)
    }
}

/// Where hotplug events come from.
public enum HotplugSource: String, Sendable, Codable {
    /// udevd's processed events (IDs and symlinks filled in): where udevd runs.
    case udev
    /// The kernel's raw uevents: where no udevd runs (containers, minimal systems).
    case kernel

    /// `udev` when udevd's control socket `/run/udev/control` exists, else `kernel` — a monitor
    /// on the `udev` source receives nothing without udevd.
    public static func detect() -> HotplugSource {
        access("/run/udev/control", F_OK) == 0 ? .udev : .kernel
    }
}

/// A libudev monitor (`struct udev_monitor`) for `tty` devices.
final class UdevMonitor {
    let context: UdevContext
    let raw: OpaquePointer

    /// Stands for `udev_monitor_new_from_netlink`, `udev_monitor_filter_add_match_subsystem_devtype("tty")`
    /// and `udev_monitor_enable_receiving`.
    init(context: UdevContext, source: HotplugSource) throws(DeviceWatchError) {
        self.context = context
        guard let raw = udev_monitor_new_from_netlink(context.raw, source.rawValue) else {
            throw DeviceWatchError(operation: "listen for \(source.rawValue) device events", errno: errno)
        }
        self.raw = raw
        udev_monitor_filter_add_match_subsystem_devtype(raw, "tty", nil)
        let status = udev_monitor_enable_receiving(raw)
        if status < 0 {
            udev_monitor_unref(raw)
            throw DeviceWatchError(operation: "listen for \(source.rawValue) device events", errno: -status)
        }
    }

    deinit { udev_monitor_unref(raw) }

    /// The socket to `poll(2)` for readability. Stands for `udev_monitor_get_fd`.
    var descriptor: Int32 { udev_monitor_get_fd(raw) }

    /// The next pending event as an observation, or nil when none is waiting (the socket is
    /// non-blocking). Events about devices that are not candidates come back as `.skip`.
    /// Stands for `udev_monitor_receive_device`.
    func receive() -> Received? {
        guard let device = udev_monitor_receive_device(raw) else { return nil }
        defer { udev_device_unref(device) }
        let action = udev_device_get_action(device).map { String(cString: $0) } ?? "add"
        if action == "remove" {
            guard let syspath = udev_device_get_syspath(device) else { return .skip }
            return .observation(.removed(syspath: String(cString: syspath)))
        }
        guard let info = UdevContext.describe(device) else { return .skip }
        return .observation(.added(info))
    }

    enum Received {
        case observation(DeviceObservation)
        case skip
    }
}
