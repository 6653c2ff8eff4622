import AsyncHTTPClient
import Bridge
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// The example till's web server for `ngbridge demo --till-page`: on loopback only, it serves
/// the page (``TillPage/html``) at `/` and passes every till API request (`/v1/…`, `/healthz`)
/// through to the bridge's till API on its unix socket, unchanged and streamed (so the page's
/// server-sent events arrive as they happen). The page and the API then share one origin, and
/// the browser needs no token: the unix socket's file mode is the door, as for a local till.
struct TillPageServer: Sendable {
    let host: String
    let port: Int
    let api: DaemonConfiguration.ListenAddress
    let http: HTTPClient
    let logger: Logger

    static let passedRequestHeaders = ["content-type", "idempotency-key", "last-event-id", "accept"]
    static let droppedResponseHeaders: Set<String> = ["content-length", "transfer-encoding", "connection", "keep-alive"]

    func application(onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.get("/") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: TillPage.html)))
        }
        router.add(middleware: TillPagePassThrough(server: self))
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "ngbridge-till-page"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    func url(_ pathAndQuery: String) -> String {
        switch api {
        case .unix(let socket): return URL(httpURLWithSocketPath: socket, uri: pathAndQuery)!.absoluteString
        case .tcp(let host, let port): return "http://\(host):\(port)\(pathAndQuery)"
        }
    }

    /// One request through to the till API; the answer streamed back as it comes.
    func forward(_ request: Request) async throws -> Response {
        var outgoing = HTTPClientRequest(url: url(request.uri.description))
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        for name in Self.passedRequestHeaders {
            if let field = HTTPField.Name(name), let value = request.headers[field] { outgoing.headers.add(name: name, value: value) }
        }
        if request.method == .post {
            var request = request
            let body = try await request.collectBody(upTo: 256 * 1024)
            outgoing.body = .bytes(body)
        }
        let answer: HTTPClientResponse
        do {
            // Event streams stay open until the payment's outcome: no short deadline here.
            answer = try await http.execute(outgoing, timeout: .hours(1))
        } catch {
            let problem = #"{"type":"about:blank","title":"Bridge unreachable","status":502,"detail":"the demo's till page cannot reach the bridge's till API: \#(error)"}"#
            var headers = HTTPFields()
            headers[.contentType] = "application/problem+json"
            return Response(status: .badGateway, headers: headers, body: .init(byteBuffer: ByteBuffer(string: problem)))
        }
        var headers = HTTPFields()
        for header in answer.headers where !Self.droppedResponseHeaders.contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        let body = answer.body
        return Response(
            status: HTTPResponse.Status(code: Int(answer.status.code)), headers: headers,
            body: ResponseBody { writer in
                for try await chunk in body { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
    }
}

/// Every request but the page itself goes to the till API.
struct TillPagePassThrough: RouterMiddleware {
    typealias Context = BasicRequestContext
    let server: TillPageServer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path == "/" { return try await next(request, context) }
        return try await server.forward(request)
    }
}
