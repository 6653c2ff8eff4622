import Foundation
import Hummingbird

/// A problem document as an HTTP response, and the problems the payments side's refusals become.
extension TillAPIProblem: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: statusCode) }

    public init(
        _ status: HTTPResponse.Status, type: String, title: String, detail: String,
        field: String? = nil, rule: String? = nil, payment: TillPayment? = nil
    ) {
        self.init(statusCode: status.code, type: type, title: title, detail: detail, field: field, rule: rule, payment: payment)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if statusCode == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"ngbridge\"" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let body = (try? TillAPIJSON.encoder.encode(self)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func from(_ error: PaymentServiceError) -> TillAPIProblem {
        switch error {
        case .noSuchPayment(let id):
            return .notFound("no payment \(id)")
        case .noSuchTerminal(let id):
            return TillAPIProblem(
                .unprocessableContent, type: "unknown-terminal", title: "No such terminal",
                detail: "no terminal \(id) — GET /v1/terminals lists them", field: "terminal", rule: "known-terminal")
        case .terminalRequired(let available):
            return TillAPIProblem(
                .unprocessableContent, type: "terminal-required", title: "Name the terminal",
                detail: "several terminals are connected: name one in `terminal` (connected: \(available.joined(separator: ", ")))",
                field: "terminal", rule: "required")
        case .terminalBusy(let terminal, let payment):
            return TillAPIProblem(
                .conflict, type: "terminal-busy", title: "The terminal is taking another payment",
                detail: "terminal \(terminal) is busy with payment \(payment); wait for its outcome or cancel it",
                field: "terminal", rule: "one-payment-at-a-time")
        case .terminalOffline(let terminal, let retryAfter):
            var problem = TillAPIProblem(
                .conflict, type: "terminal-offline", title: "The terminal is not connected",
                detail: "terminal \(terminal) is not linked now; try again in \(retryAfter) s — if it stays away, check its cable (`ngbridge doctor` helps)",
                field: "terminal", rule: "terminal-connected")
            problem.retryAfter = retryAfter
            return problem
        case .terminalCannotPay(let terminal, let missing):
            return TillAPIProblem(
                .conflict, type: "terminal-cannot-pay", title: "The terminal cannot take payments",
                detail: "the PIN pad of terminal \(terminal) did not announce the \(missing) prompt (PROTOCOL.md §5.2), which every "
                    + "payment needs — take the payment on another terminal, or give the pad firmware with that prompt",
                field: "terminal", rule: "prompt-\(missing)")
        case .noTerminalOnline(let retryAfter):
            var problem = TillAPIProblem(
                .serviceUnavailable, type: "no-terminal-online", title: "No terminal is connected",
                detail: "no PIN pad is linked now; try again in \(retryAfter) s — if none comes, check the cables (`ngbridge doctor` helps)",
                field: "terminal", rule: "terminal-connected")
            problem.retryAfter = retryAfter
            return problem
        case .referenceInUse(let payment):
            let detail: String
            switch payment.state {
            case .paid:
                detail = "reference \(payment.reference) was paid by payment \(payment.id); use a new reference, or send \"repeat\": true to charge it again on purpose"
            case .unknown:
                detail = "payment \(payment.id) for reference \(payment.reference) ended unknown — check with Netgíró whether it was paid before sending \"repeat\": true to take it again"
            default:
                detail = "payment \(payment.id) for reference \(payment.reference) is in flight (\(payment.state.rawValue)); wait for its outcome or cancel it"
            }
            return TillAPIProblem(
                .conflict, type: "reference-in-use", title: "Another payment holds the reference", detail: detail,
                field: "reference", rule: "one-payment-per-reference", payment: payment)
        case .confirmationUnavailable(let confirmation, let reason):
            return TillAPIProblem(
                .unprocessableContent, type: "confirmation-unavailable", title: "That confirmation type cannot be used here",
                detail: "\(confirmation.rawValue): \(reason)", field: "confirmation", rule: "configured")
        case .alreadyFinal(let payment):
            return TillAPIProblem(
                .conflict, type: "payment-final", title: "The payment has already ended",
                detail: "payment \(payment.id) ended as \(payment.state.rawValue); it can no longer be cancelled", payment: payment)
        case .idempotencyKeyReused:
            return TillAPIProblem(
                .unprocessableContent, type: "idempotency-key-reused", title: "The Idempotency-Key was used for another request",
                detail: "this Idempotency-Key started a payment with a different body; use a new key for a new payment",
                field: "Idempotency-Key", rule: "same-body-per-key")
        case .invalidRequest(let field, let rule, let detail):
            return .invalidField(field, rule: rule, detail)
        case .resolutionRefused(let reason, let payment):
            return TillAPIProblem(
                .conflict, type: "resolution-refused", title: "The finding cannot be recorded for this payment",
                detail: reason, field: "outcome", rule: "unknown-payments-only", payment: payment)
        case .shuttingDown:
            return TillAPIProblem(
                .serviceUnavailable, type: "shutting-down", title: "The bridge is shutting down",
                detail: "try again once it is back")
        case .internalError(let text):
            return TillAPIProblem(.internalServerError, type: "internal", title: "Internal error", detail: text)
        }
    }
}
