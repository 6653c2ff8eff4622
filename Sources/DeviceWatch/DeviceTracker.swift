/// A pad appearing or going away.
public enum DeviceEvent: Hashable, Sendable {
    case attached(SerialDeviceInfo)
    case detached(SerialDeviceInfo)

    public var device: SerialDeviceInfo {
        switch self {
        case .attached(let device), .detached(let device): device
        }
    }
}

/// What the udev shell saw: a full enumeration, or one uevent.
public enum DeviceObservation: Hashable, Sendable {
    /// Everything that is present now (initial scan or periodic re-scan).
    case enumerated([SerialDeviceInfo])
    /// An `add` (or `change`/`bind`/`move`) uevent for a device, described as it is now.
    case added(SerialDeviceInfo)
    /// A `remove` uevent; by then sysfs is gone, so only the tty's sysfs path is known.
    case removed(syspath: String)
}

/// Which pads are present, as a pure state machine: observations in, attach/detach events out.
///
/// Pads are keyed by `DeviceIdentity`, so a pad that comes back under another ttyACM number is
/// the same pad. A pad whose path changed without a `remove` in between (missed uevents) is
/// reported detached at the old path, then attached at the new. Devices the filter rejects are
/// ignored. A uevent and the periodic re-scan may both report one change; it is reported once.
public struct DeviceTracker: Sendable {
    public let filter: PadFilter
    /// The pads present now, by identity.
    public private(set) var present: [DeviceIdentity: SerialDeviceInfo] = [:]

    public init(filter: PadFilter) {
        self.filter = filter
    }

    public mutating func handle(_ observation: DeviceObservation) -> [DeviceEvent] {
        switch observation {
        case .enumerated(let devices):
            let wanted = devices.filter(filter.matches)
            var now: [DeviceIdentity: SerialDeviceInfo] = [:]
            for device in wanted.sorted(by: { $0.path < $1.path }) where now[device.identity] == nil {
                now[device.identity] = device
            }
            var events: [DeviceEvent] = []
            for (identity, old) in present.sorted(by: { $0.value.path < $1.value.path }) {
                if let new = now[identity], new == old { continue }
                events.append(.detached(old))
            }
            for (identity, new) in now.sorted(by: { $0.value.path < $1.value.path }) {
                if let old = present[identity], old == new { continue }
                events.append(.attached(new))
            }
            present = now
            return events

        case .added(let device):
            guard filter.matches(device) else { return [] }
            let identity = device.identity
            if let old = present[identity] {
                if old == device { return [] }
                present[identity] = device
                return [.detached(old), .attached(device)]
            }
            // The same node reused by another pad (the old one's remove was missed).
            var events: [DeviceEvent] = []
            for (otherIdentity, other) in present where other.syspath == device.syspath && !device.syspath.isEmpty {
                present[otherIdentity] = nil
                events.append(.detached(other))
            }
            present[identity] = device
            events.append(.attached(device))
            return events

        case .removed(let syspath):
            guard let (identity, device) = present.first(where: { $0.value.syspath == syspath }) else { return [] }
            present[identity] = nil
            return [.detached(device)]
        }
    }
}
