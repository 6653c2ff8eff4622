// The payments side of the till API. The wire types (requests, payments, events, problems) and
// the request validation live in TillAPIContract, re-exported here so `import Bridge` keeps
// seeing them.
@_exported import TillAPIContract
import NetgiroAPI

extension TillConfirmation {
    public var netgiro: ConfirmationType {
        switch self {
        case .manual: return .manual
        case .automatic: return .automatic
        case .serverCallback: return .serverCallback
        }
    }

    public init(_ type: ConfirmationType) {
        switch type {
        case .manual: self = .manual
        case .automatic: self = .automatic
        case .serverCallback: self = .serverCallback
        }
    }
}

/// What the till API needs from the payments side. The daemon implements it on the payment
/// runner and the journal (``DaemonPaymentService``); tests may implement it with a script.
public protocol PaymentService: Sendable {
    /// Starts a payment. The request is already checked for form (field types, ranges).
    /// With an `idempotencyKey` seen before, returns that payment (`replayed`) instead of a
    /// second one — or refuses with ``PaymentServiceError/idempotencyKeyReused`` when the key
    /// came with a different request.
    func start(_ request: TillPaymentRequest, idempotencyKey: String?) async throws(PaymentServiceError) -> PaymentStart
    func payment(id: String) async -> TillPayment?
    /// Every event of the payment so far, then new ones as they happen; finishes after the outcome.
    func events(id: String) async -> AsyncStream<TillPaymentEvent>?
    /// Asks to cancel. Returns the payment as it is then (`cancel-requested`, or already final).
    func cancel(id: String) async throws(PaymentServiceError) -> TillPayment
    func terminals() async -> [TillTerminal]
    /// Payments matching the query, newest first, one page at a time.
    func payments(_ query: TillPaymentQuery) async throws(PaymentServiceError) -> TillPaymentPage
    /// Records what staff found in Netgíró's portal for an `unknown` payment.
    func resolve(id: String, _ resolution: TillResolutionRequest) async throws(PaymentServiceError) -> TillPayment
    /// Whether payments can be taken now (for `/healthz`): a reason if not.
    func readiness() async -> String?
}

public struct PaymentStart: Sendable {
    public var payment: TillPayment
    /// The idempotency key had started this payment before.
    public var replayed: Bool

    public init(payment: TillPayment, replayed: Bool) {
        self.payment = payment
        self.replayed = replayed
    }
}

/// Why a payment cannot be started or cancelled, in terms the till API turns into a problem document.
public enum PaymentServiceError: Error, Sendable, Hashable {
    case noSuchPayment(String)
    case noSuchTerminal(String)
    /// No terminal named and not exactly one to choose.
    case terminalRequired(available: [String])
    case terminalBusy(terminal: String, payment: String)
    case terminalOffline(String)
    case confirmationUnavailable(TillConfirmation, reason: String)
    case alreadyFinal(TillPayment)
    case idempotencyKeyReused
    /// The request breaks a rule only the payments side knows (e.g. items that do not add up).
    case invalidRequest(field: String, rule: String, detail: String)
    /// A resolution that may not be recorded (the payment is not `unknown`, or was resolved otherwise).
    case resolutionRefused(reason: String, payment: TillPayment?)
    case shuttingDown
    case internalError(String)
}
