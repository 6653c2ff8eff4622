import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Netgíró v1 Checkout client: a thin HTTP shell around ``NetgiroRequestBuilder`` (building
/// and signing) and ``NetgiroResponseDecoder`` (reading answers).
///
/// Business outcomes come back as responses with a ``ResultCode``; ``NetgiroClientError`` is
/// thrown only when there is no usable answer. Retries: CheckCart and CancelCart are repeated
/// (per ``NetgiroRetryPolicy``) after a timeout, a lost connection, a 5xx or an unreadable body;
/// InsertCart and ConfirmCart never are — a failure after sending is
/// ``NetgiroClientError/outcomeUnknown(call:cause:)``.
///
/// TLS: https base URLs use AsyncHTTPClient's default TLS configuration, which verifies the
/// certificate chain and host name. Redirects are never followed (the signature covers the URL).
public final class NetgiroClient: Sendable {
    public let configuration: NetgiroConfiguration
    private let builder: NetgiroRequestBuilder
    /// The nonce source; share it between clients that use the same app key.
    public let nonces: NonceGenerator
    private let http: HTTPClient
    private let ownsHTTPClient: Bool
    private let logger: Logger
    /// Told about every HTTP exchange (the daemon's latency metrics); nil: nobody listens.
    private let observer: NetgiroExchangeObserver?

    /// Largest response body read (Netgíró's answers are a few hundred bytes).
    static let maxResponseBytes = 256 * 1024

    /// Creates a client with its own HTTP client; call ``shutdown()`` when done.
    public convenience init(
        configuration: NetgiroConfiguration, nonces: NonceGenerator = NonceGenerator(),
        logger: Logger = Logger(label: "netgiro.api"), observer: NetgiroExchangeObserver? = nil
    ) {
        let http = HTTPClient(
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            configuration: Self.httpConfiguration(for: configuration),
            backgroundActivityLogger: logger)
        self.init(configuration: configuration, nonces: nonces, httpClient: http, ownsHTTPClient: true, logger: logger, observer: observer)
    }

    /// Creates a client on an HTTP client the caller owns (and shuts down). Its connect timeout
    /// should be below the call limits (see ``httpConfiguration(for:)``).
    public convenience init(
        configuration: NetgiroConfiguration, nonces: NonceGenerator = NonceGenerator(), httpClient: HTTPClient,
        logger: Logger = Logger(label: "netgiro.api"), observer: NetgiroExchangeObserver? = nil
    ) {
        self.init(configuration: configuration, nonces: nonces, httpClient: httpClient, ownsHTTPClient: false, logger: logger, observer: observer)
    }

    private init(
        configuration: NetgiroConfiguration, nonces: NonceGenerator, httpClient: HTTPClient, ownsHTTPClient: Bool,
        logger: Logger, observer: NetgiroExchangeObserver?
    ) {
        self.observer = observer
        self.configuration = configuration
        self.builder = NetgiroRequestBuilder(configuration: configuration)
        self.nonces = nonces
        self.http = httpClient
        self.ownsHTTPClient = ownsHTTPClient
        self.logger = logger
    }

    /// The AsyncHTTPClient configuration the client uses: connect timeout from the
    /// configuration, no redirects, certificate verification on (the default).
    public static func httpConfiguration(for configuration: NetgiroConfiguration) -> HTTPClient.Configuration {
        var c = HTTPClient.Configuration(redirectConfiguration: .disallow)
        c.timeout.connect = TimeAmount(configuration.timeouts.connect)
        c.httpVersion = .http1Only
        return c
    }

    public func shutdown() async throws {
        if ownsHTTPClient { try await http.shutdown() }
    }

    // MARK: The four calls

    /// InsertCart. Never retried once Netgíró may have processed it (only a 401 refusal, which
    /// comes before processing, is sent again with a fresh nonce). A failure after the request was written is
    /// ``NetgiroClientError/outcomeUnknown(call:cause:)``: a cart may exist.
    public func insertCart(_ request: InsertCartRequest) async throws(NetgiroClientError) -> InsertCartResponse {
        let raw = try await exchange(.insertCart) { nonce in try builder.insertCart(request, nonce: nonce) }
        do {
            return try NetgiroResponseDecoder.decodeInsertCart(raw.parsed)
        } catch {
            throw .decoding(call: .insertCart, httpStatus: raw.status, error)
        }
    }

    /// CheckCart. Retried per the retry policy.
    public func checkCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse {
        try await cartCall(.checkCart) { nonce in try builder.checkCart(transactionId: transactionId, nonce: nonce) }
    }

    /// ConfirmCart, with the SMS payment code as `identifier` in the SSN flow. Never retried: on
    /// ``NetgiroClientError/outcomeUnknown(call:cause:)`` ask CheckCart whether it is still needed.
    public func confirmCart(transactionId: String, identifier: String? = nil) async throws(NetgiroClientError) -> CartResponse {
        try await cartCall(.confirmCart) { nonce in
            try builder.confirmCart(transactionId: transactionId, identifier: identifier, nonce: nonce)
        }
    }

    /// CancelCart. Retried per the retry policy. An answer of 10200 means the customer paid
    /// before the cancel arrived: the sale is paid.
    public func cancelCart(transactionId: String) async throws(NetgiroClientError) -> CartResponse {
        try await cartCall(.cancelCart) { nonce in try builder.cancelCart(transactionId: transactionId, nonce: nonce) }
    }

    // MARK: Machinery

    private func cartCall(
        _ call: NetgiroCall, build: (String) throws -> PreparedRequest
    ) async throws(NetgiroClientError) -> CartResponse {
        let attempts = call.isSafeToRetry ? configuration.retry.maxAttempts : 1
        var attempt = 1
        while true {
            do {
                let raw = try await exchange(call, build: build)
                do {
                    return try NetgiroResponseDecoder.decodeCart(raw.parsed)
                } catch {
                    throw NetgiroClientError.decoding(call: call, httpStatus: raw.status, error)
                }
            } catch let error as NetgiroClientError {
                guard attempt < attempts, Self.isRetryable(error) else { throw error }
                logger.info(
                    "retrying Netgíró call",
                    metadata: ["call": "\(call)", "attempt": "\(attempt + 1)", "after": "\(error)"])
                let pause = configuration.retry.backoff * attempt
                attempt += 1
                if pause > .zero { try? await Task.sleep(for: pause) }
            } catch {
                throw .invalidRequest(call: call, reason: "\(error)")
            }
        }
    }

    /// How many times a request refused with HTTP 401 is sent again with a fresh nonce.
    static let authorizationRetries = 5

    /// One exchange, sent again (fresh nonce) while Netgíró refuses its authorization. A 401
    /// ("Authorization has been denied") comes before the request is processed, so sending again
    /// is safe for every call, InsertCart included. Nonces are issued in order but requests of
    /// payments running at once can reach Netgíró out of order; the overtaken one is sent again
    /// solo (``NonceLane``: no other request takes a nonce until it has its answer), so it cannot
    /// be overtaken twice. A wrong secret is refused the same way each time and ends as it would
    /// have.
    private func exchange(
        _ call: NetgiroCall, build: (String) throws -> PreparedRequest
    ) async throws(NetgiroClientError) -> RawResponse {
        var raw = try await signedExchange(call, nonce: await nonces.nonceForRequest(), build: build)
        var refused = 0
        while raw.status == 401, refused < Self.authorizationRetries {
            refused += 1
            logger.info(
                "Netgíró refused the request's authorization (HTTP 401); sending it again alone with a fresh nonce",
                metadata: ["call": "\(call)", "attempt": "\(refused + 1)"])
            let nonce = await nonces.beginSolo()
            defer { nonces.endSolo() }
            raw = try await signedExchange(call, nonce: nonce, build: build)
        }
        return raw
    }

    static func isRetryable(_ error: NetgiroClientError) -> Bool {
        switch error {
        case .notSent, .timeout, .connectionLost, .serverError, .decoding, .notNetgiroAnswer: return true
        case .outcomeUnknown, .responseSignatureInvalid, .invalidRequest: return false
        }
    }

    struct RawResponse {
        var status: Int
        /// The body, parsed once for the envelope here and the call's fields after.
        var parsed: NetgiroResponseBody
    }

    /// One HTTP exchange: build and sign with `nonce`, send, read the body, check the response
    /// signature, map transport failures and 5xx.
    private func signedExchange(
        _ call: NetgiroCall, nonce: String, build: (String) throws -> PreparedRequest
    ) async throws(NetgiroClientError) -> RawResponse {
        let prepared: PreparedRequest
        do {
            prepared = try build(nonce)
        } catch {
            throw .invalidRequest(call: call, reason: "\(error)")
        }
        var request = HTTPClientRequest(url: prepared.url)
        request.method = .POST
        for header in prepared.headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: prepared.body))

        let started = ContinuousClock.now
        var result = "error"
        defer { observer?(NetgiroExchange(operation: call.rawValue, result: result, duration: ContinuousClock.now - started)) }
        let status: Int
        let headers: HTTPHeaders
        let body: [UInt8]
        do {
            let response = try await http.execute(request, timeout: TimeAmount(configuration.timeouts[call]), logger: logger)
            status = Int(response.status.code)
            headers = response.headers
            var buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            result = NetgiroExchange.transportResult(error)
            throw Self.mapTransportError(error, call: call)
        }
        // Parsed once: the envelope here, the call's fields by the caller.
        let parsed = NetgiroResponseBody(body)
        let envelope = try? NetgiroResponseDecoder.decodeEnvelope(parsed)
        result = envelope.map { String($0.resultCode.code) } ?? "http_\(status)"
        logger.debug("Netgíró answered", metadata: ["call": "\(call)", "http.status": "\(status)"])

        // An error status whose body is no Netgíró answer (an HTML page from a proxy or Netgíró's
        // front end) carries no signature to check: say what came back, not "signature missing".
        if envelope == nil, let error = Self.foreignAnswer(call: call, status: status, body: body, contentType: headers.first(name: "Content-Type")) {
            throw error
        }

        try checkSignature(call: call, prepared: prepared, headers: headers, body: body)

        if (500...599).contains(status) {
            // A Netgíró business result is used whatever the status; anything else is a server error.
            if let envelope, envelope.resultCode.code >= 10000 {
                return RawResponse(status: status, parsed: parsed)
            }
            throw .serverError(call: call, httpStatus: status, envelope: envelope)
        }
        return RawResponse(status: status, parsed: parsed)
    }

    private func checkSignature(
        call: NetgiroCall, prepared: PreparedRequest, headers: HTTPHeaders, body: [UInt8]
    ) throws(NetgiroClientError) {
        let mode = configuration.responseSignatures
        guard mode != .off else { return }
        let result = ResponseSignatureCheck.check(
            nonce: headers.first(name: NetgiroHeader.nonce), signature: headers.first(name: NetgiroHeader.signature),
            secret: configuration.secret, requestURL: prepared.url, body: body)
        let reason: String
        switch result {
        case .valid: return
        case .missing: reason = "missing"
        case .mismatch: reason = "wrong"
        }
        if mode == .verify { throw .responseSignatureInvalid(call: call, reason: reason) }
        logger.warning(
            "Netgíró response signature \(reason); accepted because response signature checking is 'warn'",
            metadata: ["call": "\(call)"])
    }

    /// The error for an HTTP error status whose body is not a Netgíró answer (`nil` for a success
    /// status, or 401, which the nonce retry handles). A 502/504 to InsertCart or ConfirmCart came
    /// from a gateway that may have passed the request on: its outcome is unknown.
    static func foreignAnswer(call: NetgiroCall, status: Int, body: [UInt8], contentType: String?) -> NetgiroClientError? {
        guard status >= 400, status != 401 else { return nil }
        if (call == .insertCart || call == .confirmCart), status == 502 || status == 504 {
            return .outcomeUnknown(call: call, cause: .gatewayStatus(status))
        }
        return .notNetgiroAnswer(call: call, httpStatus: status, answer: describeForeignBody(body, contentType: contentType))
    }

    /// What a body that is not a Netgíró answer is, in a few words for the log: its media type, its
    /// size and, for an HTML page, its title (printable characters only, at most 80: nothing the
    /// far side sends can forge a log line, and no body is logged whole).
    static func describeForeignBody(_ body: [UInt8], contentType: String?) -> String {
        if body.isEmpty { return "an empty body" }
        let type = contentType.map { String($0.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespaces).lowercased() }
        let text = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        var what = "a \(type.flatMap { $0.isEmpty ? nil : $0 } ?? "untyped") body of \(body.count) bytes"
        if type == "text/html" || text.range(of: "<html", options: .caseInsensitive) != nil {
            what = "an HTML page of \(body.count) bytes"
            if let open = text.range(of: "<title>", options: .caseInsensitive),
                let close = text.range(of: "</title>", options: .caseInsensitive, range: open.upperBound..<text.endIndex)
            {
                let title = text[open.upperBound..<close.lowerBound].unicodeScalars
                    .map { $0.properties.generalCategory == .control ? " " : String($0) }.joined()
                    .trimmingCharacters(in: .whitespaces)
                if !title.isEmpty { what += " titled \"\(title.prefix(80))\"" }
            }
        }
        return what
    }

    /// Sorts a transport error into "not sent" (nothing reached the server) and "sent, no answer".
    static func mapTransportError(_ error: any Error, call: NetgiroCall) -> NetgiroClientError {
        switch classify(error) {
        case .notSent(let reason):
            return .notSent(call: call, reason: reason)
        case .timeout:
            return call.isSafeToRetry ? .timeout(call: call) : .outcomeUnknown(call: call, cause: .timeout)
        case .lost(let reason):
            return call.isSafeToRetry
                ? .connectionLost(call: call, reason: reason) : .outcomeUnknown(call: call, cause: .connectionLost(reason))
        }
    }

    enum TransportClass: Equatable {
        case notSent(String)
        case timeout
        case lost(String)
    }

    static func classify(_ error: any Error) -> TransportClass {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout, .socksHandshakeTimeout,
                .httpProxyHandshakeTimeout:
                return .notSent("could not connect in time")
            case .invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown:
                return .notSent("\(e)")
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return .timeout
            default:
                return .lost("\(e)")
            }
        }
        if error is NIOConnectionError { return .notSent("connection refused or unreachable") }
        if let e = error as? ChannelError, case .connectTimeout = e { return .notSent("could not connect in time") }
        if let e = error as? IOError,
            [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(e.errnoCode)
        {
            return .notSent("connection refused or unreachable")
        }
        if error is SocketAddressError { return .notSent("the host name could not be resolved") }
        let typeName = String(reflecting: type(of: error))
        if typeName.contains("NIOSSLError") || typeName.contains("BoringSSLError") {
            // TLS failures surface during the handshake, before the request is written.
            if "\(error)".lowercased().contains("handshake") { return .notSent("TLS handshake failed: \(error)") }
        }
        return .lost("\(error)")
    }
}


/// One HTTP exchange with Netgíró as seen from outside, for metrics: the operation (a checkout
/// call such as `InsertCart`, or `Refund`), how it ended (Netgíró's result code such as `10000`,
/// `http_NNN` when the body had none, or `not_sent`, `timeout`, `connection_lost`) and how long
/// it took. A retried call is one exchange per attempt.
public struct NetgiroExchange: Sendable, Hashable {
    public var operation: String
    public var result: String
    public var duration: Duration

    static func transportResult(_ error: any Error) -> String {
        switch NetgiroClient.classify(error) {
        case .notSent: return "not_sent"
        case .timeout: return "timeout"
        case .lost: return "connection_lost"
        }
    }
}

public typealias NetgiroExchangeObserver = @Sendable (NetgiroExchange) -> Void
