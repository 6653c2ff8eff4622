import Foundation
import Testing
@testable import Bridge

/// The till API over its real transport (a unix socket; loopback TCP for the token rules), with
/// a scripted payment service behind it.
@Suite struct TillAPITests {
    static let body = #"{"amount": 4990, "reference": "R-1", "description": "Kaffi og kleina"}"#

    func withAPI(
        token: String? = nil, tcp: Bool = false, configure: (inout TillAPIServer.Options) -> Void = { _ in },
        _ body: (RunningTillAPI, ScriptedPaymentService) async throws -> Void
    ) async throws {
        let scratch = try ScratchDirectory()
        let service = ScriptedPaymentService()
        let api = try await RunningTillAPI.start(
            service: service, scratch: scratch, listen: tcp ? .tcp(host: "127.0.0.1", port: 0) : nil, token: token,
            configure: configure)
        do {
            try await body(api, service)
        } catch {
            try? await api.stop()
            throw error
        }
        try await api.stop()
    }

    @Test func createGetAndFollowAPaymentToPaid() async throws {
        try await withAPI { api, service in
            let created = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8))
            #expect(created.status == 201)
            let payment = try created.decode(TillPayment.self)
            #expect(payment.amount == 4990 && payment.reference == "R-1" && payment.confirmation == .manual)
            #expect(payment.terminal == "NGP-0001" && payment.state == .created && !payment.final)
            #expect(created.headers.first(name: "Location") == "/v1/payments/\(payment.id)")

            let fetched = try await api.client.payment(payment.id)
            #expect(fetched.status == 200)
            #expect(try fetched.decode(TillPayment.self).id == payment.id)

            // Follow the events while the script moves the payment on.
            let events = Events()
            let follower = Task { try await api.client.followEvents(payment.id) { await events.add($0) } }
            await service.prompt(payment.id, "customer-id")
            await service.advance(payment.id, to: .processing)
            await service.advance(payment.id, to: .paid, transactionId: "T-77", invoiceNumber: "INV-9")
            let last = try await follower.value
            #expect(last?.kind == .outcome)
            #expect(last?.payment?.state == .paid)
            #expect(last?.payment?.transactionId == "T-77" && last?.payment?.invoiceNumber == "INV-9")
            let seen = await events.all
            #expect(seen.map(\.sequence) == Array(1...seen.count), "every event, in order, none twice")
            #expect(seen.contains { $0.kind == .prompt && $0.prompt == "customer-id" })
            #expect(seen.compactMap(\.state) == [.created, .processing, .paid, .paid])

            // A stream opened after the outcome replays it and ends.
            let replay = try await api.client.followEvents(payment.id) { _ in }
            #expect(replay?.kind == .outcome)
        }
    }

    /// While nothing happens, the event stream carries keep-alive comments, between the events
    /// and in their order, and it still ends with the outcome.
    @Test func quietEventStreamsCarryKeepAlives() async throws {
        try await withAPI(configure: { $0.keepAlive = .milliseconds(20) }) { api, service in
            let created = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8))
            let payment = try created.decode(TillPayment.self)
            let reader = Task { try await api.client.request(.GET, "/v1/payments/\(payment.id)/events", headers: [("Accept", "text/event-stream")]) }
            while await service.listeners(payment.id) == 0 { try await Task.sleep(for: .milliseconds(5)) }
            try await Task.sleep(for: .milliseconds(200))
            await service.advance(payment.id, to: .processing)
            try await Task.sleep(for: .milliseconds(200))
            await service.advance(payment.id, to: .paid, transactionId: "T-77", invoiceNumber: "INV-9")
            let answer = try await reader.value
            #expect(answer.status == 200)
            let text = answer.body.text
            let created1 = try #require(text.range(of: "id: 1\nevent: state\n"))
            let processing = try #require(text.range(of: "id: 2\nevent: state\n"))
            let outcome = try #require(text.range(of: "event: outcome\n"))
            // Ticks while the payment waited, before and after its second event; none after the outcome.
            #expect(text[created1.upperBound..<processing.lowerBound].contains(": keep-alive\n\n"))
            #expect(text[processing.upperBound..<outcome.lowerBound].contains(": keep-alive\n\n"))
            #expect(!text[outcome.upperBound...].contains("keep-alive"))
            #expect(text.hasSuffix("\n\n"))
        }
    }

    @Test func sameIdempotencyKeyGivesTheSamePaymentAndADifferentBodyIsRefused() async throws {
        try await withAPI { api, service in
            let key = [("Idempotency-Key", "till-7-sale-1")]
            let first = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8), headers: key)
            let again = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8), headers: key)
            #expect(first.status == 201 && again.status == 201)
            let firstID = try first.decode(TillPayment.self).id
            let againID = try again.decode(TillPayment.self).id
            #expect(firstID == againID)
            #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
            #expect(await service.startCalls == 1)

            let other = #"{"amount": 5990, "reference": "R-1"}"#
            let reused = try await api.client.request(.POST, "/v1/payments", body: Data(other.utf8), headers: key)
            #expect(reused.status == 422)
            #expect(reused.problem?.kind == "idempotency-key-reused")
            #expect(reused.problem?.field == "Idempotency-Key")
            #expect(await service.startCalls == 1)

            let badKey = try await api.client.request(
                .POST, "/v1/payments", body: Data(Self.body.utf8), headers: [("Idempotency-Key", "has space")])
            #expect(badKey.status == 400 && badKey.problem?.field == "Idempotency-Key")
        }
    }

    @Test(arguments: [
        (#"{"reference": "R-1"}"#, "amount", "required"),
        (#"{"amount": "4990", "reference": "R-1"}"#, "amount", "integer"),
        (#"{"amount": 49.9, "reference": "R-1"}"#, "amount", "integer"),
        (#"{"amount": true, "reference": "R-1"}"#, "amount", "integer"),
        (#"{"amount": 0, "reference": "R-1"}"#, "amount", "positive"),
        // Netgíró's smallest payment is 100 ISK: below it the customer would be asked for nothing.
        (#"{"amount": 99, "reference": "R-1"}"#, "amount", "minimum 100"),
        (#"{"amount": 1, "reference": "R-1"}"#, "amount", "minimum 100"),
        (#"{"amount": 4990, "reference": "R-1", "repeat": "yes"}"#, "repeat", "boolean"),
        (#"{"amount": 4990}"#, "reference", "required"),
        (#"{"amount": 4990, "reference": "  "}"#, "reference", "non-empty"),
        (#"{"amount": 4990, "reference": 7}"#, "reference", "string"),
        (#"{"amount": 4990, "reference": "R-1", "confirmation": "later"}"#, "confirmation", "one-of"),
        (#"{"ammount": 4990, "reference": "R-1"}"#, "ammount", "unknown-field"),
        (#"{"amount": 4990, "reference": "R-1", "items": {}}"#, "items", "array"),
        (#"{"amount": 4990, "reference": "R-1", "items": [{"name": "Kaffi", "unitPrice": 490, "quantity": 0}]}"#, "items[0].quantity", "positive"),
        (#"{"amount": 4990, "reference": "R-1", "items": [{"unitPrice": 490, "quantity": 1}]}"#, "items[0].name", "required"),
        (#"{"amount": 1000, "reference": "R-1", "items": [{"name": "Kleina", "unitPrice": 300, "quantity": 2}]}"#, "items", "sum-equals-amount"),
        // One character of 65 code points: lengths count code points, as the OpenAPI document does.
        (#"{"amount": 4990, "reference": "R"# + String(repeating: "\u{301}", count: 64) + #""}"#, "reference", "max-length"),
        (#"{"amount": 4990, "reference": "R-1", "terminal": "NGP-9"}"#, "terminal", "known-terminal"),
        // Optional fields are left out, never null; a terminal is named or left out, never "".
        (#"{"amount": 4990, "reference": "R-1", "terminal": null}"#, "terminal", "not-null"),
        (#"{"amount": 4990, "reference": "R-1", "terminal": ""}"#, "terminal", "non-empty"),
        (#"{"amount": 4990, "reference": "R-1", "description": null}"#, "description", "not-null"),
        (#"{"amount": 4990, "reference": "R-1", "items": null}"#, "items", "not-null"),
        (#"{"amount": 4990, "reference": "\u2028"}"#, "reference", "non-empty"),
    ])
    func badBodiesAreAnsweredWithAProblemNamingTheFieldAndRule(_ body: String, _ field: String, _ rule: String) async throws {
        try await withAPI { api, service in
            let answer = try await api.client.request(.POST, "/v1/payments", body: Data(body.utf8))
            #expect(answer.status == 422, "\(answer.body.text)")
            #expect(answer.headers.first(name: "Content-Type") == "application/problem+json")
            let problem = try #require(answer.problem)
            #expect(problem.field == field)
            #expect(problem.rule?.hasPrefix(rule) == true, "rule \(problem.rule ?? "nil")")
            #expect(problem.statusCode == 422 && !problem.detail.isEmpty && problem.type.hasSuffix("/" + problem.kind))
            #expect(await service.startCalls == (rule == "known-terminal" ? 1 : 0))
        }
    }

    @Test func malformedAndOversizedBodiesAndUnknownRoutesAreProblems() async throws {
        try await withAPI(configure: { $0.maxBodyBytes = 2048 }) { api, _ in
            let notJSON = try await api.client.request(.POST, "/v1/payments", body: Data("amount=4990".utf8))
            #expect(notJSON.status == 400 && notJSON.problem?.kind == "malformed-body")
            let array = try await api.client.request(.POST, "/v1/payments", body: Data("[1]".utf8))
            #expect(array.status == 400 && array.problem?.kind == "malformed-body")

            let huge = #"{"amount": 4990, "reference": "R-1", "description": ""# + String(repeating: "x", count: 4096) + #""}"#
            let tooLarge = try await api.client.request(.POST, "/v1/payments", body: Data(huge.utf8))
            #expect(tooLarge.status == 413 && tooLarge.problem?.field == "body")

            let missing = try await api.client.request(.GET, "/v1/payments/pay_404")
            #expect(missing.status == 404 && missing.problem?.kind == "not-found")
            let noRoute = try await api.client.request(.GET, "/v2/whatever")
            #expect(noRoute.status == 404 && noRoute.problem != nil)
        }
    }

    @Test func cancelAskedThenCancelledThenRefusedOnAFinalPayment() async throws {
        try await withAPI { api, service in
            let payment = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8)).decode(TillPayment.self)
            let asked = try await api.client.cancel(payment.id)
            #expect(asked.status == 202)
            #expect(try asked.decode(TillPayment.self).state == .cancelRequested)
            await service.advance(payment.id, to: .cancelled)
            let again = try await api.client.cancel(payment.id)
            let againState = try again.decode(TillPayment.self).state
            #expect(again.status == 200 && againState == .cancelled)

            let second = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "R-2"}"#.utf8))
            let paid = try second.decode(TillPayment.self)
            await service.advance(paid.id, to: .paid, transactionId: "T-1", invoiceNumber: "1")
            let late = try await api.client.cancel(paid.id)
            #expect(late.status == 409 && late.problem?.kind == "payment-final" && late.problem?.payment?.state == .paid)
        }
    }

    @Test func busyTerminalIsAConflict() async throws {
        try await withAPI { api, _ in
            _ = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8))
            let busy = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "R-2"}"#.utf8))
            #expect(busy.status == 409 && busy.problem?.kind == "terminal-busy" && busy.problem?.field == "terminal")
        }
    }

    @Test func terminalsHealthAndMetrics() async throws {
        try await withAPI { api, service in
            let terminals = try await api.client.terminals()
            #expect(terminals.status == 200)
            #expect(terminals.body.text.contains("NGP-0001"))

            #expect(try await api.client.request(.GET, "/healthz").status == 200)
            await service.setNotReady("no terminal connected")
            let unhealthy = try await api.client.request(.GET, "/healthz")
            #expect(unhealthy.status == 503 && unhealthy.body.text.contains("no terminal connected"))

            _ = try await api.client.request(.POST, "/v1/payments", body: Data(Self.body.utf8))
            let metrics = try await api.client.request(.GET, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.text.contains("ngbridge_payments_started_total 1"))
            #expect(metrics.body.text.contains(#"ngbridge_http_requests_total{method="POST",route="/v1/payments",status="201"} 1"#))
        }
    }

    @Test func unixSocketHasMode0660() async throws {
        try await withAPI { api, _ in
            guard case .unix(let path) = api.address else { Issue.record("not a unix socket"); return }
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o660)
        }
    }

    @Test func tcpNeedsTheBearerToken() async throws {
        let token = "0123456789abcdef0123"
        let scratch = try ScratchDirectory()
        let service = ScriptedPaymentService()
        let api = try await RunningTillAPI.start(service: service, scratch: scratch, listen: .tcp(host: "127.0.0.1", port: 0), token: token)
        do {
            let client = api.client
            let without = try await client.request(.GET, "/v1/terminals", authorize: false)
            #expect(without.status == 401 && without.problem?.kind == "unauthorized" && without.problem?.field == "Authorization")
            #expect(without.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            let wrong = try await client.request(.GET, "/v1/terminals", headers: [("Authorization", "Bearer nope")], authorize: false)
            #expect(wrong.status == 401)
            let create = try await client.request(.POST, "/v1/payments", body: Data(Self.body.utf8), authorize: false)
            #expect(create.status == 401)
            #expect(await service.startCalls == 0)
            #expect(try await client.request(.GET, "/v1/terminals").status == 200)
            #expect(try await client.request(.GET, "/metrics", authorize: false).status == 401)
            #expect(try await client.request(.GET, "/healthz", authorize: false).status == 200, "liveness probes need no token")
        } catch {
            try? await api.stop()
            throw error
        }
        try await api.stop()
    }
}

actor Events {
    private(set) var all: [TillPaymentEvent] = []
    func add(_ event: TillPaymentEvent) { all.append(event) }
}
