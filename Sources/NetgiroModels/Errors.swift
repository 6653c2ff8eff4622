/// Why a request that was (or may have been) sent got no usable answer.
public enum TransportFailure: Sendable, Hashable, CustomStringConvertible {
    /// No answer within the call's time limit.
    case timeout
    /// The connection broke after the request was (at least partly) written.
    case connectionLost(String)
    /// A gateway in front of Netgíró answered 502/504: the request may have reached Netgíró.
    case gatewayStatus(Int)

    public var description: String {
        switch self {
        case .timeout: return "no answer in time"
        case .connectionLost(let reason): return "the connection was lost (\(reason))"
        case .gatewayStatus(let status): return "a gateway answered HTTP \(status)"
        }
    }
}

/// Failures of a Netgíró call. Business outcomes (declined, cancelled, not found …) are not
/// errors: they come back as a response with a ``ResultCode``. These are the cases where there is
/// no usable answer.
public enum NetgiroClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Nothing reached Netgíró (connection refused, name not resolved, TLS handshake failed).
    /// Safe to try again, whatever the call.
    case notSent(call: NetgiroCall, reason: String)
    /// InsertCart or ConfirmCart was sent, but no answer came: it may have taken effect. An
    /// InsertCart in this state may have created a cart whose TransactionId we do not know — never
    /// insert again silently. After ConfirmCart, ask CheckCart.
    case outcomeUnknown(call: NetgiroCall, cause: TransportFailure)
    /// CheckCart or CancelCart got no answer in time (after the allowed retries).
    case timeout(call: NetgiroCall)
    /// CheckCart or CancelCart lost its connection (after the allowed retries).
    case connectionLost(call: NetgiroCall, reason: String)
    /// Netgíró answered with an HTTP 5xx and no Netgíró result to act on. `envelope` holds its
    /// message when the body could be read.
    case serverError(call: NetgiroCall, httpStatus: Int, envelope: NetgiroEnvelope?)
    /// The body could not be read as a Netgíró response.
    case decoding(call: NetgiroCall, httpStatus: Int, NetgiroDecodingError)
    /// ``ResponseSignatureMode/verify`` is on and the response's signature is missing or wrong.
    case responseSignatureInvalid(call: NetgiroCall, reason: String)
    /// An HTTP error status whose body is not a Netgíró answer at all (an HTML error page from a
    /// proxy, a firewall or Netgíró's front end, an empty body …). `answer` says what came back.
    case notNetgiroAnswer(call: NetgiroCall, httpStatus: Int, answer: String)
    /// The request could not be built (e.g. a value JSON cannot carry).
    case invalidRequest(call: NetgiroCall, reason: String)

    public var call: NetgiroCall {
        switch self {
        case .notSent(let c, _), .outcomeUnknown(let c, _), .timeout(let c), .connectionLost(let c, _),
            .serverError(let c, _, _), .decoding(let c, _, _), .responseSignatureInvalid(let c, _),
            .invalidRequest(let c, _), .notNetgiroAnswer(let c, _, _):
            return c
        }
    }

    /// Whether the request may have changed something at Netgíró. False only when we know it
    /// did not (never sent, or Netgíró itself answered a plain error). For InsertCart, true means
    /// a cart may exist that we cannot name.
    public var requestMayHaveTakenEffect: Bool {
        switch self {
        case .notSent, .invalidRequest: return false
        case .serverError(_, _, let envelope): return envelope == nil
        case .outcomeUnknown, .timeout, .connectionLost, .decoding, .responseSignatureInvalid, .notNetgiroAnswer: return true
        }
    }

    public var description: String {
        switch self {
        case .notSent(let call, let reason):
            return "\(call) was not sent: \(reason) — check the network and the Netgíró base URL; it is safe to try again"
        case .outcomeUnknown(let call, let cause):
            if call == .insertCart {
                return "InsertCart was sent but \(cause): a cart may have been created — do not insert again; "
                    + "report the sale as unknown and check it in Netgíró's partner portal"
            }
            return "\(call) was sent but \(cause): its outcome is unknown — ask CheckCart before doing anything else"
        case .timeout(let call):
            return "\(call) got no answer in time — check the network; the call can be repeated"
        case .connectionLost(let call, let reason):
            return "\(call): the connection was lost (\(reason)) — the call can be repeated"
        case .serverError(let call, let status, let envelope):
            let message = envelope.flatMap { $0.message }.map { ": \($0)" } ?? ""
            return "\(call): Netgíró answered HTTP \(status)\(message) — try again later"
        case .decoding(let call, let status, let error):
            return "\(call): the answer (HTTP \(status)) could not be read: \(error)"
        case .responseSignatureInvalid(let call, let reason):
            return "\(call): the answer's signature is \(reason) — check the secret key, or set response "
                + "signature checking to warn"
        case .invalidRequest(let call, let reason):
            return "\(call) could not be built: \(reason)"
        case .notNetgiroAnswer(let call, let status, let answer):
            return "\(call): the Netgíró address answered HTTP \(status) with \(answer), not a Netgíró answer — "
                + "a proxy, firewall or Netgíró's own front end is failing; check netgiro.base-url and try again later"
        }
    }
}
