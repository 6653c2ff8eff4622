import NetgiroModels
import TillAPIContract

/// Why a payment cannot be started or cancelled, in terms the till API turns into a problem document.
public enum PaymentServiceError: Error, Sendable, Hashable {
    case noSuchPayment(String)
    case noSuchTerminal(String)
    /// No terminal named and several linked: the till must name one.
    case terminalRequired(available: [String])
    case terminalBusy(terminal: String, payment: String)
    /// The terminal is known but not linked now (line noise, a replug): try again after `retryAfter` seconds.
    case terminalOffline(String, retryAfter: Int)
    /// The terminal's pad did not announce a prompt every payment needs (PROTOCOL.md §5.2).
    case terminalCannotPay(terminal: String, missingPrompt: String)
    /// No terminal named, none linked and no single one known: try again after `retryAfter` seconds.
    case noTerminalOnline(retryAfter: Int)
    /// Another payment holds the reference: in flight, paid, or ended `unknown`.
    case referenceInUse(TillPayment)
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
