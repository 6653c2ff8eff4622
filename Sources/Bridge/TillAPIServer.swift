import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// The till API: HTTP/JSON on a unix socket (default) or TCP, on Hummingbird; off loopback only
/// with TLS and client certificates (``TillAPITLS``).
///
/// Routes (the OpenAPI document `openapi/till-api.json` describes them; a test holds the two
/// together through ``TillAPIServer/routes``):
///
/// | method and path | what |
/// |---|---|
/// | `POST /v1/payments` | start a payment (`Idempotency-Key` header: the same payment on retry) → 201 |
/// | `GET /v1/payments` | find payments: filters, newest first, cursor pages |
/// | `GET /v1/payments/{id}` | the payment now |
/// | `POST /v1/payments/{id}/resolution` | staff record what Netgíró's portal shows for an `unknown` payment |
/// | `GET /v1/payments/{id}/events` | server-sent events: state changes, prompts, screens, the outcome |
/// | `POST /v1/payments/{id}/cancel` | ask to cancel → 202 (`cancel-requested`) or 200 (already cancelled) |
/// | `POST`/`GET /v1/payments/{id}/refunds` | refund a paid payment (full or partial) / its refunds (TillAPIRefunds.swift) |
/// | `GET /v1/terminals` | the pads and whether they are linked |
/// | `GET /healthz` | 200 when payments can be taken, 503 with the reason otherwise |
/// | `GET /metrics` | Prometheus text format |
///
/// On TCP every route but `/healthz` needs `Authorization: Bearer TOKEN`. Every refusal is a
/// problem document (``TillAPIProblem``); a method a route does not take gets 405 with `Allow`.
public struct TillAPIServer: Sendable {
    public struct Options: Sendable {
        public var listen: DaemonConfiguration.ListenAddress
        /// Required on TCP. On the unix socket the file mode guards the door, and a token is not asked for.
        public var token: String?
        public var socketMode: UInt16 = 0o660
        public var maxBodyBytes: Int = 64 * 1024
        /// TLS with client certificates (a non-loopback `listen` has it; see ``TillAPITLS``).
        public var tls: TillAPITLS?
        /// Sent as an SSE comment while a payment's event stream is quiet, so proxies keep it open.
        public var keepAlive: Duration = .seconds(15)

        public init(listen: DaemonConfiguration.ListenAddress, token: String? = nil) {
            self.listen = listen
            self.token = token
        }
    }

    /// Every route of the API, as (method, path template). The OpenAPI test compares against it.
    public static let routes: [(method: String, path: String)] = [
        ("POST", "/v1/payments"),
        ("GET", "/v1/payments"),
        ("GET", "/v1/payments/{id}"),
        ("POST", "/v1/payments/{id}/resolution"),
        ("GET", "/v1/payments/{id}/events"),
        ("POST", "/v1/payments/{id}/cancel"),
        ("POST", "/v1/payments/{id}/refunds"),
        ("GET", "/v1/payments/{id}/refunds"),
        ("GET", "/v1/terminals"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
    ]

    public let options: Options
    let service: any PaymentService
    let metrics: TillAPIMetrics
    let logger: Logger
    /// Refunds through Netgíró's partner API; nil: the refund routes answer 404 refunds-off.
    public var refunds: RefundService?

    public init(options: Options, service: any PaymentService, metrics: TillAPIMetrics, logger: Logger) {
        self.options = options
        self.service = service
        self.metrics = metrics
        self.logger = logger
    }

    /// The Hummingbird application, a `Service` for swift-service-lifecycle.
    /// `onListening` is called once the socket is bound (and, for a unix socket, its mode set),
    /// with the address as bound (port 0 in the options becomes the port picked).
    public func application(
        onListening: @escaping @Sendable (DaemonConfiguration.ListenAddress) async -> Void = { _ in }
    ) -> some Service {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: TillAPIGuard(token: Self.requiresToken(options) ? options.token : nil, metrics: metrics, logger: logger))
        addRoutes(to: router)
        let address: BindAddress
        switch options.listen {
        case .unix(let path): address = .unixDomainSocket(path: path)
        case .tcp(let host, let port): address = .hostname(host, port: port)
        }
        let listen = options.listen
        let mode = options.socketMode
        let logger = self.logger
        // `.tls` is declared throwing but only wraps the builder; TLS errors come per connection.
        let server: HTTPServerBuilder = options.tls.map { try! .tls(.http1(), tlsConfiguration: $0.serverConfiguration) } ?? .http1()
        return Application(
            router: router,
            server: server,
            configuration: .init(address: address, serverName: "ngbridge"),
            onServerRunning: { channel in
                var bound = listen
                switch listen {
                case .unix(let path):
                    if chmod(path, mode_t(mode)) != 0 {
                        logger.error("cannot set mode \(String(mode, radix: 8)) on \(path): \(String(cString: strerror(errno)))")
                    }
                case .tcp(let host, _):
                    bound = .tcp(host: host, port: channel.localAddress?.port ?? 0)
                }
                logger.info("till API listening", metadata: ["listen": "\(bound)"])
                await onListening(bound)
            },
            logger: logger)
    }

    static func requiresToken(_ options: Options) -> Bool {
        if case .tcp = options.listen { return true }
        return false
    }

    // MARK: - Routes

    func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/payments") { request, context in try await self.createPayment(request, context: context) }
        router.get("/v1/payments") { request, _ in
            let parameters = request.uri.queryParameters.map { (name: String($0.key), value: String($0.value)) }
            let query = try TillAPIValidation.paymentQuery(parameters)
            let page: TillPaymentPage
            do {
                page = try await self.service.payments(query)
            } catch let error as PaymentServiceError {
                throw TillAPIProblem.from(error)
            }
            return try Self.json(page)
        }
        router.post("/v1/payments/{id}/resolution") { request, context in
            let id = try context.parameters.require("id")
            try TillAPIValidation.jsonContentType(request.headers[.contentType])
            var request = request
            let resolution = try TillAPIValidation.resolutionRequest(from: try await self.body(of: &request))
            let payment: TillPayment
            do {
                payment = try await self.service.resolve(id: id, resolution)
            } catch let error as PaymentServiceError {
                throw TillAPIProblem.from(error)
            }
            return try Self.json(payment)
        }
        router.get("/v1/payments/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let payment = await self.service.payment(id: id) else { throw TillAPIProblem.notFound("no payment \(id)") }
            return try Self.json(payment)
        }
        router.get("/v1/payments/{id}/events") { request, context in try await self.events(request, context: context) }
        router.post("/v1/payments/{id}/cancel") { _, context in
            let id = try context.parameters.require("id")
            do {
                let payment = try await self.service.cancel(id: id)
                self.logger.info("cancel requested", metadata: ["payment": "\(id)", "terminal": "\(payment.terminal)", "state": "\(payment.state.rawValue)"])
                return try Self.json(payment, status: payment.state == .cancelled ? .ok : .accepted)
            } catch let error as PaymentServiceError {
                throw TillAPIProblem.from(error)
            }
        }
        addRefundRoutes(to: router)
        router.get("/v1/terminals") { _, _ in
            try Self.json(TerminalList(terminals: await self.service.terminals()))
        }
        router.get("/healthz") { _, _ in
            if let reason = await self.service.readiness() {
                return try Self.json(Health(status: "unavailable", reason: reason), status: .serviceUnavailable)
            }
            return try Self.json(Health(status: "ok", reason: nil))
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: await self.metrics.scrape())))
        }
    }

    struct TerminalList: Codable { var terminals: [TillTerminal] }
    struct Health: Codable { var status: String; var reason: String? }

    func body(of request: inout Request) async throws(TillAPIProblem) -> Data {
        do {
            return Data(buffer: try await request.collectBody(upTo: options.maxBodyBytes))
        } catch {
            throw TillAPIProblem.tooLarge(limit: options.maxBodyBytes)
        }
    }

    func createPayment(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let key = try TillAPIValidation.idempotencyKey(request.headers[.init("Idempotency-Key")!])
        try TillAPIValidation.jsonContentType(request.headers[.contentType])
        var request = request
        let paymentRequest = try TillAPIValidation.paymentRequest(from: try await body(of: &request))

        let started: PaymentStart
        do {
            started = try await service.start(paymentRequest, idempotencyKey: key)
        } catch {
            throw TillAPIProblem.from(error)
        }
        let payment = started.payment
        var response = try Self.json(payment, status: .created)
        response.headers[.location] = "/v1/payments/\(payment.id)"
        if started.replayed {
            response.headers[.init("Idempotent-Replayed")!] = "true"
            logger.info("payment request replayed", metadata: ["payment": "\(payment.id)", "terminal": "\(payment.terminal)"])
            return response
        }
        metrics.paymentsStarted.increment()
        logger.info(
            "payment started",
            metadata: ["payment": "\(payment.id)", "terminal": "\(payment.terminal)", "amount": "\(payment.amount)", "confirmation": "\(payment.confirmation.rawValue)"])
        return response
    }

    func events(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let events = await service.events(id: id) else { throw TillAPIProblem.notFound("no payment \(id)") }
        let after = try TillAPIValidation.lastEventID(request.headers[.init("Last-Event-ID")!])
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-store"
        let keepAlive = options.keepAlive
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                // Keep-alive ticks go into the payment's own event stream (as nil), so one loop
                // writes both and each event reaches it without a copy through a second stream;
                // the ticker is a child of this response, ending with it.
                try await withThrowingTaskGroup(of: Void.self) { ticker in
                    ticker.addTask {
                        while (try? await Task.sleep(for: keepAlive)) != nil {
                            events.tick()
                        }
                    }
                    defer {
                        ticker.cancelAll()
                        events.end()
                    }
                    // The stream ends on a graceful shutdown: the handler finishes it (waking the
                    // loop if it waits) and nothing is written once shutdown began. Not
                    // `cancelOnGracefulShutdown()`, which merges the stream with the shutdown's
                    // own sequence: a third task hop and a merge state machine for every event.
                    try await withGracefulShutdownHandler {
                        for await item in events.stream {
                            if Task.isShuttingDownGracefully { break }
                            guard let event = item else {
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                                continue
                            }
                            guard event.sequence > after else { continue }
                            try await writer.write(Self.serverSentEventBuffer(event))
                            if event.kind == .outcome { break }
                        }
                    } onGracefulShutdown: {
                        events.end()
                    }
                }
                try await writer.finish(nil)
            })
    }

    static func serverSentEvent(_ event: TillPaymentEvent) -> String {
        String(buffer: serverSentEventBuffer(event))
    }

    /// One event as written on the stream: `id`, `event` and `data` lines and a blank line. The
    /// JSON goes into the buffer as the encoder's bytes (no String made of it and copied again).
    static func serverSentEventBuffer(_ event: TillPaymentEvent) -> ByteBuffer {
        let data = (try? TillAPIJSON.eventEncoder.encode(event)) ?? Data("{}".utf8)
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + 64)
        buffer.writeStaticString("id: ")
        buffer.writeString(String(event.sequence))
        buffer.writeStaticString("\nevent: ")
        buffer.writeString(event.kind.rawValue)
        buffer.writeStaticString("\ndata: ")
        buffer.writeBytes(data)
        buffer.writeStaticString("\n\n")
        return buffer
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let data = try TillAPIJSON.encoder.encode(value)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// First in line for every request: the bearer token (on TCP), problem documents for every
/// failure (also for routes that do not exist), request metrics and one log line per refusal.
struct TillAPIGuard: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String?
    let metrics: TillAPIMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        let started = ContinuousClock.now
        do {
            if let token, request.uri.path != "/healthz" {
                guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
                    Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.utf8))
                else { throw TillAPIProblem.unauthorized() }
            }
            response = try await next(request, context)
        } catch {
            var problem = Self.problem(for: error)
            // A path the API has, with a method it does not take: 405 and the methods it takes.
            let allowed = error is HTTPError && (problem.statusCode == 404 || problem.statusCode == 405)
                ? Self.allowedMethods(path: request.uri.path) : []
            let allow = allowed.isEmpty ? nil : allowed.joined(separator: ", ")
            if let allow {
                problem = TillAPIProblem(
                    .methodNotAllowed, type: "method-not-allowed", title: "Method not allowed",
                    detail: "\(TillAPIValidation.printable(request.uri.path, limit: 200)) takes \(allow), not \(TillAPIValidation.printable(request.method.rawValue, limit: 16))",
                    field: "method", rule: "one-of \(allow)")
            }
            if problem.statusCode >= 500 {
                logger.error("request failed", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "error": "\(error)"])
            } else {
                logger.notice(
                    "request refused",
                    metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(problem.statusCode)", "problem": "\(problem.kind)", "field": "\(problem.field ?? "-")"])
            }
            metrics.countRequest(
                method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: problem.statusCode,
                duration: ContinuousClock.now - started)
            var response = try problem.response(from: request, context: context)
            if let allow { response.headers[.allow] = allow }
            return response
        }
        metrics.countRequest(
            method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: response.status.code,
            duration: ContinuousClock.now - started)
        return response
    }

    static func problem(for error: any Error) -> TillAPIProblem {
        if let problem = error as? TillAPIProblem { return problem }
        if let http = error as? HTTPError {
            switch http.status {
            case .notFound: return .notFound("no such route — see openapi/till-api.json")
            case .methodNotAllowed:
                return TillAPIProblem(.methodNotAllowed, type: "method-not-allowed", title: "Method not allowed", detail: "this route does not take that method")
            case .contentTooLarge: return .tooLarge(limit: 0)
            default:
                return TillAPIProblem(http.status, type: "http-\(http.status.code)", title: http.status.reasonPhrase, detail: http.body ?? http.status.reasonPhrase)
            }
        }
        return TillAPIProblem(.internalServerError, type: "internal", title: "Internal error", detail: "the bridge failed to answer; its log has the details")
    }

    /// The methods the API takes on `path` (empty when no route has that path).
    static func allowedMethods(path: String) -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods: [String] = []
        for route in TillAPIServer.routes {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == parts.count else { continue }
            let matches = zip(template, parts).allSatisfy { t, p in (t.hasPrefix("{") && !p.isEmpty) || t == p }
            if matches, !methods.contains(route.method) { methods.append(route.method) }
        }
        return methods
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
