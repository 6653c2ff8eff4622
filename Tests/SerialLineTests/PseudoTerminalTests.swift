import Foundation
import XCTest

@testable import SerialLine

final class PseudoTerminalTests: XCTestCase {
    func testPublishesTheDeviceSideAndRemovesTheLinkOnClose() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("ttyPad").path

        // A stale link from an earlier run is replaced.
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/pts/does-not-exist")
        let pty = try PseudoTerminal(linkPath: link)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: link), pty.devicePath)
        XCTAssertTrue(pty.devicePath.hasPrefix("/dev/pts/"), pty.devicePath)
        XCTAssertTrue(try TerminalAttributes.read(from: pty.device).isRaw)

        pty.close()
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: link))
        pty.close()  // twice is harmless
    }

    func testDoesNotClobberARegularFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("precious").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("keep".utf8))
        XCTAssertThrowsError(try PseudoTerminal(linkPath: path)) { error in
            XCTAssertEqual((error as? SerialLineError)?.reason, .system(.fileExists))
        }
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data("keep".utf8))
    }

    func testControllerCanBeDrivenAsALineToo() async throws {
        let pty = try PseudoTerminal()
        defer { pty.close() }
        let simulatorSide = try SerialPort(adopting: pty.takeController(), name: "simulator")
        let bridgeSide = try SerialPort.open(pty.devicePath)
        try await bridgeSide.write(Array("HELLO".utf8))
        let got = try await withTimeout(30, "bytes at the controller") { try await collect(5, from: simulatorSide.events) }
        XCTAssertEqual(got, Array("HELLO".utf8))
        await bridgeSide.close()
        await simulatorSide.close()
    }
}
