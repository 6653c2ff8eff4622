import PinpadProtocol

/// Explains protocol v1 bytes in words: what `ngbridge protocol decode` prints.
///
/// Customer digits in ENTRY_RESULT are masked unless `revealDigits` is set, so output pasted
/// into a ticket or a log carries no personal data.
public struct FrameInspector {
    public var revealDigits: Bool

    public init(revealDigits: Bool = false) {
        self.revealDigits = revealDigits
    }

    /// Feeds each chunk to one streaming decoder, as if read from the line in that order, and
    /// describes every result. Bytes left without a closing delimiter are reported too.
    public func explainLine(chunks: [[UInt8]]) -> [String] {
        var decoder = FrameDecoder()
        var lines: [String] = []
        var count = 0
        for chunk in chunks {
            for output in decoder.feed(chunk) {
                count += 1
                switch output {
                case .frame(let frame):
                    lines += explain(frame, number: count)
                case .error(let error):
                    lines.append("block \(count): rejected — \(Self.explain(error))")
                }
            }
        }
        if decoder.isInsideFrame {
            lines.append("end: bytes after the last 0x00 delimiter form an unfinished frame (a receiver waits \(LinkTimings().interByteTimeout) ms for more, then drops them)")
        }
        if count == 0 && !decoder.isInsideFrame {
            lines.append("no frame: the input holds only delimiters (0x00)")
        }
        return lines
    }

    /// Describes an unstuffed frame body (header, payload, CRC).
    public func explainBody(_ body: [UInt8]) -> [String] {
        do {
            return explain(try Frame.parse(body: body), number: 1)
        } catch {
            return ["body: rejected — \(Self.explain(error))"]
        }
    }

    public func explain(_ frame: Frame, number: Int) -> [String] {
        let typeName = MessageType(rawValue: frame.type).map(Self.name) ?? "unknown type"
        var head = "frame \(number): \(typeName) (0x\(hex(frame.type))) seq=\(frame.sequence)"
        if frame.flags.contains(.retransmission) { head += " retransmission" }
        head += ", payload \(frame.payload.count) bytes, CRC-32C ok"
        var lines = [head]
        let fields: [String]
        if MessageType.isData(frame.type) {
            do {
                fields = describe(try Message.decode(type: frame.type, payload: frame.payload))
            } catch {
                fields = ["payload is not a valid message: \(Self.explain(error)) (the receiver acknowledges the frame and answers ERROR_REPORT)"]
            }
        } else {
            fields = describeLinkControl(frame)
        }
        lines += fields.map { "  " + $0 }
        return lines
    }

    func describeLinkControl(_ frame: Frame) -> [String] {
        switch MessageType(rawValue: frame.type) {
        case .ack: return ["acknowledges data frame seq=\(frame.sequence)"]
        case .nak: return ["a damaged frame was received; the sender expects seq=\(frame.sequence) next"]
        case .heartbeat: return ["sign of life"]
        case .hello:
            guard let h = try? HostHello.decode(frame.payload) else { return ["HELLO payload is malformed"] }
            return ["host \"\(text(h.hostName))\" speaks versions \(h.minVersion)–\(h.maxVersion), accepts payloads up to \(h.maxPayload) bytes"]
        case .helloReply:
            guard let d = try? DeviceInfo.decode(frame.payload) else { return ["HELLO_REPLY payload is malformed"] }
            var out = [
                d.version == 0 ? "no protocol version in common with the host" : "version \(d.version) chosen",
                "model \"\(text(d.model))\", firmware \"\(text(d.firmwareVersion))\", serial \"\(text(d.serialNumber))\"",
                "display \(d.rows) × \(d.columns), charset \(d.charset), keys 0x\(String(d.keys.rawValue, radix: 16)), max payload \(d.maxPayload)",
            ]
            for p in d.prompts {
                out.append("prompt 0x\(hex(p.id.rawValue)) \(Self.name(p.id)): \(p.minDigits)–\(p.maxDigits) digits, echo \(p.echo), default timeout \(p.defaultTimeoutSeconds) s")
            }
            return out
        case .announce:
            let reason = frame.payload.first.flatMap(AnnounceReason.init(rawValue:))
            return ["the pad is not linked (\(reason.map { "\($0)" } ?? "unknown reason")) and asks for HELLO"]
        default:
            return ["reserved link-control type: ignored by receivers (counts as a sign of life)"]
        }
    }

    public func describe(_ message: Message) -> [String] {
        switch message {
        case .showScreen(let screen):
            if screen.lines.isEmpty { return ["show the idle screen"] }
            return screen.lines.map { "[\($0.alignment)] \"\(text($0.text))\"" }
        case .prompt(let p):
            var s = "ask for \(Self.name(p.prompt)), token \(p.token), timeout \(p.timeoutSeconds == 0 ? "table default" : "\(p.timeoutSeconds) s")"
            if p.amount > 0 { s += ", amount \(p.amount) kr." }
            if p.notice != .none { s += ", notice \(p.notice)" }
            return [s]
        case .cancelPrompt(let token): return ["cancel prompt token \(token)"]
        case .indicate(let i): return ["beep \(i.beep), light \(i.light)"]
        case .reset: return ["return to idle"]
        case .statusRequest: return ["asks for STATUS"]
        case .keyEvent(let k): return ["token \(k.token): key \(k.key), entry now \(k.length) digits"]
        case .entryResult(let r):
            var s = "token \(r.token) (\(Self.name(r.prompt))): \(r.outcome)"
            if r.outcome == .entered { s += ", digits \(revealDigits ? text(r.digits) : Self.mask(r.digits))" }
            return [s]
        case .status(let s):
            return ["state \(s.state), prompt token \(s.activeToken), up \(s.uptimeSeconds) s, faults 0x\(String(s.faults.rawValue, radix: 16))"]
        case .busy(let b): return ["token \(b.token): waiting for the customer, \(b.secondsRemaining) s left"]
        case .errorReport(let e):
            return ["error \(e.code.rawValue) about type 0x\(hex(e.referenceType)) seq=\(e.referenceSequence): \"\(text(e.text))\""]
        case .ping(let data): return ["\(data.count) bytes"]
        }
    }

    /// All but the last two digits replaced by `•`.
    static func mask(_ digits: [UInt8]) -> String {
        let shown = digits.suffix(2)
        return String(repeating: "•", count: digits.count - shown.count) + String(decoding: shown, as: UTF8.self)
    }

    public static func explain(_ error: FrameError) -> String {
        switch error {
        case .oversized(let length):
            return "oversized: \(length) bytes without a delimiter or a declared payload over \(ProtocolLimits.maxPayload) bytes (a frame is at most \(ProtocolLimits.maxEncodedLength) stuffed bytes); discarded up to the next 0x00"
        case .invalidStuffing:
            return "invalid COBS stuffing: a code byte points past the end of the block (noise, or bytes lost on the line)"
        case .tooShort(let length):
            return "too short: \(length) bytes after unstuffing, a frame has at least 10 (6 header + 4 CRC)"
        case .lengthMismatch(let declared, let actual):
            return "length mismatch: the header declares \(declared) payload bytes, the frame holds \(actual) (bytes lost or added on the line)"
        case .badCRC(let received, let computed):
            return "bad CRC: the frame carries 0x\(String(received, radix: 16)), its contents give 0x\(String(computed, radix: 16)) (damaged on the line; the receiver answers NAK)"
        case .unsupportedVersion(let v):
            return "unsupported frame version \(v): this implementation speaks version \(ProtocolLimits.version)"
        case .interByteTimeout(let length):
            return "inter-byte timeout after \(length) bytes"
        }
    }

    public static func explain(_ error: MessageError) -> String {
        switch error {
        case .truncated: return "the payload ends before a field it must contain"
        case .invalidValue(let offset): return "the field at payload offset \(offset) holds a value protocol v1 does not define"
        case .unknownType(let t): return "type 0x\(hex(t)) is not defined in protocol v1"
        case .wrongDirection(let t): return "type 0x\(hex(t)) does not travel in this direction"
        }
    }

    static func name(_ type: MessageType) -> String {
        switch type {
        case .ack: return "ACK"
        case .nak: return "NAK"
        case .heartbeat: return "HEARTBEAT"
        case .hello: return "HELLO"
        case .helloReply: return "HELLO_REPLY"
        case .announce: return "ANNOUNCE"
        case .showScreen: return "SHOW_SCREEN"
        case .prompt: return "PROMPT"
        case .cancelPrompt: return "CANCEL_PROMPT"
        case .indicate: return "INDICATE"
        case .reset: return "RESET"
        case .statusRequest: return "STATUS_REQUEST"
        case .keyEvent: return "KEY_EVENT"
        case .entryResult: return "ENTRY_RESULT"
        case .status: return "STATUS"
        case .busy: return "BUSY"
        case .errorReport: return "ERROR_REPORT"
        case .ping: return "PING"
        }
    }

    static func name(_ prompt: PromptID) -> String {
        switch prompt {
        case .customerID: return "CUSTOMER_ID"
        case .smsCode: return "SMS_CODE"
        case .confirmAmount: return "CONFIRM_AMOUNT"
        default: return "prompt 0x\(hex(prompt.rawValue))"
        }
    }

    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}

func hex(_ byte: UInt8) -> String {
    let s = String(byte, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

/// Parses hex with optional spaces, colons, dashes or a `0x` prefix. Nil on anything else.
public func parseHex(_ text: String) -> [UInt8]? {
    var digits = text.lowercased()
    if digits.hasPrefix("0x") { digits.removeFirst(2) }
    digits.removeAll { $0 == " " || $0 == ":" || $0 == "-" || $0 == "\n" }
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = digits.startIndex
    while index != digits.endIndex {
        let next = digits.index(index, offsetBy: 2)
        guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
        out.append(byte)
        index = next
    }
    return out
}
