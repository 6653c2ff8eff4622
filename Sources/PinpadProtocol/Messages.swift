/// Message types of protocol v1 (`PROTOCOL.md` §4). The type's range says how it travels:
/// `0x00–0x1F` link control (no sequence number, never acknowledged), `0x20–0x3F` host → pad,
/// `0x40–0x5F` pad → host, `0x60–0x6F` either direction, `0x70–0xFF` reserved; every type from
/// `0x20` up is a data frame: sequenced, acknowledged, retransmitted.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case ack = 0x01
    case nak = 0x02
    case heartbeat = 0x03
    case hello = 0x04
    case helloReply = 0x05
    case announce = 0x06

    case showScreen = 0x20
    case prompt = 0x21
    case cancelPrompt = 0x22
    case indicate = 0x23
    case reset = 0x24
    case statusRequest = 0x25

    case keyEvent = 0x40
    case entryResult = 0x41
    case status = 0x42
    case busy = 0x43

    case ping = 0x60
    case errorReport = 0x61

    /// True for the types carried in data frames (sequenced and acknowledged).
    public static func isData(_ raw: UInt8) -> Bool { raw >= 0x20 }
}

/// Why a frame's payload is not a valid message (the frame itself was intact).
public enum MessageError: Error, Sendable, Hashable {
    /// The payload ended before a field it must contain.
    case truncated
    /// A field holds a value this version does not define; `offset` is its byte offset.
    case invalidValue(offset: Int)
    /// The type is not defined in protocol v1.
    case unknownType(UInt8)
    /// A defined data type travelling the wrong way: a pad-to-host type reaching a pad, or a
    /// host-to-pad type reaching a host (`PROTOCOL.md` §4).
    case wrongDirection(UInt8)

    /// The ERROR_REPORT code that answers a frame with this error (`PROTOCOL.md` §4, 1.1).
    public var reportCode: ErrorCode {
        switch self {
        case .unknownType: return .unknownMessageType
        case .wrongDirection: return .notAllowedNow
        case .truncated, .invalidValue: return .malformedPayload
        }
    }
}

/// A prompt of the pad's own prompt table (`PROTOCOL.md` §5.2). The host can only name one;
/// it cannot send the question's text (the anti-phishing rule).
public struct PromptID: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// "Netgíró: app code, phone number or kennitala".
    public static let customerID = PromptID(rawValue: 0x01)
    /// "The code from your SMS".
    public static let smsCode = PromptID(rawValue: 0x02)
    /// "Confirm amount": OK or Cancel, no digits.
    public static let confirmAmount = PromptID(rawValue: 0x03)
}

public enum EchoMode: UInt8, Sendable, Hashable {
    /// Digits shown as typed.
    case clear = 0
    /// One `*` per digit.
    case masked = 1
    /// Nothing shown.
    case hidden = 2
}

/// One row of the pad's prompt table, as announced in HELLO_REPLY.
public struct PromptSpec: Sendable, Hashable {
    public var id: PromptID
    public var minDigits: UInt8
    public var maxDigits: UInt8
    public var echo: EchoMode
    public var defaultTimeoutSeconds: UInt16

    public init(id: PromptID, minDigits: UInt8, maxDigits: UInt8, echo: EchoMode, defaultTimeoutSeconds: UInt16) {
        self.id = id
        self.minDigits = minDigits
        self.maxDigits = maxDigits
        self.echo = echo
        self.defaultTimeoutSeconds = defaultTimeoutSeconds
    }
}

/// Keys a pad has (`PROTOCOL.md` §5.1, HELLO_REPLY `keys`).
public struct KeypadKeys: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let digits = KeypadKeys(rawValue: 0x03FF)  // bits 0–9: keys 0–9
    public static let clear = KeypadKeys(rawValue: 1 << 10)
    public static let ok = KeypadKeys(rawValue: 1 << 11)
    public static let cancel = KeypadKeys(rawValue: 1 << 12)
    public static let standard: KeypadKeys = [.digits, .clear, .ok, .cancel]
}

/// HELLO (host → pad): what the host speaks.
public struct HostHello: Sendable, Hashable {
    public var minVersion: UInt8
    public var maxVersion: UInt8
    public var maxPayload: UInt16
    /// UTF-8, at most 32 bytes: shown on the pad's service screen, logged by the pad.
    public var hostName: [UInt8]

    public init(minVersion: UInt8 = 1, maxVersion: UInt8 = 1, maxPayload: UInt16 = UInt16(ProtocolLimits.maxPayload), hostName: [UInt8]) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.maxPayload = maxPayload
        self.hostName = hostName
    }
}

/// HELLO_REPLY (pad → host): the version chosen and what the pad is.
public struct DeviceInfo: Sendable, Hashable {
    /// Chosen protocol version; 0 means "no version in common".
    public var version: UInt8
    public var maxPayload: UInt16
    public var rows: UInt8
    public var columns: UInt8
    /// 1 = UTF-8 limited to ASCII and Latin-1 Supplement (U+0020–U+007E, U+00A0–U+00FF),
    /// which holds every Icelandic letter.
    public var charset: UInt8
    public var keys: KeypadKeys
    public var model: [UInt8]
    public var firmwareVersion: [UInt8]
    public var serialNumber: [UInt8]
    public var prompts: [PromptSpec]

    public init(
        version: UInt8, maxPayload: UInt16, rows: UInt8, columns: UInt8, charset: UInt8 = 1,
        keys: KeypadKeys = .standard, model: [UInt8], firmwareVersion: [UInt8], serialNumber: [UInt8],
        prompts: [PromptSpec]
    ) {
        self.version = version
        self.maxPayload = maxPayload
        self.rows = rows
        self.columns = columns
        self.charset = charset
        self.keys = keys
        self.model = model
        self.firmwareVersion = firmwareVersion
        self.serialNumber = serialNumber
        self.prompts = prompts
    }

    public func prompt(_ id: PromptID) -> PromptSpec? {
        for p in prompts where p.id == id { return p }
        return nil
    }
}

/// ANNOUNCE (pad → host): "I am here and not linked; send HELLO".
public enum AnnounceReason: UInt8, Sendable, Hashable {
    case powerOn = 0
    case watchdogReset = 1
    case linkLost = 2
    case notLinked = 3
}

public enum TextAlignment: UInt8, Sendable, Hashable {
    case left = 0
    case center = 1
    case right = 2
}

public struct ScreenLine: Sendable, Hashable {
    /// UTF-8 text; the pad lays it out on one row (`PROTOCOL.md` §5.3).
    public var text: [UInt8]
    public var alignment: TextAlignment

    public init(text: [UInt8], alignment: TextAlignment = .left) {
        self.text = text
        self.alignment = alignment
    }
}

/// SHOW_SCREEN: replaces the whole display with display-only lines (at most 8).
public struct Screen: Sendable, Hashable {
    public var lines: [ScreenLine]
    public init(lines: [ScreenLine]) { self.lines = lines }
}

/// A hint the pad shows with a prompt, from its own text table.
public enum PromptNotice: UInt8, Sendable, Hashable {
    case none = 0
    /// "Wrong code, try again".
    case wrongCode = 1
    /// "Not a valid number".
    case invalidEntry = 2
}

/// PROMPT: ask the customer for an entry from the pad's prompt table.
public struct PromptRequest: Sendable, Hashable {
    /// Chosen by the host, echoed in KEY_EVENT, BUSY and ENTRY_RESULT; never 0.
    public var token: UInt16
    public var prompt: PromptID
    /// 0 = the table's default; otherwise 5–600 seconds.
    public var timeoutSeconds: UInt16
    /// Amount in whole ISK shown with the prompt; 0 = none.
    public var amount: UInt32
    public var notice: PromptNotice

    public init(token: UInt16, prompt: PromptID, timeoutSeconds: UInt16 = 0, amount: UInt32 = 0, notice: PromptNotice = .none) {
        self.token = token
        self.prompt = prompt
        self.timeoutSeconds = timeoutSeconds
        self.amount = amount
        self.notice = notice
    }
}

public enum BeepPattern: UInt8, Sendable, Hashable {
    case none = 0
    case short = 1
    case long = 2
    case error = 3
    case success = 4
}

public enum IndicatorLight: UInt8, Sendable, Hashable {
    case off = 0
    case green = 1
    case red = 2
    case amber = 3
    case unchanged = 0xFF
}

public struct Indication: Sendable, Hashable {
    public var beep: BeepPattern
    public var light: IndicatorLight
    public init(beep: BeepPattern, light: IndicatorLight = .unchanged) {
        self.beep = beep
        self.light = light
    }
}

public enum KeyKind: UInt8, Sendable, Hashable {
    case digit = 0
    case clear = 1
    case ok = 2
    case cancel = 3
    /// A key the prompt refused (a digit past the maximum, OK below the minimum).
    case refused = 4
}

/// KEY_EVENT: a key was pressed during a prompt. Carries no digit value, only the entry's
/// length after the key, so no customer data leaves the pad before OK.
public struct KeyEvent: Sendable, Hashable {
    public var token: UInt16
    public var key: KeyKind
    public var length: UInt8
    public init(token: UInt16, key: KeyKind, length: UInt8) {
        self.token = token
        self.key = key
        self.length = length
    }
}

public enum EntryOutcome: UInt8, Sendable, Hashable {
    case entered = 0
    case cancelledByCustomer = 1
    case timedOut = 2
    case cancelledByHost = 3
    /// The pad refused the prompt: unknown prompt id, token 0, or a timeout out of range.
    case refused = 4
    /// The prompt ended because the pad was reset (RESET or a new HELLO).
    case aborted = 5
}

/// ENTRY_RESULT: the one and only answer to a PROMPT.
public struct EntryResult: Sendable, Hashable {
    public var token: UInt16
    public var prompt: PromptID
    public var outcome: EntryOutcome
    /// ASCII digits; empty unless `outcome == .entered`.
    public var digits: [UInt8]
    public init(token: UInt16, prompt: PromptID, outcome: EntryOutcome, digits: [UInt8] = []) {
        self.token = token
        self.prompt = prompt
        self.outcome = outcome
        self.digits = digits
    }
}

public enum PadState: UInt8, Sendable, Hashable {
    case idle = 0
    case showingScreen = 1
    case prompting = 2
    case outOfService = 3
}

public struct DeviceFaults: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let display = DeviceFaults(rawValue: 1 << 0)
    public static let keypad = DeviceFaults(rawValue: 1 << 1)
    public static let tamper = DeviceFaults(rawValue: 1 << 2)
}

/// STATUS: answer to STATUS_REQUEST, also sent unrequested when a fault appears or clears.
public struct DeviceStatus: Sendable, Hashable {
    public var state: PadState
    public var activeToken: UInt16
    public var uptimeSeconds: UInt32
    public var faults: DeviceFaults
    public init(state: PadState, activeToken: UInt16 = 0, uptimeSeconds: UInt32, faults: DeviceFaults = []) {
        self.state = state
        self.activeToken = activeToken
        self.uptimeSeconds = uptimeSeconds
        self.faults = faults
    }
}

/// BUSY: the keep-alive a pad sends every 5 s while a prompt waits for the customer.
public struct BusyNotice: Sendable, Hashable {
    public var token: UInt16
    public var secondsRemaining: UInt16
    public init(token: UInt16, secondsRemaining: UInt16) {
        self.token = token
        self.secondsRemaining = secondsRemaining
    }
}

public struct ErrorCode: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let unknownMessageType = ErrorCode(rawValue: 1)
    public static let malformedPayload = ErrorCode(rawValue: 2)
    public static let notAllowedNow = ErrorCode(rawValue: 3)
    public static let displayFault = ErrorCode(rawValue: 4)
    public static let keypadFault = ErrorCode(rawValue: 5)
    public static let internalError = ErrorCode(rawValue: 6)
}

/// ERROR_REPORT: either side says a message it received could not be acted on.
public struct ErrorReport: Sendable, Hashable {
    public var code: ErrorCode
    /// The type and sequence number of the offending frame (0 when none).
    public var referenceType: UInt8
    public var referenceSequence: UInt8
    /// UTF-8 diagnostic text for logs, at most 64 bytes; never customer data.
    public var text: [UInt8]
    public init(code: ErrorCode, referenceType: UInt8 = 0, referenceSequence: UInt8 = 0, text: [UInt8] = []) {
        self.code = code
        self.referenceType = referenceType
        self.referenceSequence = referenceSequence
        self.text = text
    }
}

/// An application message: what a data frame carries (`PROTOCOL.md` §5).
public enum Message: Sendable, Hashable {
    case showScreen(Screen)
    case prompt(PromptRequest)
    case cancelPrompt(token: UInt16)
    case indicate(Indication)
    case reset
    case statusRequest
    case keyEvent(KeyEvent)
    case entryResult(EntryResult)
    case status(DeviceStatus)
    case busy(BusyNotice)
    case errorReport(ErrorReport)
    case ping([UInt8])

    public var type: MessageType {
        switch self {
        case .showScreen: return .showScreen
        case .prompt: return .prompt
        case .cancelPrompt: return .cancelPrompt
        case .indicate: return .indicate
        case .reset: return .reset
        case .statusRequest: return .statusRequest
        case .keyEvent: return .keyEvent
        case .entryResult: return .entryResult
        case .status: return .status
        case .busy: return .busy
        case .errorReport: return .errorReport
        case .ping: return .ping
        }
    }

    public func encodePayload() -> [UInt8] {
        var w = PayloadWriter()
        switch self {
        case .showScreen(let screen):
            w.u8(UInt8(truncatingIfNeeded: screen.lines.count))
            for line in screen.lines {
                w.u8(line.alignment.rawValue)
                w.shortBytes(line.text)
            }
        case .prompt(let p):
            w.u16(p.token)
            w.u8(p.prompt.rawValue)
            w.u16(p.timeoutSeconds)
            w.u32(p.amount)
            w.u8(p.notice.rawValue)
        case .cancelPrompt(let token):
            w.u16(token)
        case .indicate(let i):
            w.u8(i.beep.rawValue)
            w.u8(i.light.rawValue)
        case .reset, .statusRequest:
            break
        case .keyEvent(let k):
            w.u16(k.token)
            w.u8(k.key.rawValue)
            w.u8(k.length)
        case .entryResult(let r):
            w.u16(r.token)
            w.u8(r.prompt.rawValue)
            w.u8(r.outcome.rawValue)
            w.shortBytes(r.digits)
        case .status(let s):
            w.u8(s.state.rawValue)
            w.u16(s.activeToken)
            w.u32(s.uptimeSeconds)
            w.u16(s.faults.rawValue)
        case .busy(let b):
            w.u16(b.token)
            w.u16(b.secondsRemaining)
        case .errorReport(let e):
            w.u8(e.code.rawValue)
            w.u8(e.referenceType)
            w.u8(e.referenceSequence)
            w.shortBytes(e.text)
        case .ping(let data):
            w.raw(data)
        }
        return w.bytes
    }

    public static func decode(type raw: UInt8, payload: [UInt8]) throws(MessageError) -> Message {
        guard let type = MessageType(rawValue: raw), MessageType.isData(raw) else { throw .unknownType(raw) }
        var r = PayloadReader(payload)
        let message: Message
        switch type {
        case .showScreen:
            let count = try r.u8()
            guard count <= 8 else { throw .invalidValue(offset: 0) }
            var lines: [ScreenLine] = []
            for _ in 0..<count {
                let at = r.index
                guard let alignment = TextAlignment(rawValue: try r.u8()) else { throw .invalidValue(offset: at) }
                lines.append(ScreenLine(text: try r.shortBytes(), alignment: alignment))
            }
            message = .showScreen(Screen(lines: lines))
        case .prompt:
            let token = try r.u16()
            let prompt = PromptID(rawValue: try r.u8())
            let timeout = try r.u16()
            let amount = try r.u32()
            guard let notice = PromptNotice(rawValue: try r.u8()) else { throw .invalidValue(offset: 9) }
            message = .prompt(PromptRequest(token: token, prompt: prompt, timeoutSeconds: timeout, amount: amount, notice: notice))
        case .cancelPrompt:
            message = .cancelPrompt(token: try r.u16())
        case .indicate:
            guard let beep = BeepPattern(rawValue: try r.u8()) else { throw .invalidValue(offset: 0) }
            guard let light = IndicatorLight(rawValue: try r.u8()) else { throw .invalidValue(offset: 1) }
            message = .indicate(Indication(beep: beep, light: light))
        case .reset:
            message = .reset
        case .statusRequest:
            message = .statusRequest
        case .keyEvent:
            let token = try r.u16()
            guard let key = KeyKind(rawValue: try r.u8()) else { throw .invalidValue(offset: 2) }
            message = .keyEvent(KeyEvent(token: token, key: key, length: try r.u8()))
        case .entryResult:
            let token = try r.u16()
            let prompt = PromptID(rawValue: try r.u8())
            guard let outcome = EntryOutcome(rawValue: try r.u8()) else { throw .invalidValue(offset: 3) }
            let digits = try r.shortBytes()
            guard digits.isASCIIDigits, outcome == .entered || digits.isEmpty else { throw .invalidValue(offset: 5) }
            message = .entryResult(EntryResult(token: token, prompt: prompt, outcome: outcome, digits: digits))
        case .status:
            guard let state = PadState(rawValue: try r.u8()) else { throw .invalidValue(offset: 0) }
            let token = try r.u16()
            let uptime = try r.u32()
            message = .status(DeviceStatus(state: state, activeToken: token, uptimeSeconds: uptime, faults: DeviceFaults(rawValue: try r.u16())))
        case .busy:
            let token = try r.u16()
            message = .busy(BusyNotice(token: token, secondsRemaining: try r.u16()))
        case .errorReport:
            let code = ErrorCode(rawValue: try r.u8())
            let refType = try r.u8()
            let refSeq = try r.u8()
            message = .errorReport(ErrorReport(code: code, referenceType: refType, referenceSequence: refSeq, text: try r.shortBytes()))
        case .ping:
            message = .ping(r.rest())
        case .ack, .nak, .heartbeat, .hello, .helloReply, .announce:
            throw .unknownType(raw)
        }
        r.finish()
        return message
    }
}

// MARK: - Link-control payloads

extension HostHello {
    public func encodePayload() -> [UInt8] {
        var w = PayloadWriter()
        w.u8(minVersion)
        w.u8(maxVersion)
        w.u16(maxPayload)
        w.shortBytes(Array(hostName.prefix(32)))
        return w.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(MessageError) -> HostHello {
        var r = PayloadReader(payload)
        let minV = try r.u8()
        let maxV = try r.u8()
        let maxPayload = try r.u16()
        let name = try r.shortBytes()
        guard minV >= 1, minV <= maxV else { throw .invalidValue(offset: 0) }
        return HostHello(minVersion: minV, maxVersion: maxV, maxPayload: maxPayload, hostName: name)
    }
}

extension DeviceInfo {
    public func encodePayload() -> [UInt8] {
        var w = PayloadWriter()
        w.u8(version)
        w.u16(maxPayload)
        w.u8(rows)
        w.u8(columns)
        w.u8(charset)
        w.u16(keys.rawValue)
        w.shortBytes(model)
        w.shortBytes(firmwareVersion)
        w.shortBytes(serialNumber)
        w.u8(UInt8(truncatingIfNeeded: prompts.count))
        for p in prompts {
            w.u8(p.id.rawValue)
            w.u8(p.minDigits)
            w.u8(p.maxDigits)
            w.u8(p.echo.rawValue)
            w.u16(p.defaultTimeoutSeconds)
        }
        return w.bytes
    }

    public static func decode(_ payload: [UInt8]) throws(MessageError) -> DeviceInfo {
        var r = PayloadReader(payload)
        let version = try r.u8()
        let maxPayload = try r.u16()
        let rows = try r.u8()
        let columns = try r.u8()
        let charset = try r.u8()
        let keys = KeypadKeys(rawValue: try r.u16())
        let model = try r.shortBytes()
        let firmware = try r.shortBytes()
        let serial = try r.shortBytes()
        let count = try r.u8()
        var prompts: [PromptSpec] = []
        for _ in 0..<count {
            let id = PromptID(rawValue: try r.u8())
            let minD = try r.u8()
            let maxD = try r.u8()
            let at = r.index
            guard let echo = EchoMode(rawValue: try r.u8()) else { throw .invalidValue(offset: at) }
            let timeout = try r.u16()
            guard minD <= maxD else { throw .invalidValue(offset: at - 2) }
            prompts.append(PromptSpec(id: id, minDigits: minD, maxDigits: maxD, echo: echo, defaultTimeoutSeconds: timeout))
        }
        guard rows > 0, columns > 0, maxPayload >= 64 || version == 0 else { throw .invalidValue(offset: 1) }
        return DeviceInfo(
            version: version, maxPayload: maxPayload, rows: rows, columns: columns, charset: charset, keys: keys,
            model: model, firmwareVersion: firmware, serialNumber: serial, prompts: prompts)
    }
}
