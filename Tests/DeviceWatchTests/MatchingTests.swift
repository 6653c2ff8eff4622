import XCTest

@testable import DeviceWatch

final class USBIDTests: XCTestCase {
    func testParsesTheWaysPeopleWriteIt() {
        XCTAssertEqual(USBID("1209:0001"), USBID(vendor: 0x1209, product: 0x0001))
        XCTAssertEqual(USBID("0x0403:0x6001"), USBID(vendor: 0x0403, product: 0x6001))
        XCTAssertEqual(USBID("1a86:7523"), USBID(vendor: 0x1A86, product: 0x7523))
        XCTAssertEqual(USBID("1A86:7523"), USBID(vendor: 0x1A86, product: 0x7523))
        XCTAssertEqual(USBID(vendor: "1209\n", product: "0001\n"), USBID.referencePad)
        XCTAssertEqual(USBID(vendor: 0x1209, product: 0x1).description, "1209:0001")
    }

    func testRejectsMalformedIDs() {
        for text in ["", "1209", "1209:", ":0001", "12090:0001", "1209:0001:1", "gggg:0001", "1209-0001", "-1:2"] {
            XCTAssertNil(USBID(text), text)
        }
        XCTAssertNil(USBID(vendor: nil, product: "0001"))
        XCTAssertThrowsError(try PadFilter(idStrings: ["1209:0001", "nope"])) { error in
            XCTAssertEqual(error as? PadFilterError, PadFilterError(text: "nope"))
            XCTAssertTrue("\(error)".contains("like 1209:0001"))
        }
    }

    func testCodableAsText() throws {
        let data = try JSONEncoder().encode([USBID.referencePad])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["1209:0001"]"#)
        XCTAssertEqual(try JSONDecoder().decode([USBID].self, from: data), [.referencePad])
        XCTAssertThrowsError(try JSONDecoder().decode([USBID].self, from: Data(#"["x"]"#.utf8)))
    }
}

/// A USB tty as udev would describe it.
func pad(
    _ node: String, serial: String? = "NGP-1", id: USBID = .referencePad, port: String = "1-2"
) -> SerialDeviceInfo {
    let usbPath = "/devices/pci0000:00/0000:00:14.0/usb1/\(port)"
    return SerialDeviceInfo(
        path: "/dev/\(node)", syspath: "/sys\(usbPath)/\(port):1.0/tty/\(node)",
        usb: USBDeviceInfo(id: id, serial: serial, manufacturer: "Netgiro Reference", product: "PIN Pad", devpath: usbPath),
        driver: "cdc_acm")
}

final class PadFilterTests: XCTestCase {
    func testMatchesByIDAndSerial() {
        let reference = pad("ttyACM0")
        let ftdi = pad("ttyUSB0", serial: "A50285BI", id: USBID("0403:6001")!)
        XCTAssertTrue(PadFilter.supportedPads.matches(reference))
        XCTAssertFalse(PadFilter.supportedPads.matches(ftdi))
        XCTAssertTrue(PadFilter(ids: [.referencePad, USBID("0403:6001")!]).matches(ftdi))
        XCTAssertTrue(PadFilter(serials: ["A50285BI"]).matches(ftdi))
        XCTAssertFalse(PadFilter(serials: ["A50285BI"]).matches(reference))
        XCTAssertFalse(PadFilter(ids: [.referencePad], serials: ["other"]).matches(reference))
        XCTAssertFalse(PadFilter(serials: ["x"]).matches(pad("ttyACM1", serial: nil)))
        XCTAssertTrue(PadFilter.anyUSBDevice.matches(ftdi))
    }

    func testNonUSBLinesNeverMatch() {
        XCTAssertFalse(PadFilter.anyUSBDevice.matches(.explicit(path: "/tmp/ttyPad")))
        XCTAssertFalse(PadFilter.supportedPads.matches(.explicit(path: "/dev/ttyS0")))
    }
}

final class IdentityTests: XCTestCase {
    func testSerialNumberSurvivesANewNodeAndPort() {
        XCTAssertEqual(pad("ttyACM0", port: "1-2").identity, pad("ttyACM3", port: "3-1").identity)
        XCTAssertEqual(pad("ttyACM0").identity.description, "usb:1209:0001:NGP-1")
    }

    func testWithoutSerialThePortNamesIt() {
        XCTAssertEqual(pad("ttyACM0", serial: nil, port: "1-2").identity, pad("ttyACM1", serial: nil, port: "1-2").identity)
        XCTAssertNotEqual(pad("ttyACM0", serial: nil, port: "1-2").identity, pad("ttyACM0", serial: nil, port: "1-3").identity)
        XCTAssertEqual(pad("ttyACM0", serial: "").identity, pad("ttyACM0", serial: nil).identity)
        XCTAssertEqual(SerialDeviceInfo.explicit(path: "/tmp/ttyPad").identity, .path("/tmp/ttyPad"))
    }
}

final class DeviceTrackerTests: XCTestCase {
    func testInitialScanAttachesOnlyMatchingPads() {
        var tracker = DeviceTracker(filter: .supportedPads)
        let other = pad("ttyUSB0", serial: "X", id: USBID("0403:6001")!)
        XCTAssertEqual(tracker.handle(.enumerated([pad("ttyACM0"), other])), [.attached(pad("ttyACM0"))])
        XCTAssertEqual(tracker.handle(.enumerated([pad("ttyACM0"), other])), [], "a re-scan with no change says nothing")
    }

    func testReplugUnderAnotherNumberIsTheSamePad() {
        var tracker = DeviceTracker(filter: .supportedPads)
        XCTAssertEqual(tracker.handle(.added(pad("ttyACM0"))), [.attached(pad("ttyACM0"))])
        XCTAssertEqual(tracker.handle(.removed(syspath: pad("ttyACM0").syspath)), [.detached(pad("ttyACM0"))])
        let back = pad("ttyACM1", port: "1-3")
        XCTAssertEqual(tracker.handle(.added(back)), [.attached(back)])
        XCTAssertEqual(tracker.present[back.identity], back)
        XCTAssertEqual(back.identity, pad("ttyACM0").identity)
    }

    func testMissedRemoveIsRepairedByTheNextAdd() {
        var tracker = DeviceTracker(filter: .supportedPads)
        _ = tracker.handle(.added(pad("ttyACM0")))
        let back = pad("ttyACM1")
        XCTAssertEqual(tracker.handle(.added(back)), [.detached(pad("ttyACM0")), .attached(back)])
    }

    func testMissedEventsAreRepairedByTheRescan() {
        var tracker = DeviceTracker(filter: .supportedPads)
        let a = pad("ttyACM0", serial: "A")
        let b = pad("ttyACM1", serial: "B", port: "1-3")
        XCTAssertEqual(tracker.handle(.enumerated([a])), [.attached(a)])
        // a was unplugged and b plugged in while no events came through.
        XCTAssertEqual(tracker.handle(.enumerated([b])), [.detached(a), .attached(b)])
        XCTAssertEqual(tracker.handle(.enumerated([])), [.detached(b)])
        XCTAssertTrue(tracker.present.isEmpty)
    }

    func testDuplicateReportsAreReportedOnce() {
        var tracker = DeviceTracker(filter: .supportedPads)
        XCTAssertEqual(tracker.handle(.added(pad("ttyACM0"))).count, 1)
        XCTAssertEqual(tracker.handle(.added(pad("ttyACM0"))), [], "a change event repeats the add")
        XCTAssertEqual(tracker.handle(.enumerated([pad("ttyACM0")])), [])
        XCTAssertEqual(tracker.handle(.removed(syspath: pad("ttyACM0").syspath)).count, 1)
        XCTAssertEqual(tracker.handle(.removed(syspath: pad("ttyACM0").syspath)), [])
        XCTAssertEqual(tracker.handle(.enumerated([])), [])
    }

    func testNodeReusedByAnotherPadDetachesTheOldOne() {
        var tracker = DeviceTracker(filter: .supportedPads)
        let first = pad("ttyACM0", serial: "A")
        let second = pad("ttyACM0", serial: "B")
        _ = tracker.handle(.added(first))
        XCTAssertEqual(tracker.handle(.added(second)), [.detached(first), .attached(second)])
    }

    func testIgnoresDevicesTheFilterRejects() {
        var tracker = DeviceTracker(filter: .supportedPads)
        let other = pad("ttyUSB0", serial: "X", id: USBID("0403:6001")!)
        XCTAssertEqual(tracker.handle(.added(other)), [])
        XCTAssertEqual(tracker.handle(.removed(syspath: other.syspath)), [])
        XCTAssertEqual(tracker.handle(.removed(syspath: "/sys/devices/virtual/tty/tty1")), [])
    }
}

final class ListingTests: XCTestCase {
    func testTableAndJSONSayWhatMatchesAndWhatToDo() {
        let candidates = [
            DeviceCandidate(device: pad("ttyACM0"), filter: .supportedPads, canOpen: false),
            DeviceCandidate(device: pad("ttyUSB0", serial: nil, id: USBID("0403:6001")!), filter: .supportedPads, canOpen: true),
        ]
        let table = DeviceListing.table(candidates, filter: .supportedPads)
        XCTAssertTrue(table.contains("/dev/ttyACM0  1209:0001  NGP-1"), table)
        XCTAssertTrue(table.contains("group `netgiro-pinpad`"), table)
        XCTAssertTrue(table.contains("Looking for: VID:PID 1209:0001"), table)
        let json = DeviceListing.json(candidates)
        XCTAssertTrue(json.contains(#""vidpid" : "1209:0001""#), json)
        XCTAssertTrue(json.contains(#""can_open" : false"#), json)
        XCTAssertTrue(json.contains(#""path" : "/dev/ttyACM0""#), json)
        XCTAssertEqual(DeviceListing.json([]), "[]")
        XCTAssertTrue(DeviceListing.table([], filter: .supportedPads).contains("No USB serial devices found"))
    }
}
