import Foundation
import Hummingbird

/// An error answered as an RFC 9457 problem document (`application/problem+json`): what went
/// wrong (`type`, `title`), for which field and by which rule, and what to do (`detail`).
public struct TillAPIProblem: Error, HTTPResponseError, Sendable, Hashable, Codable {
    public var type: String
    public var title: String
    public var statusCode: Int
    public var detail: String
    /// The request field at fault (JSON path like `items[0].quantity`, or a header name).
    public var field: String?
    /// The rule the field broke, in a word or two (`required`, `positive`, `max-length 64` …).
    public var rule: String?
    /// The payment concerned, when there is one (e.g. the final payment a cancel came too late for).
    public var payment: TillPayment?

    public var status: HTTPResponse.Status { .init(code: statusCode) }

    enum CodingKeys: String, CodingKey {
        case type, title, statusCode = "status", detail, field, rule, payment
    }

    public init(
        _ status: HTTPResponse.Status, type: String, title: String, detail: String,
        field: String? = nil, rule: String? = nil, payment: TillPayment? = nil
    ) {
        self.type = "https://ngbridge.invalid/problems/" + type
        self.title = title
        self.statusCode = status.code
        self.detail = detail
        self.field = field
        self.rule = rule
        self.payment = payment
    }

    /// The short name of `type` (`invalid-field` …).
    public var kind: String { String(type.split(separator: "/").last ?? "") }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if statusCode == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"ngbridge\"" }
        let body = (try? TillAPIJSON.encoder.encode(self)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: - The problems the API answers with

    public static func invalidField(_ field: String, rule: String, _ detail: String) -> TillAPIProblem {
        TillAPIProblem(.unprocessableContent, type: "invalid-field", title: "A field breaks a rule", detail: detail, field: field, rule: rule)
    }

    public static func malformedBody(_ detail: String) -> TillAPIProblem {
        TillAPIProblem(.badRequest, type: "malformed-body", title: "The body is not a JSON object", detail: detail, rule: "json-object")
    }

    public static func unauthorized() -> TillAPIProblem {
        TillAPIProblem(
            .unauthorized, type: "unauthorized", title: "A bearer token is required",
            detail: "send `Authorization: Bearer TOKEN` with the token from api.token-file", field: "Authorization", rule: "bearer-token")
    }

    public static func notFound(_ what: String) -> TillAPIProblem {
        TillAPIProblem(.notFound, type: "not-found", title: "Not found", detail: what)
    }

    public static func tooLarge(limit: Int) -> TillAPIProblem {
        TillAPIProblem(
            .contentTooLarge, type: "body-too-large", title: "The request body is too large",
            detail: "the body may be at most \(limit) bytes (api.max-body-bytes)", field: "body", rule: "max-bytes \(limit)")
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
        case .shuttingDown:
            return TillAPIProblem(
                .serviceUnavailable, type: "shutting-down", title: "The bridge is shutting down",
                detail: "try again once it is back")
        case .internalError(let text):
            return TillAPIProblem(.internalServerError, type: "internal", title: "Internal error", detail: text)
        }
    }
}

enum TillAPIJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
