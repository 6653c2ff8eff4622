import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A client of the till API, over the unix socket (`http+unix://`) or TCP: what the `ngbridge`
/// commands (`pay`, `payment`, `cancel`, `terminals`) and the end-to-end tests use.
public final class TillAPIClient: Sendable {
    public let address: DaemonConfiguration.ListenAddress
    let token: String?
    let http: HTTPClient
    let timeout: TimeAmount

    public init(address: DaemonConfiguration.ListenAddress, token: String? = nil, timeout: Duration = .seconds(30)) {
        self.address = address
        self.token = token
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// An answer: its status, headers and body.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: Data

        public func decode<T: Decodable>(_ type: T.Type) throws -> T { try TillAPIJSON.decoder.decode(type, from: body) }

        /// The problem document, when the answer is one.
        public var problem: TillAPIProblem? {
            guard status >= 400 else { return nil }
            return try? TillAPIJSON.decoder.decode(TillAPIProblem.self, from: body)
        }
    }

    public func url(_ path: String) -> String {
        switch address {
        case .unix(let socket): return URL(httpURLWithSocketPath: socket, uri: path)!.absoluteString
        case .tcp(let host, let port):
            return "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)"
        }
    }

    public func request(
        _ method: HTTPMethod, _ path: String, body: Data? = nil, headers: [(String, String)] = [], authorize: Bool = true,
        contentType: String? = "application/json"
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url(path))
        request.method = method
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        }
        if authorize, let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await http.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(buffer: bytes))
    }

    // MARK: - Typed calls

    public func startPayment(_ payment: TillPaymentRequest, idempotencyKey: String? = nil) async throws -> Answer {
        try await request(
            .POST, "/v1/payments", body: try TillAPIJSON.encoder.encode(payment),
            headers: idempotencyKey.map { [("Idempotency-Key", $0)] } ?? [])
    }

    /// The Idempotency-Key `ngbridge pay` sends when none is given: the same for the same sale
    /// (reference, amount, attempt, deliberate repeat or not), so running the command again after
    /// a timeout or a lost connection joins the payment it started instead of starting a second
    /// one. Visible ASCII: the reference percent-encoded, shortened with a hash of it when it
    /// would not fit.
    public static func derivedIdempotencyKey(reference: String, amount: Int, attempt: Int = 1, repeat: Bool = false) -> String {
        let prefix = "ngbridge-pay:\(amount):\(attempt):" + (`repeat` ? "repeat:" : "")
        let plain = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        let escaped = reference.addingPercentEncoding(withAllowedCharacters: plain) ?? ""
        if prefix.utf8.count + escaped.utf8.count <= 255 { return prefix + escaped }
        // FNV-1a (64 bits) of the whole reference after a readable head: another reference with
        // the same key would be refused as a different request (422), never joined.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in reference.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let suffix = "~" + String(hash, radix: 16)
        let head = escaped.utf8.prefix(255 - prefix.utf8.count - suffix.utf8.count)
        return prefix + String(decoding: head, as: UTF8.self) + suffix
    }

    public func payment(_ id: String) async throws -> Answer {
        try await request(.GET, "/v1/payments/\(Self.escape(id))")
    }

    public func cancel(_ id: String) async throws -> Answer {
        try await request(.POST, "/v1/payments/\(Self.escape(id))/cancel")
    }

    public func terminals() async throws -> Answer {
        try await request(.GET, "/v1/terminals")
    }

    /// Follows a payment's server-sent events until the outcome (or the stream ends), calling
    /// `onEvent` for each. Returns the last event seen.
    @discardableResult
    public func followEvents(
        _ id: String, timeout: Duration = .seconds(600), onEvent: @Sendable (TillPaymentEvent) async -> Void
    ) async throws -> TillPaymentEvent? {
        var request = HTTPClientRequest(url: url("/v1/payments/\(Self.escape(id))/events"))
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await http.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        guard response.status == .ok else {
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let problem = try? TillAPIJSON.decoder.decode(TillAPIProblem.self, from: Data(buffer: bytes))
            throw TillAPIClientError.refused(status: Int(response.status.code), problem: problem)
        }
        var parser = ServerSentEventParser()
        var last: TillPaymentEvent?
        for try await chunk in response.body {
            for message in parser.feed(Array(chunk.readableBytesView)) {
                guard let data = message.data.data(using: .utf8),
                    let event = try? TillAPIJSON.decoder.decode(TillPaymentEvent.self, from: data)
                else { continue }
                last = event
                await onEvent(event)
                if event.kind == .outcome { return event }
            }
        }
        return last
    }

    public static func escape(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }
}

public enum TillAPIClientError: Error, CustomStringConvertible {
    case refused(status: Int, problem: TillAPIProblem?)

    public var description: String {
        switch self {
        case .refused(let status, let problem):
            return problem.map { "\($0.title): \($0.detail)" } ?? "the bridge answered HTTP \(status)"
        }
    }
}

/// Splits a `text/event-stream` into messages (WHATWG HTML §9.2: lines, `field: value`, a blank
/// line ends a message; `data` lines are joined with newlines; comments start with `:`).
struct ServerSentEventParser {
    struct Message: Equatable {
        var id: String?
        var event: String?
        var data: String
    }

    private var buffer: [UInt8] = []
    private var current = Message(id: nil, event: nil, data: "")
    private var hasData = false

    mutating func feed(_ bytes: [UInt8]) -> [Message] {
        buffer += bytes
        var messages: [Message] = []
        while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(buffer[..<newline])
            buffer.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty {
                if hasData { messages.append(current) }
                current = Message(id: nil, event: nil, data: "")
                hasData = false
                continue
            }
            if line.first == UInt8(ascii: ":") { continue }
            let text = String(decoding: line, as: UTF8.self)
            let field: Substring
            var value: Substring
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                value = text[text.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
            } else {
                field = Substring(text)
                value = ""
            }
            switch field {
            case "id": current.id = String(value)
            case "event": current.event = String(value)
            case "data":
                current.data += (hasData ? "\n" : "") + value
                hasData = true
            default: break
            }
        }
        return messages
    }
}
