import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP shell for refunds: sends one ``NetgiroRefundRequest`` and reads the answer with
/// ``NetgiroRefundOutcome/interpret(status:body:)``. Never retried here: the caller decides,
/// with the same idempotency key. The secret goes only into the `token` header, never a log.
public final class NetgiroPartnerClient: Sendable {
    public let baseURL: String
    private let secret: NetgiroSecret
    private let http: HTTPClient
    private let timeout: Duration
    private let logger: Logger
    /// Told about every refund exchange (the daemon's latency metrics); nil: nobody listens.
    private let observer: NetgiroExchangeObserver?

    public init(
        baseURL: String, secret: NetgiroSecret, timeout: Duration = .seconds(25), logger: Logger = Logger(label: "netgiro.partner"),
        observer: NetgiroExchangeObserver? = nil
    ) {
        self.observer = observer
        self.baseURL = baseURL.hasSuffix("/") ? baseURL : baseURL + "/"
        self.secret = secret
        self.timeout = timeout
        self.logger = logger
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout.connect = .seconds(5)
        self.http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    public func refund(_ request: NetgiroRefundRequest) async throws(NetgiroRefundError) -> NetgiroRefundOutcome {
        var outgoing = HTTPClientRequest(url: baseURL + "refund")
        outgoing.method = .POST
        outgoing.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        outgoing.headers.add(name: "Accept", value: "application/json")
        outgoing.headers.add(name: "token", value: String(decoding: secret.utf8, as: UTF8.self))
        outgoing.body = .bytes(ByteBuffer(bytes: request.body()))
        let status: Int
        let body: [UInt8]
        let started = ContinuousClock.now
        var result = "error"
        defer { observer?(NetgiroExchange(operation: "Refund", result: result, duration: ContinuousClock.now - started)) }
        do {
            let response = try await http.execute(outgoing, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            status = Int(response.status.code)
            body = Array(buffer: try await response.body.collect(upTo: 256 * 1024))
        } catch {
            result = NetgiroExchange.transportResult(error)
            logger.warning("refund call failed", metadata: ["transaction": "\(request.transactionId)", "error": "\(error)"])
            throw .outcomeUnknown(cause: "\(error)")
        }
        result = "http_\(status)"
        let outcome = try NetgiroRefundOutcome.interpret(status: status, body: body)
        logger.info("refund answered", metadata: ["transaction": "\(request.transactionId)", "amount": "\(request.refundAmount)", "status": "\(status)"])
        return outcome
    }
}
