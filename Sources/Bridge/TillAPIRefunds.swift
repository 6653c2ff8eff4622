import Checkout
import Foundation
import Hummingbird
import Journal
import Logging
import NetgiroAPI
import TillAPIContract

/// A refund as the till API shows it.
public struct TillRefund: Sendable, Hashable, Codable {
    public var id: String
    public var payment: String
    public var amount: Int
    /// requested | refunded | refused | unknown
    public var state: String
    public var reason: String?
    /// Netgíró's words (refused: why; unknown: what went wrong).
    public var message: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(_ record: RefundRecord) {
        id = record.id
        payment = record.paymentID
        amount = record.amount
        state = record.state.rawValue
        reason = record.reason
        message = record.message
        createdAt = record.createdAt
        updatedAt = record.updatedAt
    }
}

/// A payment's refunds and what is left to refund.
public struct TillRefundList: Sendable, Hashable, Codable {
    public var refunds: [TillRefund]
    /// Krónur refunded or possibly refunded (requested, unknown).
    public var refunded: Int
    public var refundable: Int
}

/// Refunds through Netgíró's partner API: the shell around ``RefundDesk``. Each refund is
/// journaled as `requested` before it is sent and again with Netgíró's answer; one whose answer
/// was lost stays `unknown` and is sent again (same Netgíró key) when the till repeats its
/// request with the same Idempotency-Key.
public actor RefundService {
    let journal: PaymentJournal
    let partner: NetgiroPartnerClient
    /// The payment as the till sees it (the daemon: ``PaymentService/payment(id:)``).
    let lookup: @Sendable (String) async -> TillPayment?
    let logger: Logger

    public init(journal: PaymentJournal, partner: NetgiroPartnerClient, payments: any PaymentService, logger: Logger) {
        self.init(journal: journal, partner: partner, lookup: { await payments.payment(id: $0) }, logger: logger)
    }

    public init(journal: PaymentJournal, partner: NetgiroPartnerClient, lookup: @escaping @Sendable (String) async -> TillPayment?, logger: Logger) {
        self.journal = journal
        self.partner = partner
        self.lookup = lookup
        self.logger = logger
    }

    public func list(paymentID: String) async throws(TillAPIProblem) -> TillRefundList {
        guard let payment = await lookup(paymentID) else { throw .notFound("no payment \(paymentID)") }
        let refunds = try await records(paymentID)
        let committed = RefundDesk.committed(refunds)
        return TillRefundList(
            refunds: refunds.map(TillRefund.init), refunded: committed, refundable: payment.state == .paid ? max(0, payment.amount - committed) : 0)
    }

    /// Takes one refund to its answer. `replayed`: the answer is an earlier refund's.
    public func refund(paymentID: String, ask: RefundAsk, idempotencyKey: String?) async throws(TillAPIProblem) -> (TillRefund, replayed: Bool) {
        guard let payment = await lookup(paymentID) else { throw .notFound("no payment \(paymentID)") }
        let facts = RefundablePayment(
            id: payment.id, paid: payment.state == .paid, state: payment.state.rawValue, amount: payment.amount,
            transactionId: payment.transactionId)
        let (newID, now) = (UUID().uuidString.lowercased(), Date())
        // The refunds read, the decision and a new refund's record in one journal transaction:
        // two requests for one payment at once cannot both spend what is left.
        let decision: RefundDesk.Decision
        do {
            decision = try await journal.decideRefund(paymentID: paymentID) { refunds in
                let decision = RefundDesk.decide(payment: facts, refunds: refunds, ask: ask, idempotencyKey: idempotencyKey, newID: newID, now: now)
                if case .send(let new) = decision { return (decision, save: new) }
                return (decision, save: nil)
            }
        } catch {
            throw TillAPIProblem(statusCode: 503, type: "journal", title: "The refund could not be journaled", detail: "\(error) — nothing was sent to Netgíró")
        }
        let refund: RefundRecord
        switch decision {
        case .refuse(let refusal): throw Self.problem(refusal)
        case .replay(let earlier): return (TillRefund(earlier), true)
        case .resend(let earlier): refund = earlier
        case .send(let new): refund = new
        }
        logger.info("refund requested", metadata: ["payment": "\(paymentID)", "refund": "\(refund.id)", "amount": "\(refund.amount)"])
        let answer: RefundDesk.Answer
        do {
            let request = try NetgiroRefundRequest(
                transactionId: refund.transactionId, amount: refund.amount, idempotencyKey: refund.id, reason: refund.reason)
            switch try await partner.refund(request) {
            case .refunded(let message): answer = .refunded(message: message)
            case .refused(let status, let message): answer = .refused(message: "Netgíró refused (HTTP \(status)): \(message)")
            }
        } catch {
            switch error {
            case .invalid(let field, let rule): answer = .refused(message: "not sent: \(field) \(rule)")
            case .outcomeUnknown(let cause): answer = .unknown(cause: cause)
            }
        }
        let done = RefundDesk.apply(answer, to: refund, now: Date())
        try await save(done)
        logger.notice("refund answered", metadata: ["payment": "\(paymentID)", "refund": "\(done.id)", "state": "\(done.state.rawValue)"])
        var resent = false
        if case .resend = decision { resent = true }
        return (TillRefund(done), resent)
    }

    func records(_ paymentID: String) async throws(TillAPIProblem) -> [RefundRecord] {
        do { return try await journal.refunds(paymentID: paymentID) } catch {
            throw TillAPIProblem(statusCode: 503, type: "journal", title: "The journal cannot be read", detail: "\(error)")
        }
    }

    func save(_ refund: RefundRecord) async throws(TillAPIProblem) {
        do { try await journal.save(refund) } catch {
            throw TillAPIProblem(statusCode: 503, type: "journal", title: "The refund could not be journaled", detail: "\(error) — nothing was sent to Netgíró")
        }
    }

    static func problem(_ refusal: RefundDesk.Refusal) -> TillAPIProblem {
        switch refusal {
        case .paymentNotPaid(let state):
            return TillAPIProblem(
                statusCode: 409, type: "payment-not-paid", title: "Only a paid payment can be refunded",
                detail: "the payment is \(state); cancel a payment that is still running instead")
        case .noTransactionId:
            return TillAPIProblem(statusCode: 409, type: "payment-not-paid", title: "Only a paid payment can be refunded", detail: "the payment has no Netgíró TransactionId")
        case .nothingLeft(let paid):
            return TillAPIProblem(
                statusCode: 409, type: "refund-exceeds-payment", title: "Nothing is left to refund",
                detail: "all \(paid) kr. of the payment are refunded (or their refund's outcome is unknown — see GET …/refunds)",
                field: "amount", rule: "at-most-refundable")
        case .amountTooLarge(let asked, let left):
            return TillAPIProblem(
                statusCode: 409, type: "refund-exceeds-payment", title: "The refund is more than what is left",
                detail: "\(asked) kr. asked, \(left) kr. left to refund", field: "amount", rule: "at-most \(left)")
        case .amountNotPositive(let amount):
            return .invalidField("amount", rule: "positive", "amount must be a positive number of whole krónur (got \(amount))")
        case .idempotencyKeyReused(let id):
            return TillAPIProblem(
                statusCode: 422, type: "idempotency-key-reused", title: "The Idempotency-Key belongs to another refund",
                detail: "refund \(id) of this payment was asked for with this key and another amount or reason; use a new key for a new refund",
                field: "Idempotency-Key", rule: "same-request")
        }
    }
}

/// The till's refund request body: `{"amount": 1500, "reason": "returned"}`, both optional
/// (no amount: all that is left).
enum TillRefundValidation {
    static func ask(from body: Data) throws(TillAPIProblem) -> RefundAsk {
        if body.isEmpty { return RefundAsk(amount: nil, reason: nil) }
        let parsed: JSONValue
        do { parsed = try JSONDecoder().decode(JSONValue.self, from: body) } catch {
            throw TillAPIProblem.malformedBody("the body is not valid JSON")
        }
        guard case .object(let object) = parsed else {
            throw TillAPIProblem.malformedBody("the body must be a JSON object like {\"amount\": 1500, \"reason\": \"returned\"}")
        }
        if let unknown = object.keys.sorted().first(where: { !["amount", "reason"].contains($0) }) {
            throw .invalidField(unknown, rule: "unknown-field", "`\(unknown)` is not a field of a refund; known: amount, reason")
        }
        var amount: Int?
        switch object["amount"] {
        case nil, .null?: amount = nil
        case .integer(let value)?:
            guard value > 0 else { throw .invalidField("amount", rule: "positive", "amount must be a positive number of whole krónur (got \(value))") }
            amount = value
        default: throw .invalidField("amount", rule: "integer", "amount must be a whole number of krónur")
        }
        var reason: String?
        switch object["reason"] {
        case nil, .null?: reason = nil
        case .string(let text)?:
            guard text.unicodeScalars.count <= 100 else { throw .invalidField("reason", rule: "max-length 100", "reason may be at most 100 characters") }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw .invalidField("reason", rule: "no-control-characters", "reason must not hold control characters")
            }
            reason = text.isEmpty ? nil : text
        default: throw .invalidField("reason", rule: "string", "reason must be a string")
        }
        return RefundAsk(amount: amount, reason: reason)
    }
}

extension TillAPIServer {
    /// `POST /v1/payments/{id}/refunds` and `GET /v1/payments/{id}/refunds` (404 problem when the
    /// bridge has no partner API configured).
    func addRefundRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/payments/{id}/refunds") { request, context in
            let id = try context.parameters.require("id")
            guard let refunds = self.refunds else { throw Self.refundsOff }
            let key = try TillAPIValidation.idempotencyKey(request.headers[.init("Idempotency-Key")!])
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: self.options.maxBodyBytes) } catch {
                throw TillAPIProblem.tooLarge(limit: self.options.maxBodyBytes)
            }
            if body.readableBytes > 0, !(request.headers[.contentType] ?? "").lowercased().hasPrefix("application/json") {
                throw TillAPIProblem(
                    statusCode: 415, type: "unsupported-media-type", title: "The body must be JSON",
                    detail: "send the refund as Content-Type: application/json", field: "Content-Type", rule: "application/json")
            }
            let ask = try TillRefundValidation.ask(from: Data(buffer: body))
            let (refund, replayed) = try await refunds.refund(paymentID: id, ask: ask, idempotencyKey: key)
            var response = try Self.json(refund, status: .created)
            if replayed { response.headers[.init("Idempotent-Replayed")!] = "true" }
            return response
        }
        router.get("/v1/payments/{id}/refunds") { _, context in
            let id = try context.parameters.require("id")
            guard let refunds = self.refunds else { throw Self.refundsOff }
            return try Self.json(try await refunds.list(paymentID: id))
        }
    }

    static let refundsOff = TillAPIProblem(
        statusCode: 404, type: "refunds-off", title: "Refunds are not set up",
        detail: "this bridge has no Netgíró partner API URL for refunds (netgiro.base-url must end in /v1/)")
}
