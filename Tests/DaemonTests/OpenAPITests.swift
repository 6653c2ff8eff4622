import Foundation
import Testing
@testable import Bridge

/// `openapi/till-api.json` and the server agree: the same (method, path) pairs, every documented
/// route is answered by a handler (not the router's "no such route"), and the documented
/// states and confirmation types are the code's.
@Suite struct OpenAPITests {
    static let documentPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("openapi/till-api.json").path

    func document() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.documentPath))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func documentedRoutes() throws -> Set<String> {
        let paths = try #require(try document()["paths"] as? [String: Any])
        var routes = Set<String>()
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any])
            for method in operations.keys where ["get", "post", "put", "delete", "patch"].contains(method) {
                routes.insert("\(method.uppercased()) \(path)")
            }
        }
        return routes
    }

    @Test func documentListsExactlyTheServersRoutes() throws {
        let served = Set(TillAPIServer.routes.map { "\($0.method) \($0.path)" })
        #expect(try documentedRoutes() == served)
    }

    @Test func everyDocumentedRouteIsAnsweredByAHandler() async throws {
        let scratch = try ScratchDirectory()
        let service = ScriptedPaymentService()
        let api = try await RunningTillAPI.start(service: service, scratch: scratch)
        do {
            let payment = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "R"}"#.utf8))
                .decode(TillPayment.self)
            await service.advance(payment.id, to: .paid)  // so the event stream ends at once
            for route in try documentedRoutes().sorted() {
                let parts = route.split(separator: " ")
                let path = String(parts[1]).replacingOccurrences(of: "{id}", with: payment.id)
                let body: Data? = parts[0] == "POST" && path == "/v1/payments" ? Data(#"{"amount": 200, "reference": "S"}"#.utf8) : nil
                let answer = try await api.client.request(.init(rawValue: String(parts[0])), path, body: body)
                let isNoSuchRoute = answer.status == 404 && answer.problem?.detail.contains("no such route") == true
                #expect(!isNoSuchRoute && answer.status != 405, "\(route) → \(answer.status)")
            }
            // And a route that is not documented is not served.
            let undocumented = try await api.client.request(.DELETE, "/v1/payments/\(payment.id)")
            #expect(undocumented.status == 404 || undocumented.status == 405)
        } catch {
            try? await api.stop()
            throw error
        }
        try await api.stop()
    }

    @Test func documentedEnumsMatchTheCode() throws {
        let schemas = try #require((try document()["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let states = try #require((schemas["State"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(states) == Set(TillPaymentState.allCases.map(\.rawValue)))
        let request = try #require((schemas["PaymentRequest"] as? [String: Any])?["properties"] as? [String: Any])
        let confirmation = try #require((request["confirmation"] as? [String: Any])?["enum"] as? [String])
        #expect(Set(confirmation) == Set(TillConfirmation.allCases.map(\.rawValue)))
        #expect(Set(request.keys) == ["amount", "reference", "description", "items", "confirmation", "terminal", "repeat"])
    }
}
