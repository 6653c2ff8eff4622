import Foundation
import NetgiroModels

/// The Netgíró partner API's refund call, simulated strictly to the facts in
/// `docs/netgiro-refund.md`: `POST /partner/refund` with the shop's SecretKey in a `token`
/// header and a JSON body of exactly `transactionId`, `refundAmount` (whole krónur),
/// `idempotencyKey` and optionally `reason`.
///
/// A pure state machine: the request and what it needs to know about the cart come in, the
/// answer comes out. Rules: only a paid cart of the app whose secret is the token; never more
/// than the cart's amount in total; the same key with the same body is the same refund (200
/// again, nothing refunded twice), with another body a 409.
public struct NetgiroSimRefunds: Sendable {
    public static let path = "/partner/refund"

    public struct Refund: Sendable, Hashable, Codable {
        public var transactionId: String
        public var amount: Int
        public var idempotencyKey: String
        public var reason: String?
    }

    /// What the desk needs to know about a cart.
    public struct CartFacts: Sendable {
        public var amount: Int
        public var paid: Bool
        public var secret: NetgiroSecret?

        public init(amount: Int, paid: Bool, secret: NetgiroSecret?) {
            self.amount = amount
            self.paid = paid
            self.secret = secret
        }
    }

    public struct Reply: Sendable, Equatable {
        public var status: Int
        public var message: String
        /// Why the request was refused, for the simulator's log (nil when it was taken).
        public var violation: String?
        public var body: [UInt8] { Array(#"{"Message":\#(Self.quoted(message))}"#.utf8) }

        static func quoted(_ text: String) -> String {
            String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
        }
    }

    public private(set) var refunds: [Refund] = []

    public init() {}

    /// Krónur refunded so far on a cart.
    public func refunded(_ transactionId: String) -> Int {
        refunds.filter { $0.transactionId == transactionId }.reduce(0) { $0 + $1.amount }
    }

    public mutating func receive(
        method: String, headers: [(String, String)], body: [UInt8], cart: (String) -> CartFacts?
    ) -> Reply {
        func refuse(_ status: Int, _ message: String) -> Reply { Reply(status: status, message: message, violation: message) }
        guard method == "POST" else { return refuse(405, "The requested resource does not support http method '\(method)'.") }
        let contentType = headers.first { $0.0.lowercased() == "content-type" }?.1.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else { return refuse(415, "Content-Type must be application/json") }
        let tokens = headers.filter { $0.0.lowercased() == "token" }.map(\.1)
        guard tokens.count == 1, let token = tokens.first, !token.isEmpty else {
            return refuse(401, "Authorization has been denied for this request: one token header with the SecretKey is required.")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            return refuse(400, "The body must be a JSON object.")
        }
        let allowed: Set<String> = ["transactionId", "refundAmount", "idempotencyKey", "reason"]
        if let extra = object.keys.first(where: { !allowed.contains($0) }) {
            return refuse(400, "Unknown field \(extra); the fields are transactionId, refundAmount, idempotencyKey, reason.")
        }
        struct Body: Decodable {
            var transactionId: String?
            var refundAmount: Int?
            var idempotencyKey: String?
            var reason: String?
        }
        // Types through a decoder (a boolean or a fraction is not a whole number of krónur).
        guard let fields = try? JSONDecoder().decode(Body.self, from: Data(body)) else {
            return refuse(400, "transactionId, idempotencyKey and reason are strings; refundAmount is a whole number of krónur.")
        }
        guard let transactionId = fields.transactionId, !transactionId.isEmpty else {
            return refuse(400, "transactionId is required (a string).")
        }
        guard let amount = fields.refundAmount else { return refuse(400, "refundAmount is required: a whole number of krónur.") }
        guard amount >= 1 else { return refuse(400, "refundAmount must be at least 1.") }
        guard let key = fields.idempotencyKey, (1...64).contains(key.count) else {
            return refuse(400, "idempotencyKey is required: 1 to 64 characters.")
        }
        if let reason = fields.reason, reason.count > 100 { return refuse(400, "reason must be at most 100 characters.") }
        let reason = fields.reason
        guard let facts = cart(transactionId) else { return refuse(404, "Transaction \(transactionId) was not found.") }
        guard let secret = facts.secret, NetgiroSecret(token) == secret else {
            return refuse(401, "Authorization has been denied for this request.")
        }
        let refund = Refund(transactionId: transactionId, amount: amount, idempotencyKey: key, reason: reason)
        if let earlier = refunds.first(where: { $0.idempotencyKey == key && $0.transactionId == transactionId }) {
            guard earlier == refund else { return refuse(409, "idempotencyKey \(key) was used for another refund.") }
            return Reply(status: 200, message: "Refund already processed.", violation: nil)
        }
        guard facts.paid else { return refuse(409, "Transaction \(transactionId) is not paid; only paid transactions can be refunded.") }
        let left = facts.amount - refunded(transactionId)
        guard amount <= left else {
            return refuse(409, "refundAmount \(amount) is more than what is left to refund (\(left) of \(facts.amount)).")
        }
        refunds.append(refund)
        return Reply(status: 200, message: "Refund processed.", violation: nil)
    }
}
