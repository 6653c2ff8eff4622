import Common
import Foundation
import XCTest

@testable import SerialLine

#if canImport(Glibc)
import Glibc
#endif

final class SerialPortTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func linkPath(_ name: String = "pad") -> String {
        directory.appendingPathComponent(name).path
    }

    func testLineSettingsAreAppliedAndReadBack() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        // Start from a cooked, flow-controlled, 7E2 line so every setting has to change.
        var cooked = try TerminalAttributes.read(from: pty.device)
        cooked.localFlags |= tcflag_t(ICANON) | tcflag_t(ECHO) | tcflag_t(ISIG)
        cooked.outputFlags |= tcflag_t(OPOST)
        cooked.inputFlags |= tcflag_t(ICRNL) | tcflag_t(IXON)
        cooked.controlFlags = (cooked.controlFlags & ~tcflag_t(CSIZE)) | tcflag_t(CS7) | tcflag_t(PARENB)
            | tcflag_t(CSTOPB) | tcflag_t(CRTSCTS) | tcflag_t(HUPCL)
        try cooked.setSpeed(.b9600)
        try cooked.apply(to: pty.device)

        let port = try SerialPort.open(linkPath(), configuration: SerialConfiguration(baudRate: .b57600))
        // Read back both through the line and through an independent descriptor.
        for attributes in [try port.terminalAttributes(), try TerminalAttributes.read(from: pty.device)] {
            XCTAssertTrue(attributes.isRaw)
            XCTAssertTrue(attributes.is8N1)
            XCTAssertTrue(attributes.hasNoFlowControl)
            XCTAssertEqual(attributes.speed, .b57600)
            XCTAssertNotEqual(attributes.controlFlags & tcflag_t(CLOCAL), 0)
            XCTAssertNotEqual(attributes.controlFlags & tcflag_t(CREAD), 0)
            XCTAssertEqual(attributes.controlFlags & tcflag_t(HUPCL), 0)
            XCTAssertEqual(attributes.minimumReadCount, 1)
            XCTAssertEqual(attributes.readTimeoutDeciseconds, 0)
        }
        // A pty has no modem lines: not an error, just reported.
        XCTAssertFalse(port.hasModemLines)
        XCTAssertNil(try port.modemLines())
        await port.close()
    }

    func testSecondOpenerIsRefusedWithAClearError() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let first = try SerialPort.open(linkPath())
        XCTAssertThrowsError(try SerialPort.open(pty.devicePath)) { error in
            guard let error = error as? SerialLineError, case .busy(let holders) = error.reason else {
                return XCTFail("expected a busy error, got \(error)")
            }
            // The holder is this very process (another open file in it).
            XCTAssertTrue(holders.contains { $0.pid == getpid() }, "holders: \(holders)")
            XCTAssertTrue(error.description.contains("in use by PID \(getpid())"), error.description)
            XCTAssertTrue(error.description.contains("stop that program"), error.description)
        }
        await first.close()
        // Once released, the line can be opened again (TIOCEXCL cleared, lock gone).
        let again = try SerialPort.open(linkPath())
        await again.close()
    }

    func testErrorsSayWhatToDo() throws {
        XCTAssertThrowsError(try SerialPort.open(directory.appendingPathComponent("nothing-here").path)) { error in
            let error = error as! SerialLineError
            XCTAssertEqual(error.reason, .noSuchDevice)
            XCTAssertTrue(error.description.contains("is it plugged in?"), error.description)
            XCTAssertTrue(error.description.contains("ngbridge devices"), error.description)
        }

        let file = directory.appendingPathComponent("regular").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        XCTAssertThrowsError(try SerialPort.open(file)) { error in
            let error = error as! SerialLineError
            XCTAssertEqual(error.reason, .notASerialDevice("a regular file"))
            XCTAssertTrue(error.description.contains("not a serial device"), error.description)
        }

        XCTAssertThrowsError(try SerialPort.open("/dev/null")) { error in
            let error = error as! SerialLineError
            XCTAssertEqual(error.reason, .notASerialDevice("it has no line settings"))
        }

        let denied = SerialLineError(path: "/dev/ttyACM0", operation: "open", reason: .permissionDenied)
        XCTAssertEqual(
            denied.description,
            "cannot open /dev/ttyACM0: permission denied — install udev/70-netgiro-pinpad.rules "
                + "and add the user to group `netgiro-pinpad` (then log in again)")
        let busy = SerialLineError(path: "/dev/ttyACM0", operation: "open", reason: .busy(holders: []))
        XCTAssertTrue(busy.description.contains("in use by another process"), busy.description)
    }

    func testBytesTravelBothWays() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        let controller = pty.controller

        try controller.writeAll([0x00, 0x01, 0x7F, 0x0D, 0x0A, 0xFF])
        let received = try await withTimeout(30, "bytes from the pad") { try await collect(6, from: port.events) }
        XCTAssertEqual(received, [0x00, 0x01, 0x7F, 0x0D, 0x0A, 0xFF])

        try await port.write([0x11, 0x13, 0x0D, 0x0A])
        let echoed = try readSlowly(controller, count: 4)
        XCTAssertEqual(echoed, [0x11, 0x13, 0x0D, 0x0A])
        await port.close()
    }

    /// A receiver gets the bytes that arrived before it was set first, then the rest, in order,
    /// then the hang-up; `closed()` returns only after the last call.
    func testReceiverGetsEarlyBytesFirstThenTheRestThenTheHangUp() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        let controller = pty.controller
        try controller.writeAll([1, 2, 3])
        // Give the line's thread time to read them before anyone takes the line (if it has not,
        // the order must hold all the same).
        try await Task.sleep(for: .milliseconds(100))
        let seen = ReceivedEvents()
        port.receive { seen.append($0) }
        try controller.writeAll([4, 5])
        for _ in 0..<2000 where seen.bytes.count < 5 { try await Task.sleep(for: .milliseconds(5)) }
        try pty.takeController().close()
        _ = await port.closed()
        XCTAssertEqual(seen.bytes, [1, 2, 3, 4, 5])
        XCTAssertEqual(seen.goneCount, 1)
        XCTAssertTrue(seen.lastIsGone)
    }

    func testHangUpIsReportedOnceWhenTheOtherSideCloses() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        try pty.takeController().close()  // the pad is unplugged

        let events = try await withTimeout(30, "hang-up") {
            var seen: [SerialPort.Event] = []
            for await event in port.events { seen.append(event) }
            return seen
        }
        let goneEvents = events.filter { if case .deviceGone = $0 { true } else { false } }
        XCTAssertEqual(goneEvents.count, 1)
        guard case .deviceGone(let error)? = events.last else { return XCTFail("last event: \(String(describing: events.last))") }
        XCTAssertEqual(error.reason, .deviceGone)
        XCTAssertTrue(error.description.contains("device gone"), error.description)

        let reason = await port.closed()
        XCTAssertEqual(reason, .deviceGone(error))
        do {
            try await port.write([1, 2, 3])
            XCTFail("writing to a gone device must fail")
        } catch {
            XCTAssertEqual(error.reason, .deviceGone)
        }
        // Closing afterwards is harmless and keeps the first reason.
        let afterClose = await port.close()
        XCTAssertEqual(afterClose, .deviceGone(error))
    }

    func testLargeWritesDoNotDeadlockWhenThePeerIsSlowToRead() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        let controller = pty.takeController()
        let size = 1 << 20
        let toPad = [UInt8].pattern(count: size, seed: 1)
        let fromPad = [UInt8].pattern(count: size, seed: 2)

        // The peer first writes its whole megabyte (blocking until the line has read it), and
        // only then reads, slowly. A line that stopped reading while its own write is stuck
        // would deadlock here.
        let peerReceived = Locked<[UInt8]?>(nil)
        let peerDone = DispatchSemaphore(value: 0)
        let peer = Thread {
            defer { peerDone.signal() }
            do {
                try controller.writeAll(fromPad)
                let received = try readSlowly(controller, count: size)
                peerReceived.withLock { $0 = received }
            } catch {
                peerReceived.withLock { $0 = [] }
            }
        }
        peer.start()

        let receivedByLine = try await withTimeout(120, "1 MB in each direction") {
            async let written: Void = port.write(toPad)
            let received = try await collect(size, from: port.events)
            try await written
            return received
        }
        XCTAssertEqual(receivedByLine.count, size)
        XCTAssertTrue(receivedByLine == fromPad, "bytes from the peer arrived altered or out of order")

        let finished = await Task.detached { peerDone.wait(timeout: .now() + 120) }.value
        XCTAssertEqual(finished, .success, "the peer never finished reading")
        let got = peerReceived.withLock { $0 } ?? []
        XCTAssertEqual(got.count, size)
        XCTAssertTrue(got == toPad, "bytes to the peer arrived altered or out of order")
        await port.close()
        try? controller.close()
    }

    func testSendReturnsAtOnceEvenWhenNobodyReads() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        // Far more than the pty can buffer, and the peer never reads: send must not block.
        for _ in 0..<64 { try port.send([UInt8](repeating: 0x55, count: 16 * 1024)) }
        // Close fails the queued bytes and returns instead of waiting for a reader.
        let reason = try await withTimeout(30, "close with queued writes") { await port.close() }
        XCTAssertEqual(reason, .closedLocally)
        XCTAssertThrowsError(try port.send([1])) { error in
            XCTAssertEqual((error as? SerialLineError)?.reason, .closed)
        }
    }

    /// A deadline set earlier while the thread waits for a later one rings on time, by the
    /// kernel's timer: the thread is not woken to learn of it (a frame going out sets such a
    /// deadline, and its answer, not the deadline, should be what wakes the thread).
    func testADeadlineMovedEarlierRingsOnTimeWithoutWakingTheThread() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        let rings = Locked<[ContinuousClock.Instant]>([])
        port.receive({ _ in }, alarm: { rings.withLock { $0.append(.now) } })
        port.wake(at: .now + .seconds(60))
        try await Task.sleep(for: .milliseconds(100))  // the thread now waits for the far deadline
        let before = port.pollReturns
        let due = ContinuousClock.now + .milliseconds(300)
        port.wake(at: due)
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(port.pollReturns, before, "the thread woke to learn of the earlier deadline")
        try await withTimeout(30, "the earlier deadline's alarm") {
            while rings.withLock({ $0.isEmpty }) { try? await Task.sleep(for: .milliseconds(10)) }
        }
        let rang = try XCTUnwrap(rings.withLock { $0.first })
        XCTAssertGreaterThanOrEqual(rang, due, "the alarm rang before its deadline")
        XCTAssertEqual(rings.withLock { $0.count }, 1)
        await port.close()
    }

    func testSilentLineUsesNoCPU() async throws {
        let pty = try PseudoTerminal(linkPath: linkPath())
        defer { pty.close() }
        let port = try SerialPort.open(linkPath())
        let before = cpuSeconds()
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let used = cpuSeconds() - before
        // A busy loop would burn about a whole second here; waiting in poll() burns nothing.
        XCTAssertLessThan(used, 0.5, "an idle line used \(used) s of CPU in 1 s")
        await port.close()
    }

    private func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
    }
}

/// Events handed to a `SerialPort` receiver, from the line's thread.
final class ReceivedEvents: Sendable {
    private let events = Locked<[SerialPort.Event]>([])
    func append(_ e: SerialPort.Event) { events.withLock { $0.append(e) } }
    private var all: [SerialPort.Event] { events.withLock { $0 } }
    var bytes: [UInt8] {
        var out: [UInt8] = []
        for case .received(let b) in all { out += b }
        return out
    }
    var goneCount: Int { all.filter { if case .deviceGone = $0 { true } else { false } }.count }
    var lastIsGone: Bool { if case .deviceGone? = all.last { true } else { false } }
}
