import Common
import Foundation
import Hummingbird
import Logging
import NIOCore
import NetgiroModels

/// A small ServerCallback receiver on loopback, for tests and the demo: every POST is checked
/// with ``NetgiroCallback/verify(secret:url:body:headerValue:)`` and recorded; it answers with
/// the status the `answer` closure picks (200 by default, which creates the payment).
public final class NetgiroCallbackReceiver: Sendable {
    public struct Received: Sendable {
        public var url: String
        public var verification: NetgiroCallback.Verification
        public var isValid: Bool {
            if case .valid = verification { return true }
            return false
        }
    }

    /// `http://HOST:PORT/netgiro/callback`: give it as `CallbackUrl`.
    public let callbackURL: String
    /// `http://HOST:PORT/netgiro/cancel`: give it as `CallbackCancelUrl`.
    public let cancelURL: String

    private let serverTask: Task<Void, any Error>

    private init(origin: String, serverTask: Task<Void, any Error>, received: Locked<[Received]>) {
        self.callbackURL = origin + "/netgiro/callback"
        self.cancelURL = origin + "/netgiro/cancel"
        self.serverTask = serverTask
        self.receivedBox = received
    }

    private let receivedBox: Locked<[Received]>

    /// Every callback received so far, in order.
    public var callbacks: [Received] { receivedBox.withLock { $0 } }

    /// Starts listening on `host:port` (0: a free port).
    /// - Parameters:
    ///   - answer: the HTTP status to answer callback number n (0-based) with.
    ///   - decide: when given, a valid callback (not a cancel notice) is answered 200 only when
    ///     this says so, 404 otherwise — as the bridge's listener answers (`PaymentRunner.callbackReceived`).
    public static func start(
        secret: NetgiroSecret = .publicSandbox, host: String = "127.0.0.1", port: Int = 0,
        logger: Logger = Logger(label: "netgiro.callback-receiver"),
        answer: @escaping @Sendable (Int) -> Int = { _ in 200 },
        decide: (@Sendable (CartResponse) async -> Bool)? = nil
    ) async throws -> NetgiroCallbackReceiver {
        // Lock: appended by the request handlers, read by `callbacks` from any task.
        let box = Locked<[Received]>([])
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let authority = request.head.authority ?? "\(host):\(port)"
            let url = "http://\(authority)\(request.uri.string)"
            let headers = request.headers
            let verification = NetgiroCallback.verify(secret: secret, url: url, body: Array(buffer: body)) { name in
                headers.first { $0.name.canonicalName == name.lowercased() }?.value
            }
            let index = box.withLock { list -> Int in
                list.append(Received(url: url, verification: verification))
                return list.count - 1
            }
            guard case .valid(let cart) = verification else { return Response(status: .unauthorized) }
            if let decide, request.uri.path.hasSuffix("/netgiro/callback") {
                return Response(status: await decide(cart) ? .ok : .notFound)
            }
            return Response(status: .init(code: answer(index)))
        }
        let (portStream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: responder, configuration: .init(address: .hostname(host, port: port)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            }, logger: logger)
        // Unstructured: the server runs until shutdown(), long after start() returned.
        let task = Task {
            defer { continuation.finish() }
            try await app.run()
        }
        var iterator = portStream.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else {
            task.cancel()
            _ = try await task.value
            throw NetgiroSimulatorError.couldNotStart(host: host, port: port)
        }
        return NetgiroCallbackReceiver(origin: "http://\(host):\(bound)", serverTask: task, received: box)
    }

    public func shutdown() async {
        serverTask.cancel()
        _ = try? await serverTask.value
    }
}
