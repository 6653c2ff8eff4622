import Foundation

/// A refund of a paid payment, as the journal keeps it.
public struct RefundRecord: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Sent to Netgíró (or about to be); no answer yet.
        case requested
        /// Netgíró answered 200: the money goes back.
        case refunded
        /// Netgíró said no; nothing was refunded.
        case refused
        /// No answer says whether it happened; asking again with the same idempotency key is safe.
        case unknown

        /// Whether the amount may have left the shop (it counts against what is left to refund).
        public var mayHaveMoved: Bool { self != .refused }
    }

    /// The bridge's id; also the `idempotencyKey` sent to Netgíró, so a retry is the same refund.
    public var id: String
    public var paymentID: String
    public var transactionId: String
    public var amount: Int
    public var reason: String?
    /// The till's Idempotency-Key, when it sent one.
    public var idempotencyKey: String?
    public var state: State
    public var message: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, paymentID: String, transactionId: String, amount: Int, reason: String?, idempotencyKey: String?,
        state: State, message: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.paymentID = paymentID
        self.transactionId = transactionId
        self.amount = amount
        self.reason = reason
        self.idempotencyKey = idempotencyKey
        self.state = state
        self.message = message
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What a till asks for: an amount (nil: all that is left) and a reason.
public struct RefundAsk: Sendable, Hashable {
    public var amount: Int?
    public var reason: String?

    public init(amount: Int?, reason: String?) {
        self.amount = amount
        self.reason = reason
    }
}

/// The payment as far as a refund needs it.
public struct RefundablePayment: Sendable, Hashable {
    public var id: String
    public var paid: Bool
    public var state: String
    public var amount: Int
    public var transactionId: String?

    public init(id: String, paid: Bool, state: String, amount: Int, transactionId: String?) {
        self.id = id
        self.paid = paid
        self.state = state
        self.amount = amount
        self.transactionId = transactionId
    }
}

/// Whether a refund may go to Netgíró: a pure decision, nothing in it reads a clock or does I/O.
///
/// Rules: only a paid payment with a TransactionId; never more in total than was paid, counting
/// every refund that may have moved money (refunded, requested, unknown); the till's
/// Idempotency-Key with the same ask is the same refund (and one whose outcome is not known is
/// sent again, with the same Netgíró key); with another ask it is refused.
public enum RefundDesk {
    public enum Refusal: Error, Sendable, Hashable {
        case paymentNotPaid(state: String)
        case noTransactionId
        case nothingLeft(paid: Int)
        case amountTooLarge(asked: Int, left: Int)
        case amountNotPositive(Int)
        case idempotencyKeyReused(refundID: String)
    }

    public enum Decision: Sendable, Hashable {
        /// Journal this new refund (state `requested`), then send it.
        case send(RefundRecord)
        /// The same ask as an earlier refund whose outcome is not known: send it again as it is.
        case resend(RefundRecord)
        /// The same ask as an earlier refund with an outcome: answer with it.
        case replay(RefundRecord)
        case refuse(Refusal)
    }

    /// Krónur that may have gone back already.
    public static func committed(_ refunds: [RefundRecord]) -> Int {
        refunds.filter { $0.state.mayHaveMoved }.reduce(0) { $0 + $1.amount }
    }

    public static func decide(
        payment: RefundablePayment, refunds: [RefundRecord], ask: RefundAsk, idempotencyKey: String?, newID: String, now: Date
    ) -> Decision {
        if let idempotencyKey, let earlier = refunds.first(where: { $0.idempotencyKey == idempotencyKey }) {
            let sameAsk = earlier.reason == ask.reason && (ask.amount == nil || ask.amount == earlier.amount)
            guard sameAsk else { return .refuse(.idempotencyKeyReused(refundID: earlier.id)) }
            switch earlier.state {
            case .requested, .unknown: return .resend(earlier)
            case .refunded, .refused: return .replay(earlier)
            }
        }
        guard payment.paid else { return .refuse(.paymentNotPaid(state: payment.state)) }
        guard let transactionId = payment.transactionId, !transactionId.isEmpty else { return .refuse(.noTransactionId) }
        let left = payment.amount - committed(refunds)
        guard left > 0 else { return .refuse(.nothingLeft(paid: payment.amount)) }
        let amount = ask.amount ?? left
        guard amount > 0 else { return .refuse(.amountNotPositive(amount)) }
        guard amount <= left else { return .refuse(.amountTooLarge(asked: amount, left: left)) }
        return .send(
            RefundRecord(
                id: newID, paymentID: payment.id, transactionId: transactionId, amount: amount, reason: ask.reason,
                idempotencyKey: idempotencyKey, state: .requested, createdAt: now, updatedAt: now))
    }

    /// What Netgíró's answer makes of a refund.
    public enum Answer: Sendable, Hashable {
        case refunded(message: String?)
        case refused(message: String)
        case unknown(cause: String)
    }

    public static func apply(_ answer: Answer, to refund: RefundRecord, now: Date) -> RefundRecord {
        var next = refund
        next.updatedAt = now
        switch answer {
        case .refunded(let message):
            next.state = .refunded
            next.message = message
        case .refused(let message):
            next.state = .refused
            next.message = message
        case .unknown(let cause):
            next.state = .unknown
            next.message = cause
        }
        return next
    }
}
