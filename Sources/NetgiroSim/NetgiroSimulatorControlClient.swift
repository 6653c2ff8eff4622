import AsyncHTTPClient
import Foundation
import NIOCore
import NetgiroModels

/// Talks to a running simulator's `/_sim/` control endpoints (and can send raw requests to its
/// API, for tests of malformed requests over real HTTP).
public final class NetgiroSimulatorControlClient: Sendable {
    public let origin: String
    private let http: HTTPClient

    /// - Parameter origin: `http://HOST:PORT` of the simulator.
    public init(origin: String) {
        self.origin = origin.hasSuffix("/") ? String(origin.dropLast()) : origin
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
    }

    public func shutdown() async throws { try await http.shutdown() }

    public struct RawResponse: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends any request, as given, to the simulator.
    public func send(
        method: String = "POST", path: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> RawResponse {
        var request = HTTPClientRequest(url: origin + path)
        request.method = .init(rawValue: method)
        for h in headers { request.headers.add(name: h.name, value: h.value) }
        if !body.isEmpty { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await http.execute(request, timeout: TimeAmount(timeout))
        var buffer = try await response.body.collect(upTo: 4 << 20)
        return RawResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    public func ledger() async throws -> [NetgiroSimLedgerEntry] {
        let r = try await send(method: "GET", path: "/_sim/ledger")
        return try JSONDecoder().decode([NetgiroSimLedgerEntry].self, from: Data(r.body))
    }

    public func smsCode(for transactionId: String) async throws -> String? {
        struct Code: Decodable { var code: String }
        let r = try await send(method: "GET", path: "/_sim/carts/\(transactionId)/sms-code")
        guard r.status == 200 else { return nil }
        return try JSONDecoder().decode(Code.self, from: Data(r.body)).code
    }

    /// The GSM customer accepts or declines now. Returns the HTTP status (200, 404, 409).
    @discardableResult
    public func customerDecides(transactionId: String, accept: Bool) async throws -> Int {
        try await send(path: "/_sim/carts/\(transactionId)/\(accept ? "accept" : "decline")").status
    }

    public func setFaults(_ p: NetgiroFaultProbabilities) async throws {
        _ = try await send(
            path: "/_sim/faults", headers: [("Content-Type", "application/json")], body: Array(try JSONEncoder().encode(p)))
    }

    public func injectNext(_ fault: NetgiroFault, on call: NetgiroCall? = nil) async throws {
        let callPart = call.map { #","call":"\#($0.rawValue)""# } ?? ""
        _ = try await send(
            path: "/_sim/faults/next", headers: [("Content-Type", "application/json")],
            body: Array(#"{"fault":"\#(fault.rawValue)"\#(callPart)}"#.utf8))
    }
}
