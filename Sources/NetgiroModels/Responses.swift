import Foundation

/// The fields every Netgíró response carries.
public struct NetgiroEnvelope: Sendable, Hashable {
    public var success: Bool
    /// The server's message, for the person at the till (may be nil).
    public var message: String?
    public var resultCode: ResultCode

    public init(success: Bool, message: String?, resultCode: ResultCode) {
        self.success = success
        self.message = message
        self.resultCode = resultCode
    }
}

/// InsertCart's answer.
public struct InsertCartResponse: Sendable, Hashable {
    public var success: Bool
    public var message: String?
    public var resultCode: ResultCode
    /// The only handle on the cart. Nil when the cart was not created.
    public var transactionId: String?
    /// `ProcessCartCheckIntervalMiliseconds` (sic): the poll interval Netgíró asks for.
    public var processCartCheckInterval: Duration?
    public var remoteConfirmationAvailable: Bool?
    public var announcementMessage: String?

    public var envelope: NetgiroEnvelope { .init(success: success, message: message, resultCode: resultCode) }
}

/// CheckCart's, ConfirmCart's and CancelCart's answer; also the body of a ServerCallback.
public struct CartResponse: Sendable, Hashable {
    public var success: Bool
    public var message: String?
    public var resultCode: ResultCode
    public var paymentSuccessful: Bool
    public var paymentInfo: PaymentInfo?

    public var envelope: NetgiroEnvelope { .init(success: success, message: message, resultCode: resultCode) }
}

/// `PaymentInfo`: what Netgíró knows about the payment.
public struct PaymentInfo: Sendable, Hashable {
    public var transactionId: String?
    public var invoiceNumber: Int?
    /// The provider's Reference.
    public var referenceNumber: String?
    public var status: PaymentStatus?
    public var created: NetgiroDateTime?
    public var totalAmount: Decimal?
    public var discountAmount: Decimal?
    public var shippingAmount: Decimal?
    public var handlingAmount: Decimal?
    public var accountNumber: String?
    public var numberOfInstallments: Int?
    public var clientIdentityConfirmed: Bool?
    public var cartId: String?
    public var locationId: String?
    public var registerId: String?

    public init(
        transactionId: String? = nil, invoiceNumber: Int? = nil, referenceNumber: String? = nil,
        status: PaymentStatus? = nil, created: NetgiroDateTime? = nil, totalAmount: Decimal? = nil
    ) {
        self.transactionId = transactionId
        self.invoiceNumber = invoiceNumber
        self.referenceNumber = referenceNumber
        self.status = status
        self.created = created
        self.totalAmount = totalAmount
    }
}

/// A body that could not be read as a Netgíró response.
public struct NetgiroDecodingError: Error, Hashable, CustomStringConvertible {
    public var reason: String
    /// The first bytes of the body, as text, for diagnosis (responses carry no customer ids).
    public var bodyPrefix: String

    public var description: String { "\(reason); body starts: \(bodyPrefix.debugDescription)" }
}

/// Tolerant decoding of Netgíró's JSON: keys matched case-insensitively, unknown fields ignored,
/// nulls and missing optional fields accepted, numbers accepted as JSON numbers or numeric
/// strings. Only `ResultCode` is required: without it a body cannot be interpreted.
public enum NetgiroResponseDecoder {
    public static func decodeInsertCart(_ body: [UInt8]) throws(NetgiroDecodingError) -> InsertCartResponse {
        try decodeInsertCart(NetgiroResponseBody(body))
    }

    /// InsertCart's answer from a body already parsed (its envelope may have been read first).
    public static func decodeInsertCart(_ parsed: NetgiroResponseBody) throws(NetgiroDecodingError) -> InsertCartResponse {
        let body = parsed.bytes
        let o = try parsed.object()
        let (success, message, code) = try envelope(o, body)
        let interval = o.int("ProcessCartCheckIntervalMiliseconds") ?? o.int("ProcessCartCheckIntervalMilliseconds")
        return InsertCartResponse(
            success: success, message: message, resultCode: code,
            transactionId: o.string("TransactionId"),
            processCartCheckInterval: interval.map { .milliseconds($0) },
            remoteConfirmationAvailable: o.bool("RemoteConfirmationAvailable"),
            announcementMessage: o.string("AnnouncementMessage"))
    }

    public static func decodeCart(_ body: [UInt8]) throws(NetgiroDecodingError) -> CartResponse {
        try decodeCart(NetgiroResponseBody(body))
    }

    /// A cart answer from a body already parsed (its envelope may have been read first).
    public static func decodeCart(_ parsed: NetgiroResponseBody) throws(NetgiroDecodingError) -> CartResponse {
        let body = parsed.bytes
        let o = try parsed.object()
        let (success, message, code) = try envelope(o, body)
        return CartResponse(
            success: success, message: message, resultCode: code,
            paymentSuccessful: o.bool("PaymentSuccessful") ?? false,
            paymentInfo: o.object("PaymentInfo").map(paymentInfo))
    }

    /// Just the envelope (any call's response).
    public static func decodeEnvelope(_ body: [UInt8]) throws(NetgiroDecodingError) -> NetgiroEnvelope {
        try decodeEnvelope(NetgiroResponseBody(body))
    }

    /// Just the envelope of a body already parsed.
    public static func decodeEnvelope(_ parsed: NetgiroResponseBody) throws(NetgiroDecodingError) -> NetgiroEnvelope {
        let o = try parsed.object()
        let (success, message, code) = try envelope(o, parsed.bytes)
        return NetgiroEnvelope(success: success, message: message, resultCode: code)
    }

    static func paymentInfo(_ o: LenientObject) -> PaymentInfo {
        var p = PaymentInfo()
        p.transactionId = o.string("TransactionId")
        p.invoiceNumber = o.int("InvoiceNumber")
        p.referenceNumber = o.string("ReferenceNumber")
        p.status = o.int("StatusId").map(PaymentStatus.init(id:))
        p.created = o.string("Created").map(NetgiroDateTime.init(raw:))
        p.totalAmount = o.decimal("TotalAmount")
        p.discountAmount = o.decimal("DiscountAmount")
        p.shippingAmount = o.decimal("ShippingAmount")
        p.handlingAmount = o.decimal("HandlingAmount")
        p.accountNumber = o.string("AccountNumber")
        p.numberOfInstallments = o.int("NumberOfInstallments")
        p.clientIdentityConfirmed = o.bool("ClientIdentityConfirmed")
        p.cartId = o.string("CartId")
        p.locationId = o.string("LocationId")
        p.registerId = o.string("RegisterId")
        return p
    }

    static func object(_ body: [UInt8]) throws(NetgiroDecodingError) -> LenientObject {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            throw NetgiroDecodingError(reason: "the response is not JSON", bodyPrefix: prefix(body))
        }
        guard let dict = parsed as? [String: Any] else {
            throw NetgiroDecodingError(reason: "the response is not a JSON object", bodyPrefix: prefix(body))
        }
        return LenientObject(dict)
    }

    static func envelope(_ o: LenientObject, _ body: [UInt8]) throws(NetgiroDecodingError) -> (Bool, String?, ResultCode) {
        guard let code = o.int("ResultCode") else {
            throw NetgiroDecodingError(reason: "the response has no ResultCode", bodyPrefix: prefix(body))
        }
        return (o.bool("Success") ?? false, o.string("Message"), ResultCode(code: code))
    }

    static func prefix(_ body: [UInt8]) -> String {
        String(decoding: body.prefix(120), as: UTF8.self)
    }
}

/// A response body parsed once: the client reads its envelope (for metrics and error statuses)
/// and then its call's fields from the same parse, instead of parsing the JSON three times.
/// Decoding from it gives exactly what decoding the bytes gives, errors included.
public struct NetgiroResponseBody {
    public let bytes: [UInt8]
    private let parsed: Result<LenientObject, NetgiroDecodingError>

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        do {
            parsed = .success(try NetgiroResponseDecoder.object(bytes))
        } catch {
            parsed = .failure(error)
        }
    }

    func object() throws(NetgiroDecodingError) -> LenientObject {
        switch parsed {
        case .success(let object): return object
        case .failure(let error): throw error
        }
    }
}

/// A JSON object from JSONSerialization, read leniently.
struct LenientObject {
    private let values: [String: Any]

    init(_ dict: [String: Any]) {
        self.values = dict
    }

    /// The value for `key`, matched without regard to the case of its ASCII letters: as
    /// spelled first (Netgíró's own spelling, the usual case), then by a walk over the keys.
    /// Nothing is lower-cased: lower-casing every key of every object, and the key of every
    /// lookup, cost more than the lookups themselves.
    private func value(_ key: String) -> Any? {
        // JSON null is NSNull. Asked of the value's type, not of the value: `v is NSNull` on a
        // String first bridges it to NSString to ask (~4.5 k instructions a field).
        guard let v = values[key] ?? otherwiseSpelled(key), !(type(of: v) is NSNull.Type) else { return nil }
        return v
    }

    /// A field absent as spelled: a walk over the keys alone (the values, `Any`s, are not
    /// copied on the way), then one lookup.
    private func otherwiseSpelled(_ key: String) -> Any? {
        guard let spelled = values.keys.first(where: { Self.sameIgnoringCase($0, key) }) else { return nil }
        return values[spelled]
    }

    /// Equal but for the case of ASCII letters (the keys Netgíró sends and this module asks for
    /// are ASCII).
    static func sameIgnoringCase(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count
            && a.utf8.elementsEqual(b.utf8) { x, y in
                x == y || (x | 0x20 == y | 0x20 && (0x61...0x7A).contains(x | 0x20))
            }
    }

    func string(_ key: String) -> String? {
        switch value(key) {
        case let s as String: return s
        case let n as NSNumber where !JSONType.isBool(n): return n.stringValue
        default: return nil
        }
    }

    func int(_ key: String) -> Int? {
        switch value(key) {
        case let n as NSNumber where !JSONType.isBool(n):
            let d = n.doubleValue
            guard d.rounded() == d, abs(d) < 9e15 else { return nil }
            return n.intValue
        case let s as String: return Int(s.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }

    func decimal(_ key: String) -> Decimal? {
        switch value(key) {
        case let n as NSNumber where !JSONType.isBool(n):
            return Decimal(string: n.stringValue) ?? n.decimalValue
        case let s as String: return Decimal(string: s.trimmingCharacters(in: .whitespaces), locale: Locale(identifier: "en_US_POSIX"))
        default: return nil
        }
    }

    func bool(_ key: String) -> Bool? {
        switch value(key) {
        case let n as NSNumber: return JSONType.isBool(n) ? n.boolValue : (n.intValue != 0)
        case let s as String:
            switch s.lowercased() {
            case "true": return true
            case "false": return false
            default: return nil
            }
        default: return nil
        }
    }

    func object(_ key: String) -> LenientObject? {
        (value(key) as? [String: Any]).map(LenientObject.init)
    }
}

/// The JSON type of a value JSONSerialization produced. Integers, floating-point numbers and
/// booleans all arrive as NSNumber; the number's type encoding tells them apart.
public enum JSONType {
    public static func isBool(_ n: NSNumber) -> Bool {
        #if canImport(Darwin)
            return CFGetTypeID(n) == CFBooleanGetTypeID()
        #else
            // swift-corelibs-foundation: JSON true/false are __NSCFBoolean with type "c";
            // JSON integers are "i" or "q", other numbers "d".
            return String(cString: n.objCType) == "c"
        #endif
    }

    /// A JSON integer (no fraction, no exponent in the text).
    public static func isInteger(_ value: Any) -> Bool {
        guard let n = value as? NSNumber, !isBool(n), !(value is NSDecimalNumber) else { return false }
        switch String(cString: n.objCType) {
        case "q", "l", "i", "s", "Q", "L", "I", "S": return true
        default: return false
        }
    }

    public static func isString(_ value: Any) -> Bool { value is String }
}
