import AsyncHTTPClient
import Common
import Foundation
import Hummingbird
import Logging
import NIOCore
import NetgiroModels

/// The Netgíró v1 Checkout simulator: a Hummingbird 2 server around ``NetgiroSimulatorCore``.
///
/// Serves `POST /v1/Checkout/{InsertCart,CheckCart,ConfirmCart,CancelCart}` with Netgíró's wire
/// format enforced, signs its answers (`netgiro_nonce`, `netgiro_signature`), POSTs signed
/// callbacks, injects faults, and offers control endpoints under `/_sim/`:
///
/// | method and path | what |
/// |---|---|
/// | `GET /_sim/ledger` | every cart: state, calls made for it (JSON array) |
/// | `GET /_sim/carts/{id}/sms-code` | the SMS payment code sent for a cart |
/// | `POST /_sim/carts/{id}/accept`, `…/decline` | the GSM customer answers now |
/// | `GET`/`POST /_sim/faults` | read/set fault probabilities (JSON) |
/// | `POST /partner/refund` | the partner API's refund (``NetgiroSimRefunds``, docs/netgiro-refund.md) |
/// | `POST /_sim/faults/next` | `{"fault":"dropAfterCommit","call":"InsertCart"}`: one fault on the next such call |
///
/// From tests: `let sim = try await NetgiroSimulator.start()`, use `sim.baseURL`, then
/// `await sim.shutdown()`.
public final class NetgiroSimulator: Sendable {
    public struct Options: Sendable {
        public var host: String = "127.0.0.1"
        /// 0 picks a free port.
        public var port: Int = 0
        public var core: NetgiroSimulatorCore.Configuration = .init()
        public var seed: UInt64 = 1
        public var faults: NetgiroFaultProbabilities = .none
        public var clock: any NetgiroSimClock = NetgiroSystemSimClock()
        /// Time limit for one callback POST.
        public var callbackTimeout: Duration = .seconds(5)
        public var logger: Logger = Logger(label: "netgiro.simulator")
        /// Receives each cart event and each refused request, one line each (the CLI prints them).
        public var events: @Sendable (String) -> Void = { _ in }

        public init() {}
    }

    /// The default port of `ngbridge sim netgiro`.
    public static let defaultPort = 8089

    public let options: Options
    /// `http://HOST:PORT/v1/`: the base URL to give the client.
    public let baseURL: String
    /// `http://HOST:PORT`.
    public let origin: String
    public let port: Int

    private let state: Locked<State>
    private let serverTask: Task<Void, any Error>
    private let http: HTTPClient

    /// The simulator's mutable state, behind one lock: requests arrive on NIO's threads and
    /// the ticker and callbacks run as tasks, all reading and changing it synchronously.
    struct State: Sendable {
        var core: NetgiroSimulatorCore
        var faults: NetgiroFaultPlan
        var callbackTasks: [Int: Task<Void, Never>] = [:]
        var nextTaskID = 0
        var shuttingDown = false
        var responseNonce: UInt64 = 5_000_000
        var refunds = NetgiroSimRefunds()

        init(core: NetgiroSimulatorCore, faults: NetgiroFaultPlan) {
            self.core = core
            self.faults = faults
        }
    }

    private init(options: Options, port: Int, state: Locked<State>, serverTask: Task<Void, any Error>, http: HTTPClient) {
        self.options = options
        self.port = port
        self.origin = "http://\(options.host):\(port)"
        self.baseURL = origin + NetgiroSimWire.basePath
        self.state = state
        self.serverTask = serverTask
        self.http = http
    }

    /// Starts the simulator and returns once it is listening.
    public static func start(_ options: Options = Options()) async throws -> NetgiroSimulator {
        // Lock: requests, the ticker and callbacks all change it synchronously (see `State`).
        let state = Locked(State(
            core: NetgiroSimulatorCore(configuration: options.core, seed: options.seed),
            faults: NetgiroFaultPlan(probabilities: options.faults, seed: options.seed)))
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
            configuration: .init(redirectConfiguration: .disallow), backgroundActivityLogger: options.logger)
        // The responder is built before the simulator it answers for (the server must be
        // listening to learn its port), so it finds the simulator through this box.
        let box = Locked<NetgiroSimulator?>(nil)
        let responder = CallbackResponder<NetgiroSimContext> { request, context in
            guard let simulator = box.withLock({ $0 }) else {
                return Response(status: .serviceUnavailable)
            }
            return try await simulator.respond(to: request, context: context)
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "netgiro-simulator"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: options.logger)
        // Unstructured: the server runs until shutdown(), long after start() returned.
        let serverTask = Task {
            defer { portContinuation.finish() }
            try await app.run()
        }
        var iterator = portStream.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            serverTask.cancel()
            try? await http.shutdown()
            _ = try await serverTask.value  // surfaces the bind error
            throw NetgiroSimulatorError.couldNotStart(host: options.host, port: options.port)
        }
        let simulator = NetgiroSimulator(options: options, port: port, state: state, serverTask: serverTask, http: http)
        box.withLock { $0 = simulator }
        if options.clock.isRealTime { simulator.startTicker() }
        return simulator
    }

    /// Stops the server, the ticker and any callbacks in flight.
    public func shutdown() async {
        let tasks = state.withLock { s -> [Task<Void, Never>] in
            s.shuttingDown = true
            return Array(s.callbackTasks.values)
        }
        for task in tasks { task.cancel() }
        tickerTask.withLock { $0?.cancel() }
        serverTask.cancel()
        _ = try? await serverTask.value
        for task in tasks { await task.value }
        try? await http.shutdown()
    }

    // MARK: Library control (the same as the /_sim/ endpoints)

    public func ledger() -> [NetgiroSimLedgerEntry] { state.withLock { $0.core.ledger } }

    /// The partner API's base URL (refunds), beside the v1 base URL.
    public var partnerBaseURL: String { origin + "/partner/" }

    /// Every refund taken, in order.
    public func refunds() -> [NetgiroSimRefunds.Refund] { state.withLock { $0.refunds.refunds } }

    public func cart(_ transactionId: String) -> NetgiroSimLedgerEntry? {
        ledger().first { $0.transactionId == transactionId }
    }

    public func smsCode(for transactionId: String) -> String? { state.withLock { $0.core.smsCode(for: transactionId) } }

    /// The GSM customer of the cart accepts (or declines) now.
    public func customerDecides(transactionId: String, accept: Bool) throws(NetgiroSimControlError) {
        let now = options.clock.now()
        let result = state.withLock { $0.core.customerDecides(transactionId: transactionId, accept: accept, now: now) }
        switch result {
        case .success(let effects): perform(effects)
        case .failure(let error): throw error
        }
    }

    /// Moves a ``NetgiroManualSimClock`` forward and applies what became due.
    public func advance(by duration: Duration) {
        (options.clock as? NetgiroManualSimClock)?.advance(by: duration)
        tick()
    }

    public func setFaults(_ probabilities: NetgiroFaultProbabilities) {
        state.withLock { $0.faults.probabilities = probabilities }
    }

    public func injectNext(_ fault: NetgiroFault, on call: NetgiroCall? = nil) {
        state.withLock { $0.faults.injectNext(fault, on: call) }
    }

    /// Waits until every callback in flight has been delivered or has failed (and its
    /// consequences, such as a retry, have run).
    public func settle() async {
        while true {
            let tasks = state.withLock { Array($0.callbackTasks.values) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    // MARK: Machinery

    /// Lock: set once by start(), read by shutdown() from any task.
    private let tickerTask = Locked<Task<Void, Never>?>(nil)

    private func startTicker() {
        // Unstructured: ticks until shutdown(), long after start() returned.
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                self?.tick()
            }
        }
        tickerTask.withLock { $0 = task }
    }

    func tick() {
        let now = options.clock.now()
        let effects = state.withLock { $0.core.advance(to: now) }
        perform(effects)
    }

    func perform(_ effects: [NetgiroSimulatorCore.Effect]) {
        for effect in effects {
            switch effect {
            case .event(let line):
                options.logger.info("\(line)")
                options.events(line)
            case .smsCodeSent(let id, let code):
                options.logger.info("cart \(id): sandbox SMS payment code \(PersonalData.mask(code)) sent")
                options.events("cart \(id): sandbox SMS payment code \(code)")
            case .sendCallback(let callback):
                startCallback(callback)
            }
        }
    }

    private func startCallback(_ callback: NetgiroSimulatorCore.Callback) {
        state.withLock { s in
            guard !s.shuttingDown else { return }
            let id = s.nextTaskID
            s.nextTaskID += 1
            // Unstructured: a delivery outlives the request or tick that caused it; settle()
            // and shutdown() await it.
            s.callbackTasks[id] = Task { [self] in
                await self.deliver(callback)
                _ = self.state.withLock { $0.callbackTasks.removeValue(forKey: id) }
            }
        }
    }

    private func deliver(_ callback: NetgiroSimulatorCore.Callback) async {
        var request = HTTPClientRequest(url: callback.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: NetgiroHeader.callbackNonce, value: callback.nonce)
        request.headers.add(name: NetgiroHeader.callbackSignature, value: callback.signature)
        request.body = .bytes(ByteBuffer(bytes: callback.body))
        var delivered = false
        var outcome: String
        do {
            let response = try await http.execute(request, timeout: TimeAmount(options.callbackTimeout))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            delivered = response.status.code == 200
            outcome = "HTTP \(response.status.code)"
        } catch {
            outcome = "\(error)"
        }
        let kind = callback.isCancelNotice ? "cancel notice" : "callback attempt \(callback.attempt)"
        perform([.event("cart \(callback.transactionId): \(kind) to \(callback.url): \(outcome)")])
        guard !callback.isCancelNotice else { return }
        let now = options.clock.now()
        let effects = state.withLock {
            $0.core.callbackFinished(transactionId: callback.transactionId, attempt: callback.attempt, delivered: delivered, now: now)
        }
        perform(effects)
    }

    // MARK: HTTP

    func respond(to request: Request, context: NetgiroSimContext) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/_sim/") {
            return try await control(request, context: context)
        }
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        let authority = request.head.authority ?? "\(options.host):\(port)"
        let wire = NetgiroSimWireRequest(
            method: request.method.rawValue, path: path, url: "http://\(authority)\(request.uri.string)",
            headers: request.headers.map { ($0.name.rawName, $0.value) }, body: Array(buffer: body))

        if path == NetgiroSimRefunds.path {
            let reply = state.withLock { s in
                s.refunds.receive(method: wire.method, headers: wire.headers, body: wire.body) { id in
                    s.core.carts[id].map { cart in
                        NetgiroSimRefunds.CartFacts(
                            amount: cart.amount, paid: cart.state == .paid,
                            secret: s.core.configuration.apps.first { $0.key.lowercased() == cart.appKey.lowercased() }?.value)
                    }
                }
            }
            let line = reply.violation.map { "refused \(wire.method) \(path): \($0) (HTTP \(reply.status))" } ?? "refund taken"
            if reply.violation != nil { options.logger.warning("\(line)") }
            options.events(line)
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
        }
        let call = NetgiroCall.allCases.first { NetgiroSimWire.basePath + $0.path == path }
        let fault: NetgiroFault? = call.flatMap { c in state.withLock { $0.faults.draw(for: c) } }
        if let call, let fault { perform([.event("\(call): injecting fault \(fault.rawValue)")]) }

        if fault == .serverError {
            return jsonResponse(status: 500, body: NetgiroSimBody.envelope(message: "An error has occurred.", code: 500),
                request: wire)
        }
        if fault == .slow {
            let delay = state.withLock { $0.faults.probabilities.slowDelay }
            let deadline = ContinuousClock.now + delay
            while ContinuousClock.now < deadline, !state.withLock({ $0.shuttingDown }) {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }

        let now = options.clock.now()
        let (reply, effects) = state.withLock { $0.core.receive(wire, now: now) }
        perform(effects)
        if let violation = reply.violation {
            let line = "refused \(request.method.rawValue) \(path): \(violation) (HTTP \(reply.status))"
            options.logger.warning("\(line)")
            options.events(line)
        }

        switch fault {
        case .dropAfterCommit:
            context.channel.close(promise: nil)
            throw NetgiroSimulatorError.connectionDropped
        case .garbage:
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: "<html><body><h1>502 Bad Gateway</h1>\u{0}\u{7f}")))
        default:
            return jsonResponse(status: reply.status, body: reply.body, request: wire)
        }
    }

    /// A JSON answer signed as Netgíró's 2016 client expected (SHA-256 of secret + response nonce
    /// + request URL + body), with the secret of the app that called (unsigned if the app is
    /// unknown).
    private func jsonResponse(status: Int, body: [UInt8], request: NetgiroSimWireRequest) -> Response {
        let requestURL = request.url
        let appKey = request.header(NetgiroHeader.appKey)?.lowercased()
        let (nonce, signingSecret) = state.withLock { s -> (String, NetgiroSecret?) in
            s.responseNonce += 1
            let secret = s.core.configuration.apps.first { $0.key.lowercased() == appKey }?.value
            return (String(s.responseNonce), secret)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.init(NetgiroHeader.referenceId)!] = nonce
        if let signingSecret {
            headers[.init(NetgiroHeader.nonce)!] = nonce
            headers[.init(NetgiroHeader.signature)!] =
                NetgiroSignature.compute(secret: signingSecret, nonce: nonce, url: requestURL, body: body)
        }
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private func control(_ request: Request, context: NetgiroSimContext) async throws -> Response {
        var request = request
        let parts = request.uri.path.split(separator: "/").map(String.init)  // ["_sim", ...]
        let method = request.method
        func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        struct Message: Encodable { var message: String }
        let rest = Array(parts.dropFirst())
        if method == .get, rest == ["ledger"] {
            return json(.ok, ledger())
        }
        if method == .get, rest.count == 3, rest[0] == "carts", rest[2] == "sms-code" {
            let id = rest[1]
            guard let code = smsCode(for: id) else { return json(.notFound, Message(message: "no SMS code for cart \(id)")) }
            struct Code: Encodable { var transactionId: String; var code: String }
            return json(.ok, Code(transactionId: id, code: code))
        }
        if method == .post, rest.count == 3, rest[0] == "carts", rest[2] == "accept" || rest[2] == "decline" {
            let id = rest[1]
            do {
                try customerDecides(transactionId: id, accept: rest[2] == "accept")
                return json(.ok, Message(message: "cart \(id): customer \(rest[2])s"))
            } catch {
                switch error {
                case .noSuchCart: return json(.notFound, Message(message: error.description))
                case .notAwaitingCustomer: return json(.conflict, Message(message: error.description))
                }
            }
        }
        if method == .get, rest == ["faults"] {
            return json(.ok, state.withLock { $0.faults.probabilities })
        }
        if method == .post, rest == ["faults"] {
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let p = try? JSONDecoder().decode(NetgiroFaultProbabilities.self, from: Data(buffer: body)) else {
                return json(.badRequest, Message(message: #"expected {"serverError":0.1,"slow":0,"dropAfterCommit":0,"garbage":0,"slowDelayMilliseconds":5000}"#))
            }
            setFaults(p)
            return json(.ok, p)
        }
        if method == .post, rest == ["faults", "next"] {
            struct Next: Decodable { var fault: NetgiroFault; var call: String? }
            let body = try await request.collectBody(upTo: 64 * 1024)
            guard let next = try? JSONDecoder().decode(Next.self, from: Data(buffer: body)) else {
                return json(.badRequest, Message(message: #"expected {"fault":"dropAfterCommit","call":"InsertCart"}"#))
            }
            let call = next.call.flatMap(NetgiroCall.init(rawValue:))
            if let name = next.call, call == nil { return json(.badRequest, Message(message: "unknown call \(name)")) }
            injectNext(next.fault, on: call)
            return json(.ok, Message(message: "next \(call?.rawValue ?? "call"): \(next.fault.rawValue)"))
        }
        return json(.notFound, Message(message: "unknown control endpoint \(method.rawValue) \(request.uri.path)"))
    }
}

public enum NetgiroSimulatorError: Error, CustomStringConvertible {
    case couldNotStart(host: String, port: Int)
    case connectionDropped

    public var description: String {
        switch self {
        case .couldNotStart(let host, let port):
            return "the Netgíró simulator could not listen on \(host):\(port) — is the port in use? Try --port 0"
        case .connectionDropped: return "connection dropped on purpose (fault injection)"
        }
    }
}

/// The request context: Hummingbird's core storage plus the connection's channel (closed on
/// purpose by the dropped-connection fault).
public struct NetgiroSimContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}
