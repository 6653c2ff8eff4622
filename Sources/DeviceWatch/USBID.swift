/// A USB vendor and product ID pair, written `1209:0001` (hexadecimal, as `lsusb` shows it).
public struct USBID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var vendor: UInt16
    public var product: UInt16

    public init(vendor: UInt16, product: UInt16) {
        self.vendor = vendor
        self.product = product
    }

    /// Parses `VVVV:PPPP` (1–4 hex digits each, optional `0x`, any case). Nil if malformed.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let vendor = Self.hex16(parts[0]), let product = Self.hex16(parts[1]) else { return nil }
        self.init(vendor: vendor, product: product)
    }

    /// Parses sysfs `idVendor`/`idProduct` or udev `ID_VENDOR_ID`/`ID_MODEL_ID` values
    /// (four hex digits, possibly with a trailing newline).
    public init?(vendor: String?, product: String?) {
        guard let vendor = vendor.flatMap(Self.hex16), let product = product.flatMap(Self.hex16) else { return nil }
        self.init(vendor: vendor, product: product)
    }

    public var description: String { Self.pad(vendor) + ":" + Self.pad(product) }

    public static func < (a: USBID, b: USBID) -> Bool { (a.vendor, a.product) < (b.vendor, b.product) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = USBID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "expected VID:PID like 1209:0001, got \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func hex16(_ text: some StringProtocol) -> UInt16? {
        var digits = Substring(text).drop { $0 == " " || $0 == "\t" }
        while let last = digits.last, last == "\n" || last == " " || last == "\t" { digits = digits.dropLast() }
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") { digits = digits.dropFirst(2) }
        guard (1...4).contains(digits.count), digits.allSatisfy(\.isHexDigit) else { return nil }
        return UInt16(digits, radix: 16)
    }

    private static func pad(_ value: UInt16) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 4 - text.count) + text
    }
}

extension USBID {
    /// The placeholder ID of the reference PIN-pad firmware: pid.codes' test VID:PID `1209:0001`.
    /// It is for development only; an integrator ships a pad with its own allocated pair and
    /// adds it to the configured match list (and to udev/70-netgiro-pinpad.rules).
    public static let referencePad = USBID(vendor: 0x1209, product: 0x0001)
}
