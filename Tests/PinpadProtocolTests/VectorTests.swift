import Foundation
import Testing
@testable import PinpadProtocol

/// The published vectors (`protocol/vectors/`, made by the independent Python reference codec
/// from PROTOCOL.md alone) must come out of this implementation byte for byte.
@Suite struct VectorTests {
    static func load(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: protocolDirectory.appendingPathComponent("vectors/\(name)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static var frameVectors: [[String: Any]] { (try? load("frames.json")["frames"] as? [[String: Any]]) ?? [] }
    static var decoderCases: [[String: Any]] { (try? load("decoder.json")["cases"] as? [[String: Any]]) ?? [] }

    @Test func vectorFilesAreThereAndCoverEveryType() {
        #expect(Self.frameVectors.count >= 18)
        #expect(Self.decoderCases.count >= 10)
        let codes = Set(Self.frameVectors.compactMap { $0["type_code"] as? Int })
        for type in MessageType.allCases {
            #expect(codes.contains(Int(type.rawValue)), "no vector for \(type)")
        }
    }

    @Test func everyFrameVectorEncodesAndDecodesExactly() throws {
        for v in Self.frameVectors {
            let name = v["name"] as? String ?? "?"
            let frame = Frame(
                type: UInt8(v["type_code"] as! Int), flags: FrameFlags(rawValue: UInt8(v["flags"] as! Int)),
                sequence: UInt8(v["seq"] as! Int), payload: [UInt8](hex: v["payload"] as! String))
            #expect(frame.body().hex == v["body"] as? String, "body of \(name)")
            #expect(frame.encoded().hex == v["line"] as? String, "line of \(name)")
            var decoder = FrameDecoder()
            #expect(decoder.feed([UInt8](hex: v["line"] as! String)) == [.frame(frame)], "decoding \(name)")

            let fields = v["fields"] as! [String: Any]
            let expected = try payload(type: v["type"] as! String, fields: fields)
            #expect(expected == frame.payload, "payload built from the fields of \(name)")
            try checkDecodedFields(type: v["type"] as! String, frame: frame, fields: fields, name: name)
        }
    }

    @Test func everyDecoderCaseGivesTheExpectedResults() {
        for c in Self.decoderCases {
            let name = c["name"] as? String ?? "?"
            var decoder = FrameDecoder()
            var results: [String] = []
            for chunk in c["chunks"] as! [String] {
                for output in decoder.feed([UInt8](hex: chunk)) {
                    switch output {
                    case .frame(let f): results.append("frame \(f.type) \(f.flags.rawValue) \(f.sequence) \(f.payload.hex)")
                    case .error(let e): results.append("error \(Self.name(e))")
                    }
                }
            }
            let expected: [String] = (c["expect"] as! [[String: Any]]).map { e in
                if let f = e["frame"] as? [String: Any] {
                    return "frame \(f["type_code"] as! Int) \(f["flags"] as! Int) \(f["seq"] as! Int) \(f["payload"] as! String)"
                }
                return "error \(e["error"] as! String)"
            }
            #expect(results == expected, "\(name)")
        }
    }

    static func name(_ e: FrameError) -> String {
        switch e {
        case .oversized: return "oversized"
        case .invalidStuffing: return "invalid_stuffing"
        case .tooShort: return "too_short"
        case .lengthMismatch: return "length_mismatch"
        case .badCRC: return "bad_crc"
        case .unsupportedVersion: return "unsupported_version"
        case .interByteTimeout: return "inter_byte_timeout"
        }
    }

    /// Builds the message the vector's fields describe and encodes it with this implementation.
    func payload(type: String, fields f: [String: Any]) throws -> [UInt8] {
        func int(_ k: String) -> Int { f[k] as! Int }
        func u8(_ k: String) -> UInt8 { UInt8(int(k)) }
        func u16(_ k: String) -> UInt16 { UInt16(int(k)) }
        func text(_ k: String) -> [UInt8] { Array((f[k] as! String).utf8) }
        switch type {
        case "ACK", "NAK", "HEARTBEAT": return []
        case "HELLO":
            return HostHello(minVersion: u8("min_version"), maxVersion: u8("max_version"), maxPayload: u16("max_payload"), hostName: text("host_name")).encodePayload()
        case "HELLO_REPLY":
            let prompts = (f["prompts"] as! [[String: Int]]).map {
                PromptSpec(id: PromptID(rawValue: UInt8($0["id"]!)), minDigits: UInt8($0["min_digits"]!), maxDigits: UInt8($0["max_digits"]!),
                           echo: EchoMode(rawValue: UInt8($0["echo"]!))!, defaultTimeoutSeconds: UInt16($0["default_timeout"]!))
            }
            return DeviceInfo(version: u8("version"), maxPayload: u16("max_payload"), rows: u8("rows"), columns: u8("columns"), charset: u8("charset"),
                              keys: KeypadKeys(rawValue: u16("keys")), model: text("model"), firmwareVersion: text("firmware"),
                              serialNumber: text("serial"), prompts: prompts).encodePayload()
        case "ANNOUNCE": return [u8("reason")]
        default: return try message(type: type, fields: f).encodePayload()
        }
    }

    func message(type: String, fields f: [String: Any]) throws -> Message {
        func int(_ k: String) -> Int { f[k] as! Int }
        func u8(_ k: String) -> UInt8 { UInt8(int(k)) }
        func u16(_ k: String) -> UInt16 { UInt16(int(k)) }
        func text(_ k: String) -> [UInt8] { Array((f[k] as! String).utf8) }
        switch type {
        case "SHOW_SCREEN":
            return .showScreen(Screen(lines: (f["lines"] as! [[String: Any]]).map {
                ScreenLine(text: Array(($0["text"] as! String).utf8), alignment: TextAlignment(rawValue: UInt8($0["align"] as! Int))!)
            }))
        case "PROMPT":
            return .prompt(PromptRequest(token: u16("token"), prompt: PromptID(rawValue: u8("prompt")), timeoutSeconds: u16("timeout"),
                                         amount: UInt32(int("amount")), notice: PromptNotice(rawValue: u8("notice"))!))
        case "CANCEL_PROMPT": return .cancelPrompt(token: u16("token"))
        case "INDICATE": return .indicate(Indication(beep: BeepPattern(rawValue: u8("beep"))!, light: IndicatorLight(rawValue: u8("light"))!))
        case "RESET": return .reset
        case "STATUS_REQUEST": return .statusRequest
        case "KEY_EVENT": return .keyEvent(KeyEvent(token: u16("token"), key: KeyKind(rawValue: u8("key"))!, length: u8("length")))
        case "ENTRY_RESULT":
            return .entryResult(EntryResult(token: u16("token"), prompt: PromptID(rawValue: u8("prompt")),
                                            outcome: EntryOutcome(rawValue: u8("outcome"))!, digits: text("digits")))
        case "STATUS":
            return .status(DeviceStatus(state: PadState(rawValue: u8("state"))!, activeToken: u16("active_token"),
                                        uptimeSeconds: UInt32(int("uptime")), faults: DeviceFaults(rawValue: u16("faults"))))
        case "BUSY": return .busy(BusyNotice(token: u16("token"), secondsRemaining: u16("seconds_remaining")))
        case "ERROR_REPORT":
            return .errorReport(ErrorReport(code: ErrorCode(rawValue: u8("code")), referenceType: u8("ref_type"), referenceSequence: u8("ref_seq"), text: text("text")))
        case "PING": return .ping([UInt8](hex: f["data"] as! String))
        default:
            Issue.record("unknown type name \(type)")
            return .reset
        }
    }

    func checkDecodedFields(type: String, frame: Frame, fields: [String: Any], name: String) throws {
        switch type {
        case "ACK", "NAK", "HEARTBEAT", "ANNOUNCE":
            return
        case "HELLO":
            let hello = try HostHello.decode(frame.payload)
            #expect(hello.encodePayload() == frame.payload, "\(name)")
        case "HELLO_REPLY":
            let info = try DeviceInfo.decode(frame.payload)
            #expect(info.encodePayload() == frame.payload, "\(name)")
        default:
            let decoded = try Message.decode(type: frame.type, payload: frame.payload)
            #expect(decoded == (try message(type: type, fields: fields)), "\(name)")
        }
    }
}
