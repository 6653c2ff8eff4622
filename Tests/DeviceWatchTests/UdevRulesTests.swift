import Foundation
import XCTest

@testable import DeviceWatch

/// Checks udev/70-netgiro-pinpad.rules: well-formed, and with every property the bridge relies on.
final class UdevRulesTests: XCTestCase {
    static let rulesFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("udev/70-netgiro-pinpad.rules")

    /// One `KEY{attr}OP"value"` pair of a rule line.
    struct Assignment: Equatable {
        var key: String
        var op: String
        var value: String
        var text: String { "\(key)\(op)\"\(value)\"" }
    }

    /// The rule lines (comments and blank lines dropped), each parsed into its pairs.
    static func rules() throws -> [[Assignment]] {
        let text = try String(contentsOf: rulesFile, encoding: .utf8)
        let pair = try NSRegularExpression(pattern: #"^\s*([A-Z_]+(?:\{[^}]*\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)"#)
        var rules: [[Assignment]] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var rest = Substring(line)
            var rule: [Assignment] = []
            while !rest.isEmpty {
                let string = String(rest)
                guard let match = pair.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) else {
                    throw TestbedError(message: "line \(number + 1) does not parse at: \(rest)")
                }
                func group(_ i: Int) -> String { String(string[Range(match.range(at: i), in: string)!]) }
                rule.append(Assignment(key: group(1), op: group(2), value: group(3)))
                rest = rest.dropFirst(Range(match.range, in: string)!.upperBound.utf16Offset(in: string))
                rest = rest.drop { $0 == " " }
            }
            rules.append(rule)
        }
        return rules
    }

    func testRulesParse() throws {
        XCTAssertGreaterThan(try Self.rules().count, 5)
    }

    func testMatchesTheReferencePadByVIDAndPIDOnOneLine() throws {
        let rules = try Self.rules()
        let id = USBID.referencePad
        let vendor = String(format: "%04x", id.vendor)
        let product = String(format: "%04x", id.product)
        XCTAssertTrue(
            rules.contains { rule in
                rule.contains(Assignment(key: "ATTRS{idVendor}", op: "==", value: vendor))
                    && rule.contains(Assignment(key: "ATTRS{idProduct}", op: "==", value: product))
            }, "no rule matches \(id)")
    }

    func testSetsEverythingTheBridgeReliesOn() throws {
        let all = try Self.rules().flatMap { $0 }.map(\.text)
        for required in [
            #"ENV{ID_MM_DEVICE_IGNORE}="1""#,
            #"MODE="0660""#,
            #"GROUP="netgiro-pinpad""#,
            #"SYMLINK+="netgiro-pinpad/$env{ID_SERIAL_SHORT}""#,
            #"TAG+="systemd""#,
            #"ENV{SYSTEMD_WANTS}+="ngbridge@%k.service""#,
            #"ATTR{device/latency_timer}="1""#,
            #"SUBSYSTEM!="tty""#,
        ] {
            XCTAssertTrue(all.contains(required), "missing \(required)")
        }
    }

    func testIsNotLimitedToAddAndEveryGotoHasItsLabel() throws {
        let rules = try Self.rules()
        let all = rules.flatMap { $0 }
        XCTAssertFalse(all.contains { $0.key == "ACTION" && $0.op == "==" && $0.value == "add" }, "must not be restricted to ACTION==add")
        let labels = Set(all.filter { $0.key == "LABEL" }.map(\.value))
        for goto in all where goto.key == "GOTO" {
            XCTAssertTrue(labels.contains(goto.value), "GOTO \(goto.value) has no LABEL")
        }
        // Permissions and links come only after the VID:PID gate.
        let gate = try XCTUnwrap(rules.firstIndex { $0.contains(Assignment(key: "ENV{NETGIRO_PINPAD}", op: "!=", value: "1")) })
        let modeLine = try XCTUnwrap(rules.firstIndex { $0.contains { $0.key == "MODE" } })
        XCTAssertLessThan(gate, modeLine)
    }
}
