import Foundation

/// Netgíró's partner API refund (`POST {partner base}refund`), as `docs/netgiro-refund.md`
/// records it: JSON `transactionId`, `refundAmount` (whole krónur), `idempotencyKey`, optional
/// `reason`; the shop's SecretKey in a `token` header; HTTP 200 means refunded.
public struct NetgiroRefundRequest: Sendable, Hashable, Encodable {
    public var transactionId: String
    public var refundAmount: Int
    public var idempotencyKey: String
    public var reason: String?

    /// Checks the request against what Netgíró's own client sends (see the facts document).
    public init(transactionId: String, amount: Int, idempotencyKey: String, reason: String? = nil) throws(NetgiroRefundError) {
        guard !transactionId.isEmpty else { throw .invalid(field: "transactionId", rule: "required") }
        guard amount >= 1 else { throw .invalid(field: "refundAmount", rule: "a whole number of krónur, at least 1") }
        guard (1...40).contains(idempotencyKey.count),
            idempotencyKey.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) || ("a"..."f").contains($0) || $0 == "-" })
        else { throw .invalid(field: "idempotencyKey", rule: "1 to 40 characters of 0-9, a-f and -") }
        if let reason, reason.count > 100 { throw .invalid(field: "reason", rule: "at most 100 characters") }
        self.transactionId = transactionId
        self.refundAmount = amount
        self.idempotencyKey = idempotencyKey
        self.reason = reason?.isEmpty == true ? nil : reason
    }

    /// The JSON body (keys in a fixed order, `reason` left out when there is none).
    public func body() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}

/// What Netgíró answered to a refund.
public enum NetgiroRefundOutcome: Sendable, Hashable {
    /// HTTP 200: the money goes back to the customer. The body's `Message`, if any.
    case refunded(message: String?)
    /// Netgíró read the request and said no (a 4xx with its reason): nothing was refunded.
    case refused(status: Int, message: String)

    /// Reads an answer. A 5xx, or an answer that is neither 200 nor a readable 4xx refusal, is
    /// not an outcome: the refund may or may not have happened (thrown as `outcomeUnknown`).
    public static func interpret(status: Int, body: [UInt8]) throws(NetgiroRefundError) -> NetgiroRefundOutcome {
        let message = Self.message(in: body)
        if status == 200 { return .refunded(message: message) }
        if (400...499).contains(status) {
            return .refused(status: status, message: message ?? "HTTP \(status) with no reason given")
        }
        let what = message.map { "HTTP \(status): \($0)" } ?? "HTTP \(status)" + (body.isEmpty ? " with an empty body" : " with a body that is not Netgíró's JSON")
        throw .outcomeUnknown(cause: what)
    }

    static func message(in body: [UInt8]) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return (object["Message"] as? String) ?? (object["message"] as? String)
    }
}

public enum NetgiroRefundError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request breaks a rule before it is sent.
    case invalid(field: String, rule: String)
    /// The request may have reached Netgíró and no answer says what happened: ask again with
    /// the same idempotency key, or check in Netgíró's portal.
    case outcomeUnknown(cause: String)

    public var description: String {
        switch self {
        case .invalid(let field, let rule): return "refund field \(field): \(rule)"
        case .outcomeUnknown(let cause):
            return "no answer says whether the refund happened (\(cause)) — ask again with the same idempotency key, or check the transaction in Netgíró's portal"
        }
    }
}

/// The partner API's base URL beside a v1 checkout base URL (docs/netgiro-refund.md, "Base URLs"):
/// `api.netgiro.is/v1/` → `api.netgiro.is/partner/`, `api.test.netgiro.is/v1/` →
/// `partner-api.test.netgiro.is/`, any other `…/v1/` (a simulator, a proxy) → `…/partner/`.
public func netgiroPartnerBaseURL(checkoutBaseURL: String) -> String? {
    guard var components = URLComponents(string: checkoutBaseURL), let host = components.host?.lowercased() else { return nil }
    if host == "api.test.netgiro.is" {
        components.host = "partner-api.test.netgiro.is"
        components.path = "/"
        return components.string
    }
    let path = components.path.hasSuffix("/") ? components.path : components.path + "/"
    guard path.lowercased().hasSuffix("/v1/") else { return nil }
    components.path = String(path.dropLast(4)) + "/partner/"
    return components.string
}

