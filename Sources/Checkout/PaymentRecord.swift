import Foundation
import NetgiroModels

/// One cart line as the till sends it. Whole ISK; quantity in thousandths (2 items = 2000).
///
/// The same fields as Netgíró's `CartItem`, kept apart on purpose: this is the journal's shape
/// (its own JSON keys, stored in every record, so journals written by earlier versions read
/// back), `CartItem` is Netgíró's wire shape (PascalCase, encode-only). `cartItem` converts.
public struct PaymentLine: Sendable, Hashable, Codable {
    public var productNo: String
    public var name: String
    public var description: String?
    public var unitPrice: Int
    /// Line total, whole ISK.
    public var amount: Int
    public var quantity: Int

    public init(productNo: String, name: String, description: String? = nil, unitPrice: Int, amount: Int, quantity: Int) {
        self.productNo = productNo
        self.name = name
        self.description = description
        self.unitPrice = unitPrice
        self.amount = amount
        self.quantity = quantity
    }

    var cartItem: CartItem {
        CartItem(productNo: productNo, name: name, description: description, unitPrice: unitPrice, amount: amount, quantity: quantity)
    }
}

/// What the till asks for: one payment.
public struct PaymentRequest: Sendable, Hashable, Codable {
    /// Whole ISK, > 0.
    public var amount: Int
    /// The till's reference for the sale (Netgíró's `Reference`). At most one payment per
    /// reference is in flight at a time.
    public var reference: String
    public var description: String?
    public var lines: [PaymentLine]
    /// Manual by default: with Manual, money moves only when the bridge calls ConfirmCart, so a
    /// cart orphaned by a lost InsertCart answer is never captured (DESIGN.md, "the one window").
    public var confirmationType: ConfirmationType
    /// The pad that takes the customer's entries.
    public var terminalID: String
    /// Required with ServerCallback.
    public var callbackUrl: String?
    public var callbackCancelUrl: String?

    public init(
        amount: Int, reference: String, description: String? = nil, lines: [PaymentLine] = [],
        confirmationType: ConfirmationType = .manual, terminalID: String, callbackUrl: String? = nil,
        callbackCancelUrl: String? = nil
    ) {
        self.amount = amount
        self.reference = reference
        self.description = description
        self.lines = lines
        self.confirmationType = confirmationType
        self.terminalID = terminalID
        self.callbackUrl = callbackUrl
        self.callbackCancelUrl = callbackCancelUrl
    }

    /// Why the request cannot be run, in words for the till; nil when it can.
    /// Netgíró's smallest amount, whole ISK: InsertCart answers 10305 below it. Refused up front so
    /// that no customer is asked for a payment Netgíró will refuse.
    public static let minimumAmount = 100

    public var problem: PaymentRequestError? {
        if amount <= 0 { return .amountNotPositive(amount) }
        if amount < Self.minimumAmount { return .belowMinimum(amount, minimum: Self.minimumAmount) }
        if reference.trimmingCharacters(in: .whitespaces).isEmpty { return .emptyReference }
        if reference.count > 64 { return .referenceTooLong(reference.count) }
        if terminalID.isEmpty { return .noTerminal }
        if confirmationType == .serverCallback, (callbackUrl ?? "").isEmpty { return .callbackURLMissing }
        if !lines.isEmpty, lines.reduce(0, { $0 + $1.amount }) != amount {
            return .linesDoNotAddUp(lines: lines.reduce(0, { $0 + $1.amount }), amount: amount)
        }
        return nil
    }
}

public enum PaymentRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    case amountNotPositive(Int)
    case belowMinimum(Int, minimum: Int)
    case emptyReference
    case referenceTooLong(Int)
    case noTerminal
    case callbackURLMissing
    case linesDoNotAddUp(lines: Int, amount: Int)

    public var description: String {
        switch self {
        case .amountNotPositive(let a): return "the amount must be a whole number of krónur above 0 (got \(a))"
        case .belowMinimum(let a, let minimum):
            return "the amount \(a) ISK is below Netgíró's minimum of \(minimum) ISK — take it another way or raise the amount"
        case .emptyReference: return "the payment has no reference — send the till's sale reference"
        case .referenceTooLong(let n): return "the reference is \(n) characters long; use at most 64"
        case .noTerminal: return "no terminal was named for the payment — name the PIN pad that should take it"
        case .callbackURLMissing:
            return "ServerCallback needs a callback URL Netgíró can reach — configure one or use Manual confirmation"
        case .linesDoNotAddUp(let lines, let amount):
            return "the cart lines add up to \(lines) ISK but the amount is \(amount) ISK — send matching lines or none"
        }
    }
}

/// Where a payment is. The last five are final.
public enum PaymentPhase: String, Sendable, Hashable, Codable, CaseIterable {
    /// Recorded, not started.
    case created
    /// The pad asks for the customer's app code, phone number or kennitala.
    case awaitingCustomerID
    /// Write-ahead intent: InsertCart is about to be (or is being) sent. No TransactionId yet.
    case inserting
    /// The cart exists; waiting for the customer (polling CheckCart).
    case awaitingCustomer
    /// The pad asks for the SMS payment code.
    case awaitingSMSCode
    /// ConfirmCart is being sent.
    case confirming
    /// CancelCart is being sent (till cancel, deadline, customer cancel).
    case cancelling

    case paid
    case declined
    case cancelled
    /// No money moved and none can: not sent, refused before a cart existed, or (Manual,
    /// ServerCallback) an InsertCart without an answer — see ``PaymentFailureReason``. The till may
    /// start the sale again at once.
    case failed
    /// The bridge cannot tell whether money moved — only where it could have (Automatic
    /// confirmation, or after the bridge's own ConfirmCart or callback answer): staff must check
    /// Netgíró for the reference.
    case unknown

    public var isFinal: Bool {
        switch self {
        case .paid, .declined, .cancelled, .failed, .unknown: return true
        default: return false
        }
    }

    public static let finalPhases: [PaymentPhase] = allCases.filter(\.isFinal)
}

/// Why a payment ended `failed`, as the till API names it.
public enum PaymentFailureReason: String, Sendable, Hashable, Codable {
    /// InsertCart was sent and no usable answer came (or the bridge stopped while it was in
    /// flight). Under Manual and ServerCallback confirmation no money can move on that cart: the
    /// bridge never learnt its TransactionId, so it can neither capture it (ConfirmCart) nor
    /// accept its callback. The customer may see a reservation that expires.
    case insertUnanswered = "insert-unanswered"
    /// InsertCart never reached Netgíró.
    case insertNotSent = "insert-not-sent"
    /// Netgíró refused InsertCart with a code that is no decline (400, 500, …): no cart exists.
    case insertRefused = "insert-refused"
    /// The PIN pad was unavailable before a cart existed.
    case terminalUnavailable = "terminal-unavailable"
    /// The PIN pad did not announce a prompt the payment needed (PROTOCOL.md §5.2): the customer
    /// id before any cart, or the SMS payment code Netgíró asked for (the cart was then
    /// cancelled). Not retryable on the same terminal: it would ask the same pad again.
    case promptUnsupported = "prompt-unsupported"

    /// Whether the till may start the same sale again at once (on the same terminal).
    public var retryable: Bool { self != .promptUnsupported }
}

/// Why a cart is being cancelled.
public enum CancelReason: String, Sendable, Hashable, Codable {
    /// The till asked.
    case till
    /// The overall deadline passed.
    case deadline
    /// The customer pressed Cancel on the pad, or let the prompt time out.
    case customer
    /// Too many wrong SMS payment codes.
    case smsCodeTries
    /// The pad went away during a prompt.
    case terminal
    /// Netgíró asked for the SMS payment code and the pad has no such prompt (PROTOCOL.md §5.2).
    case promptUnsupported

    /// The final phase once the cancel is through.
    var finalPhase: PaymentPhase {
        switch self {
        case .smsCodeTries: return .declined
        case .promptUnsupported: return .failed
        case .till, .deadline, .customer, .terminal: return .cancelled
        }
    }

    /// Why the payment failed, when ``finalPhase`` is `failed`.
    var failureReason: PaymentFailureReason? { self == .promptUnsupported ? .promptUnsupported : nil }

    var explanation: String {
        switch self {
        case .till: return "cancelled at the till"
        case .deadline: return "the customer did not finish in time"
        case .customer: return "cancelled by the customer on the pad"
        case .smsCodeTries: return "too many wrong SMS payment codes"
        case .terminal: return "the PIN pad went away"
        case .promptUnsupported:
            return "Netgíró asked for the customer's SMS payment code and this PIN pad has no SMS-code prompt — "
                + "the cart was cancelled; take the payment on a pad that has it, or the customer pays with the Netgíró app"
        }
    }
}

/// The durable picture of one payment: what the journal stores and what recovery rebuilds the
/// checkout from. It holds no personal data in clear — the customer identifier only masked.
public struct PaymentRecord: Sendable, Hashable, Codable {
    public var id: String
    public var request: PaymentRequest
    public var phase: PaymentPhase
    public var customerKind: CustomerIDKind?
    /// e.g. `*****81`.
    public var customerMasked: String?
    public var transactionId: String?
    public var invoiceNumber: Int?
    /// Netgíró's last message, or the bridge's explanation of a final state.
    public var lastMessage: String?
    /// Netgíró's last result code.
    public var lastResultCode: Int?
    /// Set when a cancel was asked for (recovery carries it out).
    public var cancelReason: CancelReason?
    /// Poll interval from InsertCart, bounded, in milliseconds.
    public var pollIntervalMilliseconds: Int?
    /// Why the payment failed (phase `failed`).
    public var failureReason: PaymentFailureReason?
    /// The bridge gave Netgíró its go-ahead for the cart: a capturing ConfirmCart (Manual) or a
    /// callback answered 200 (ServerCallback). Until then, under those two types, no money can
    /// have moved.
    public var goAheadGiven: Bool?
    public var createdAt: Date
    public var deadline: Date
    public var updatedAt: Date
    public var finishedAt: Date?
    /// What staff found at Netgíró for an `unknown` payment; the phase stays `unknown`.
    public var resolution: StaffResolution?

    public init(id: String, request: PaymentRequest, createdAt: Date, deadline: Date) {
        self.id = id
        self.request = request
        self.phase = .created
        self.createdAt = createdAt
        self.deadline = deadline
        self.updatedAt = createdAt
    }

    public var amount: Int { request.amount }
    public var reference: String { request.reference }
    public var isFinished: Bool { phase.isFinal }

    /// Whether money can have moved on the payment's cart without the bridge knowing the
    /// outcome. Automatic: yes, once InsertCart went out (the customer's acceptance is the sale).
    /// Manual and ServerCallback: only after the bridge's own go-ahead (``goAheadGiven``).
    public var moneyCanHaveMoved: Bool {
        switch request.confirmationType {
        case .automatic: return true
        case .manual, .serverCallback: return goAheadGiven == true
        }
    }

    /// A final payment the till may simply start again: `failed` (nothing moved, nothing can) —
    /// except `prompt-unsupported`, which the same pad would fail the same way. Nil while the
    /// payment runs.
    public var retryable: Bool? { phase.isFinal ? phase == .failed && failureReason?.retryable != false : nil }

    /// The outcome as the till sees it (nil until final).
    public var outcome: PaymentOutcome? {
        guard phase.isFinal else { return nil }
        return PaymentOutcome(record: self)
    }
}

/// What staff found in Netgíró's partner portal for a payment the bridge left `unknown`.
public struct StaffResolution: Sendable, Hashable, Codable {
    public enum Outcome: String, Sendable, Hashable, Codable {
        /// Netgíró has the payment (its TransactionId in `transactionId`).
        case paid
        /// Netgíró has no payment for it.
        case notPaid = "not-paid"
    }

    public var outcome: Outcome
    public var transactionId: String?
    /// For the books (no personal data).
    public var note: String?
    public var at: Date

    public init(outcome: Outcome, transactionId: String? = nil, note: String? = nil, at: Date) {
        self.outcome = outcome
        self.transactionId = transactionId
        self.note = note
        self.at = at
    }

    /// The same finding (time aside).
    func sameFinding(as other: StaffResolution) -> Bool {
        outcome == other.outcome && transactionId?.lowercased() == other.transactionId?.lowercased()
    }
}

/// Why a resolution is refused.
public enum ResolutionRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// Only an `unknown` payment is resolved by staff: any other final state is what the bridge
    /// saw Netgíró say, and stands; a payment not yet final is still being decided.
    case notUnknown(PaymentPhase)
    /// Staff recorded a different finding before.
    case alreadyResolved(StaffResolution)
    case transactionIdRequired
    case transactionIdNotAllowed
    /// The bridge knows the payment's cart, and staff named another.
    case transactionIdMismatch(known: String)

    public var description: String {
        switch self {
        case .notUnknown(let phase) where phase.isFinal:
            return "the payment ended \(phase.rawValue) by Netgíró's own answer; only an unknown payment is resolved by hand"
        case .notUnknown(let phase):
            return "the payment is still running (\(phase.rawValue)); wait for its outcome"
        case .alreadyResolved(let earlier):
            return "staff already recorded it as \(earlier.outcome.rawValue)"
                + (earlier.transactionId.map { " (TransactionId \($0))" } ?? "") + "; a recorded finding is not changed"
        case .transactionIdRequired:
            return "a paid finding needs the TransactionId from Netgíró's partner portal"
        case .transactionIdNotAllowed:
            return "a not-paid finding has no TransactionId"
        case .transactionIdMismatch(let known):
            return "the bridge knows this payment's cart as TransactionId \(known); check that you found the right payment"
        }
    }
}

extension PaymentRecord {
    /// Records what staff found for this `unknown` payment: the transition to journal, or nil when
    /// the same finding is recorded already (a repeated command changes nothing). Refused for any
    /// payment that is not `unknown`: a final state the bridge reached itself is never overwritten,
    /// and a finding once recorded is not changed.
    public func resolved(by finding: StaffResolution) throws(ResolutionRefusal) -> PaymentTransition? {
        guard phase == .unknown else { throw .notUnknown(phase) }
        switch finding.outcome {
        case .paid:
            guard let id = finding.transactionId, !id.isEmpty else { throw .transactionIdRequired }
            if let known = transactionId, known.lowercased() != id.lowercased() { throw .transactionIdMismatch(known: known) }
        case .notPaid:
            guard finding.transactionId == nil else { throw .transactionIdNotAllowed }
        }
        if let earlier = resolution {
            if earlier.sameFinding(as: finding) { return nil }
            throw .alreadyResolved(earlier)
        }
        var next = self
        next.resolution = finding
        next.updatedAt = finding.at
        let cause = finding.outcome == .paid
            ? "resolved by staff: paid at Netgíró (TransactionId \(finding.transactionId ?? "-"))"
            : "resolved by staff: not paid at Netgíró"
        return PaymentTransition(from: phase, record: next, cause: cause, at: finding.at)
    }
}

/// A payment's definite end, for the till.
public struct PaymentOutcome: Sendable, Hashable, Codable {
    public var paymentID: String
    public var state: PaymentPhase
    public var transactionId: String?
    public var invoiceNumber: Int?
    public var amount: Int
    public var reference: String
    public var createdAt: Date
    public var finishedAt: Date?
    public var lastMessage: String?
    public var failureReason: PaymentFailureReason?
    /// True for `failed`: the till may start the sale again at once.
    public var retryable: Bool

    public init(record: PaymentRecord) {
        paymentID = record.id
        state = record.phase
        transactionId = record.transactionId
        invoiceNumber = record.invoiceNumber
        amount = record.amount
        reference = record.reference
        createdAt = record.createdAt
        finishedAt = record.finishedAt
        lastMessage = record.lastMessage
        failureReason = record.failureReason
        retryable = record.retryable ?? false
    }
}

/// One recorded change of a payment, written before the side effect it precedes.
public struct PaymentTransition: Sendable, Hashable, Codable {
    public var from: PaymentPhase
    /// The record after the change.
    public var record: PaymentRecord
    /// What caused it, in words (no personal data).
    public var cause: String
    public var at: Date

    public init(from: PaymentPhase, record: PaymentRecord, cause: String, at: Date) {
        self.from = from
        self.record = record
        self.cause = cause
        self.at = at
    }
}
