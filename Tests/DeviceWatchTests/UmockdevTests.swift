import Foundation
import XCTest

@testable import DeviceWatch

/// Enumeration and hotplug against fake devices. Run with
/// `umockdev-wrapper swift test --filter DeviceWatchTests`; skipped otherwise.
final class UmockdevTests: XCTestCase {
    func testEnumerationFindsTheFakePadWithItsIDs() throws {
        let testbed = try Testbed.make()
        try testbed.add(try Fixture.pad())

        let candidates = try DeviceListing.candidates(filter: .supportedPads)
        let pad = try XCTUnwrap(candidates.first { $0.path == "/dev/ttyACM0" }, "found: \(candidates)")
        XCTAssertEqual(pad.usbID, USBID("1209:0001"))
        XCTAssertEqual(pad.serial, "NGP-TEST-0001")
        XCTAssertEqual(pad.product, "PIN Pad (reference firmware)")
        XCTAssertTrue(pad.matches)
        XCTAssertEqual(pad.identity, "usb:1209:0001:NGP-TEST-0001")

        let other = try DeviceListing.candidates(filter: PadFilter(ids: [USBID("0403:6001")!]))
        XCTAssertEqual(other.first { $0.path == "/dev/ttyACM0" }?.matches, false)
    }

    func testUeventsReachTheWatcherAndAReplugIsTheSamePad() async throws {
        try await unplugAndReplug(source: nil)
    }

    func testUeventsFromTheUdevSource() async throws {
        try await unplugAndReplug(source: .udev)
    }

    func testUeventsFromTheKernelSource() async throws {
        try await unplugAndReplug(source: .kernel)
    }

    private func unplugAndReplug(source: HotplugSource?) async throws {
        let testbed = try Testbed.make()
        // A long rescan interval: what follows must arrive by uevent.
        let watcher = try DeviceWatcher(filter: .supportedPads, source: source, rescanInterval: 600)
        defer { watcher.stop() }
        var events = watcher.events.makeAsyncIterator()

        try testbed.add(try Fixture.pad())
        testbed.uevent("add", Fixture.ttySyspath(acm: 0, port: "1-2"))
        let attached = try await next(&events, "attach of ttyACM0")
        guard case .attached(let first) = attached else { return XCTFail("got \(attached)") }
        XCTAssertEqual(first.path, "/dev/ttyACM0")
        XCTAssertEqual(first.usb?.id, .referencePad)
        XCTAssertEqual(first.usb?.serial, "NGP-TEST-0001")

        // Unplug: the remove uevent comes while sysfs still has the device, then it goes.
        testbed.uevent("remove", Fixture.ttySyspath(acm: 0, port: "1-2"))
        testbed.remove(Fixture.ttySyspath(acm: 0, port: "1-2"))
        testbed.remove(Fixture.usbSyspath(port: "1-2"))
        let detached = try await next(&events, "detach of ttyACM0")
        XCTAssertEqual(detached, .detached(first))

        // Replug into another port; it comes back as ttyACM1.
        try testbed.add(try Fixture.pad(asACM: 1, port: "1-3"))
        testbed.uevent("add", Fixture.ttySyspath(acm: 1, port: "1-3"))
        let reattached = try await next(&events, "attach of ttyACM1")
        guard case .attached(let second) = reattached else { return XCTFail("got \(reattached)") }
        XCTAssertEqual(second.path, "/dev/ttyACM1")
        XCTAssertEqual(second.identity, first.identity, "the replugged pad must be recognised")
        XCTAssertEqual(watcher.present, [second])
    }

    /// The next watcher event, failing after a generous guard time instead of hanging.
    private func next(
        _ events: inout AsyncStream<DeviceEvent>.Iterator, _ what: String, seconds: Double = 30
    ) async throws -> DeviceEvent {
        let box = IteratorBox(events)
        let event = try await withThrowingTaskGroup(of: DeviceEvent?.self) { group in
            group.addTask { await box.next() }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        events = box.iterator
        guard let event else { throw TestbedError(message: "no \(what) within \(Int(seconds)) s") }
        return event
    }
}

/// Lets a test wait for the next event from a task group.
private final class IteratorBox: @unchecked Sendable {
    var iterator: AsyncStream<DeviceEvent>.Iterator
    init(_ iterator: AsyncStream<DeviceEvent>.Iterator) { self.iterator = iterator }
    func next() async -> DeviceEvent? { await iterator.next() }
}
