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
            let list = available.isEmpty ? "none is connected" : "connected: " + available.joined(separator: ", ")
            return TillAPIProblem(
                .unprocessableContent, type: "terminal-required", title: "Name the terminal",
                detail: "more than one terminal or none: name one in `terminal` (\(list))", field: "terminal",
                rule: available.isEmpty ? "terminal-connected" : "required")
        case .terminalBusy(let terminal, let payment):
            return TillAPIProblem(
                .conflict, type: "terminal-busy", title: "The terminal is taking another payment",
                detail: "terminal \(terminal) is busy with payment \(payment); wait for its outcome or cancel it",
                field: "terminal", rule: "one-payment-at-a-time")
        case .terminalOffline(let terminal):
            return TillAPIProblem(
                .conflict, type: "terminal-offline", title: "The terminal is not connected",
                detail: "terminal \(terminal) is not linked now — check its cable; `ngbridge doctor` helps",
                field: "terminal", rule: "terminal-connected")
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
