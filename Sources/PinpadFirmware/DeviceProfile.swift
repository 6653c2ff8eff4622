#if canImport(PinpadProtocol)
import PinpadProtocol
#endif

/// What a pad is: its identity and its display, as announced in HELLO_REPLY (`PROTOCOL.md` §6.2).
/// Text fields are UTF-8 bytes of at most 32 bytes each (longer values are cut when announced).
public struct DeviceProfile: Sendable, Hashable {
    public var model: [UInt8]
    public var serialNumber: [UInt8]
    public var firmwareVersion: [UInt8]
    /// Display rows (at least 1).
    public var rows: UInt8
    /// Display columns in characters (at least 1).
    public var columns: UInt8
    /// Largest payload the pad accepts, 64–246.
    public var maxPayload: UInt16

    public init(
        model: [UInt8] = PadText.bytes("NG-PAD-1"), serialNumber: [UInt8] = PadText.bytes("SIM00001"),
        firmwareVersion: [UInt8] = PadFirmware.version, rows: UInt8 = 4, columns: UInt8 = 20,
        maxPayload: UInt16 = 246
    ) {
        self.model = model
        self.serialNumber = serialNumber
        self.firmwareVersion = firmwareVersion
        self.rows = rows
        self.columns = columns
        self.maxPayload = maxPayload
    }

    /// The HELLO_REPLY payload this profile announces (the version is chosen per HELLO).
    public var deviceInfo: DeviceInfo {
        DeviceInfo(
            version: ProtocolLimits.version,
            maxPayload: min(max(maxPayload, 64), UInt16(ProtocolLimits.maxPayload)),
            rows: max(rows, 1), columns: max(columns, 1), charset: 1, keys: .standard,
            model: Array(model.prefix(32)), firmwareVersion: Array(firmwareVersion.prefix(32)),
            serialNumber: Array(serialNumber.prefix(32)), prompts: PadPromptTable.prompts)
    }
}

/// The pad's built-in prompt table (`PROTOCOL.md` §5.2, the anti-phishing rule): the host can
/// only name a prompt; its question, limits and echo mode live here.
public enum PadPromptTable {
    public static let prompts: [PromptSpec] = [
        PromptSpec(id: .customerID, minDigits: 7, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60),
        PromptSpec(id: .smsCode, minDigits: 4, maxDigits: 6, echo: .masked, defaultTimeoutSeconds: 120),
        PromptSpec(id: .confirmAmount, minDigits: 0, maxDigits: 0, echo: .hidden, defaultTimeoutSeconds: 60),
    ]

    /// Largest `max_digits` of the table: the entry buffer's capacity.
    public static let maxDigits = 10

    /// The prompt timeout range a PROMPT may ask for (0 means the table's default).
    public static let timeoutRange: ClosedRange<UInt16> = 5...600

    public static func spec(_ id: PromptID) -> PromptSpec? {
        for p in prompts where p.id == id { return p }
        return nil
    }
}
