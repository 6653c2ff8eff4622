// The till API's wire types: what the till sends and what it is shown. Foundation only, so the
// request decoding can be fuzzed without building the daemon (TillAPIFuzz); `Bridge` re-exports it.
import Foundation

/// What the till asks for: one payment on one terminal.
public struct TillPaymentRequest: Sendable, Hashable, Codable {
    /// Whole ISK, positive.
    public var amount: Int
    /// The till's own reference for the sale (sent to Netgíró as `Reference`).
    public var reference: String
    public var description: String?
    public var items: [TillPaymentItem]?
    /// `manual` (default), `automatic` or `server-callback`.
    public var confirmation: TillConfirmation?
    /// The terminal id (the pad's serial number); may be left out when there is exactly one.
    public var terminal: String?
    /// A deliberate second payment for a reference that was paid (or ended `unknown`); without
    /// it such a request is refused (409 `reference-in-use`), so a retried sale is not charged twice.
    public var `repeat`: Bool?

    public init(
        amount: Int, reference: String, description: String? = nil, items: [TillPaymentItem]? = nil,
        confirmation: TillConfirmation? = nil, terminal: String? = nil, repeat: Bool? = nil
    ) {
        self.amount = amount
        self.reference = reference
        self.description = description
        self.items = items
        self.confirmation = confirmation
        self.terminal = terminal
        self.repeat = `repeat`
    }
}

public struct TillPaymentItem: Sendable, Hashable, Codable {
    public var productNo: String?
    public var name: String
    /// Whole ISK per unit.
    public var unitPrice: Int
    /// Whole units.
    public var quantity: Int

    public init(productNo: String? = nil, name: String, unitPrice: Int, quantity: Int) {
        self.productNo = productNo
        self.name = name
        self.unitPrice = unitPrice
        self.quantity = quantity
    }
}

public enum TillConfirmation: String, Sendable, Hashable, Codable, CaseIterable {
    case manual
    case automatic
    case serverCallback = "server-callback"
}

/// A payment's state as the till sees it. The last five are final: the till can rely on them.
public enum TillPaymentState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accepted by the bridge, not yet on the pad.
    case created
    /// The pad asks the customer for their id (app code, phone number or kennitala).
    case awaitingCustomer = "awaiting-customer"
    /// Netgíró is being asked, or we wait for the customer to accept in the app.
    case processing
    /// The customer must key the code Netgíró sent by SMS.
    case awaitingSMSCode = "awaiting-sms-code"
    /// The till asked to cancel; the outcome is not known yet (the customer may have won the race).
    case cancelRequested = "cancel-requested"
    case paid
    case declined
    case cancelled
    case failed
    /// The bridge cannot tell whether money moved; a person must check (see the README).
    case unknown

    public var isFinal: Bool {
        switch self {
        case .paid, .declined, .cancelled, .failed, .unknown: return true
        default: return false
        }
    }
}

/// One payment as the till API shows it.
public struct TillPayment: Sendable, Hashable, Codable {
    public var id: String
    public var state: TillPaymentState
    public var final: Bool
    public var amount: Int
    public var reference: String
    public var description: String?
    public var confirmation: TillConfirmation
    public var terminal: String
    public var createdAt: Date
    public var updatedAt: Date
    /// Netgíró's TransactionId, once InsertCart answered.
    public var transactionId: String?
    /// Netgíró's InvoiceNumber, for the receipt, once paid.
    public var invoiceNumber: String?
    /// Why it ended as it did, in words for a person (never personal data).
    public var message: String?
    /// Why it failed, for a program (`failed` only): `insert-unanswered`, `insert-not-sent`,
    /// `insert-refused`, `terminal-unavailable`, `prompt-unsupported`.
    public var reason: String?
    /// Once final: true when the till may simply start the sale again (`failed`: no money moved
    /// and none can — not `prompt-unsupported`, which the same terminal cannot do); false otherwise (`unknown` needs a person to check Netgíró first).
    public var retryable: Bool?
    /// What staff found in Netgíró's portal for an `unknown` payment (the state stays `unknown`:
    /// that is what the bridge itself knew).
    public var resolution: TillResolution?

    public init(
        id: String, state: TillPaymentState, amount: Int, reference: String, description: String? = nil,
        confirmation: TillConfirmation, terminal: String, createdAt: Date, updatedAt: Date,
        transactionId: String? = nil, invoiceNumber: String? = nil, message: String? = nil, reason: String? = nil,
        retryable: Bool? = nil, resolution: TillResolution? = nil
    ) {
        self.id = id
        self.state = state
        self.final = state.isFinal
        self.amount = amount
        self.reference = reference
        self.description = description
        self.confirmation = confirmation
        self.terminal = terminal
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.transactionId = transactionId
        self.invoiceNumber = invoiceNumber
        self.message = message
        self.reason = reason
        self.retryable = retryable
        self.resolution = resolution
    }
}

/// What staff found in Netgíró's partner portal for a payment the bridge left `unknown`.
public enum TillResolutionOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// Netgíró has the payment: money moved (with its TransactionId).
    case paid
    /// Netgíró has no payment for it: no money moved.
    case notPaid = "not-paid"
}

/// `POST /v1/payments/{id}/resolution`: staff record what they found.
public struct TillResolutionRequest: Sendable, Hashable, Codable {
    public var outcome: TillResolutionOutcome
    /// Netgíró's TransactionId of the payment found (`paid` only).
    public var transactionId: String?
    /// Who checked, or anything else for the books (no personal data).
    public var note: String?

    public init(outcome: TillResolutionOutcome, transactionId: String? = nil, note: String? = nil) {
        self.outcome = outcome
        self.transactionId = transactionId
        self.note = note
    }
}

/// A recorded resolution, as the till API shows it.
public struct TillResolution: Sendable, Hashable, Codable {
    public var outcome: TillResolutionOutcome
    public var transactionId: String?
    public var note: String?
    public var resolvedAt: Date

    public init(outcome: TillResolutionOutcome, transactionId: String? = nil, note: String? = nil, resolvedAt: Date) {
        self.outcome = outcome
        self.transactionId = transactionId
        self.note = note
        self.resolvedAt = resolvedAt
    }
}

/// `GET /v1/payments`: which payments, newest first.
public struct TillPaymentQuery: Sendable, Hashable {
    public static let defaultLimit = 50
    public static let maxLimit = 200

    public var reference: String?
    public var state: TillPaymentState?
    public var terminal: String?
    /// Created at or after.
    public var from: Date?
    /// Created before.
    public var to: Date?
    public var limit: Int
    /// Where the previous page ended (its `nextCursor`).
    public var cursor: TillPaymentCursor?

    public init(
        reference: String? = nil, state: TillPaymentState? = nil, terminal: String? = nil, from: Date? = nil, to: Date? = nil,
        limit: Int = TillPaymentQuery.defaultLimit, cursor: TillPaymentCursor? = nil
    ) {
        self.reference = reference
        self.state = state
        self.terminal = terminal
        self.from = from
        self.to = to
        self.limit = limit
        self.cursor = cursor
    }
}

/// The place in the newest-first order after which the next page starts: the last payment's
/// creation time as the journal keeps it (`YYYY-MM-DD HH:MM:SS.SSS`, UTC) and its id (ties are
/// broken by id). On the wire: `YYYY-MM-DDTHH:MM:SS.SSS~ID`. Any such text is a place in the
/// order, so a cursor is checked for form only.
public struct TillPaymentCursor: Sendable, Hashable {
    public var createdAt: String
    public var id: String

    public init(createdAt: String, id: String) {
        self.createdAt = createdAt
        self.id = id
    }

    public var token: String { createdAt.replacingOccurrences(of: " ", with: "T") + "~" + id }

    /// The document's pattern for it.
    public static let pattern = #"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}~[!-~]{1,64}$"#

    public init?(token: String) {
        let bytes = Array(token.utf8)
        guard bytes.count >= 25, bytes.count <= 24 + 64, bytes[23] == UInt8(ascii: "~") else { return nil }
        let shape = Array("0000-00-00T00:00:00.000".utf8)
        for (i, expected) in shape.enumerated() {
            let b = bytes[i]
            if expected == UInt8(ascii: "0") {
                guard b >= 0x30 && b <= 0x39 else { return nil }
            } else if b != expected {
                return nil
            }
        }
        let id = bytes[24...]
        guard id.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else { return nil }
        createdAt = String(decoding: bytes[0..<23], as: UTF8.self).replacingOccurrences(of: "T", with: " ")
        self.id = String(decoding: id, as: UTF8.self)
    }
}

/// One page of `GET /v1/payments`.
public struct TillPaymentPage: Sendable, Hashable, Codable {
    public var payments: [TillPayment]
    /// Pass as `cursor` for the next page; absent on the last page.
    public var nextCursor: String?

    public init(payments: [TillPayment], nextCursor: String? = nil) {
        self.payments = payments
        self.nextCursor = nextCursor
    }
}

/// One entry of a payment's event stream (`GET /v1/payments/{id}/events`).
public struct TillPaymentEvent: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// The payment moved to `state`.
        case state
        /// The pad asks the customer for an entry (`prompt`: `customer-id` or `sms-code`).
        case prompt
        /// The pad shows a screen between prompts (`screen`).
        case screen
        /// The payment reached a final state (the last event of the stream); `payment` is the final view.
        case outcome
    }

    /// 1, 2, 3 … per payment: the SSE `id`, so a client can resume with `Last-Event-ID`.
    public var sequence: Int
    public var kind: Kind
    public var state: TillPaymentState?
    public var prompt: String?
    public var screen: String?
    public var payment: TillPayment?
    public var at: Date

    public init(
        sequence: Int, kind: Kind, state: TillPaymentState? = nil, prompt: String? = nil, screen: String? = nil,
        payment: TillPayment? = nil, at: Date = Date()
    ) {
        self.sequence = sequence
        self.kind = kind
        self.state = state
        self.prompt = prompt
        self.screen = screen
        self.payment = payment
        self.at = at
    }
}

/// A terminal (PIN pad) as the till API lists it.
public struct TillTerminal: Sendable, Hashable, Codable {
    /// The pad's serial number.
    public var id: String
    /// `online` (link up), `offline` (known but not linked now), `incompatible` (the pad speaks
    /// no protocol version of this host; `detail` says which).
    public var status: String
    /// The payment running on it, if any.
    public var payment: String?
    public var model: String?
    public var firmware: String?
    public var path: String?
    /// Why the terminal cannot take payments (status `incompatible`, or a pad without the
    /// customer-id prompt).
    public var detail: String?
    /// The prompts the pad announced (`customer-id`, `sms-code`, `confirm-amount`), while linked.
    public var prompts: [String]?

    public init(
        id: String, status: String, payment: String? = nil, model: String? = nil, firmware: String? = nil, path: String? = nil,
        detail: String? = nil
    ) {
        self.detail = detail
        self.id = id
        self.status = status
        self.payment = payment
        self.model = model
        self.firmware = firmware
        self.path = path
    }
}
