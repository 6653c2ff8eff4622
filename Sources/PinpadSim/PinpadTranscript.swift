import PinpadFirmware
import PinpadProtocol

/// One line of what a simulated pad saw and did: screens shown, keys pressed, frames exchanged.
/// Customer entries (the digits of ENTRY_RESULT, typed digits, the entry row of a screen that
/// echoes them) are masked unless the simulator was told to reveal them.
public struct PinpadTranscriptEntry: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The display changed; `text` holds its rows separated by " | ".
        case screen
        /// A key was pressed on the pad.
        case key
        /// A frame from the host.
        case received
        /// A frame to the host.
        case sent
        /// Link up/down, line opened/closed, reboot.
        case link
        /// A prompt opened or ended.
        case prompt
        /// A fault was injected.
        case fault
        /// A scenario step.
        case script
    }

    /// Milliseconds since the simulator started.
    public var at: UInt64
    public var kind: Kind
    public var text: String

    public var description: String {
        let seconds = at / 1000, millis = at % 1000
        let stamp = "\(seconds)." + String(repeating: "0", count: millis < 10 ? 2 : millis < 100 ? 1 : 0) + "\(millis)"
        let padded = String(repeating: " ", count: max(0, 8 - stamp.count)) + stamp
        let label = kind.rawValue + String(repeating: " ", count: max(0, 8 - kind.rawValue.count))
        return "\(padded) \(label) \(text)"
    }
}

/// Words for the transcript and the scenario language.
public enum PinpadNames {
    public static func prompt(_ id: PromptID) -> String {
        switch id {
        case .customerID: "customer-id"
        case .smsCode: "sms-code"
        case .confirmAmount: "confirm-amount"
        default: "prompt-0x" + String(id.rawValue, radix: 16)
        }
    }

    public static func promptID(_ name: String) -> PromptID? {
        let n = name.lowercased().replacingOccurrences(of: "_", with: "-")
        switch n {
        case "customer-id", "customerid": return .customerID
        case "sms-code", "smscode", "sms": return .smsCode
        case "confirm-amount", "confirmamount", "confirm": return .confirmAmount
        default:
            if n.hasPrefix("0x"), let v = UInt8(n.dropFirst(2), radix: 16) { return PromptID(rawValue: v) }
            if let v = UInt8(n) { return PromptID(rawValue: v) }
            return nil
        }
    }

    public static func outcome(_ o: EntryOutcome?) -> String {
        switch o {
        case nil: "ended without result (link down)"
        case .entered: "entered"
        case .cancelledByCustomer: "cancelled by customer"
        case .timedOut: "timed out"
        case .cancelledByHost: "cancelled by host"
        case .refused: "refused"
        case .aborted: "aborted"
        }
    }

    public static func key(_ k: PadKey, reveal: Bool) -> String {
        switch k {
        case .digit(let d): reveal ? "\(d)" : "digit"
        case .clear: "clear"
        case .ok: "ok"
        case .cancel: "cancel"
        }
    }

    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func masked(_ digits: [UInt8], reveal: Bool) -> String {
        reveal ? text(digits) : String(repeating: "*", count: digits.count)
    }

    /// A message in one line, as the transcript shows it.
    public static func describe(_ m: Message, reveal: Bool) -> String {
        switch m {
        case .showScreen(let s):
            return "SHOW_SCREEN " + (s.lines.isEmpty ? "(idle)" : s.lines.map { "\"\(text($0.text))\"" }.joined(separator: " | "))
        case .prompt(let p):
            var out = "PROMPT token=\(p.token) \(prompt(p.prompt))"
            if p.timeoutSeconds != 0 { out += " timeout=\(p.timeoutSeconds)s" }
            if p.amount != 0 { out += " amount=\(p.amount)" }
            switch p.notice {
            case .none: break
            case .wrongCode: out += " notice=wrong-code"
            case .invalidEntry: out += " notice=invalid-entry"
            }
            return out
        case .cancelPrompt(let token): return "CANCEL_PROMPT token=\(token)"
        case .indicate(let i): return "INDICATE beep=\(i.beep.rawValue) light=\(i.light.rawValue)"
        case .reset: return "RESET"
        case .statusRequest: return "STATUS_REQUEST"
        case .keyEvent(let k):
            let key = ["digit", "clear", "ok", "cancel", "refused"][Int(k.key.rawValue)]
            return "KEY_EVENT token=\(k.token) \(key) length=\(k.length)"
        case .entryResult(let r):
            var out = "ENTRY_RESULT token=\(r.token) \(prompt(r.prompt)) \(outcome(r.outcome))"
            if r.outcome == .entered, !r.digits.isEmpty { out += " digits=\(masked(r.digits, reveal: reveal))" }
            return out
        case .status(let s):
            return "STATUS state=\(s.state.rawValue) token=\(s.activeToken) uptime=\(s.uptimeSeconds)s faults=\(s.faults.rawValue)"
        case .busy(let b): return "BUSY token=\(b.token) remaining=\(b.secondsRemaining)s"
        case .errorReport(let e):
            return "ERROR_REPORT code=\(e.code.rawValue) ref=0x\(String(e.referenceType, radix: 16))/\(e.referenceSequence) \"\(text(e.text))\""
        case .ping(let data): return "PING \(data.count) bytes"
        }
    }

    /// A frame in one line; nil for the link layer's chatter (ACK, NAK, HEARTBEAT) unless asked.
    public static func describe(_ frame: Frame, reveal: Bool, linkControl: Bool) -> String? {
        let again = frame.flags.contains(.retransmission) ? " (again)" : ""
        switch MessageType(rawValue: frame.type) {
        case .ack: return linkControl ? "ACK \(frame.sequence)" : nil
        case .nak: return linkControl ? "NAK \(frame.sequence)" : nil
        case .heartbeat: return linkControl ? "HEARTBEAT" : nil
        case .hello:
            guard let h = try? HostHello.decode(frame.payload) else { return "HELLO (malformed)" }
            return "HELLO \(text(h.hostName)) v\(h.minVersion)-\(h.maxVersion)"
        case .helloReply:
            guard let d = try? DeviceInfo.decode(frame.payload) else { return "HELLO_REPLY (malformed)" }
            return "HELLO_REPLY v\(d.version) \(text(d.model)) \(text(d.serialNumber)) \(d.rows)x\(d.columns)"
        case .announce:
            let reason = frame.payload.first.map { ["power on", "watchdog", "link lost", "not linked"][Int(min($0, 3))] } ?? "?"
            return "ANNOUNCE \(reason)"
        default:
            let seq = "#\(frame.sequence) "
            guard let m = try? Message.decode(type: frame.type, payload: frame.payload) else {
                return seq + "type 0x\(String(frame.type, radix: 16)) (\(frame.payload.count) bytes, not understood)" + again
            }
            return seq + describe(m, reveal: reveal) + again
        }
    }

    /// A display's rows for the transcript, the entry row masked unless revealed.
    public static func screen(_ d: DisplayBuffer, reveal: Bool) -> String {
        (0..<d.rows).map { r in
            var row = text(d.rowUTF8(r))
            if !reveal, r == d.entryRow {
                row = String(row.map { $0.isASCII && $0.isNumber ? "*" : $0 })
            }
            while row.hasSuffix(" ") { row.removeLast() }
            return row
        }.joined(separator: " | ")
    }
}
