import Foundation
import Testing
@testable import Bridge

/// What the OpenAPI document promises and property-based testing checks (Tests/schemathesis):
/// media types, duplicate keys, headers, methods, and finding and resolving payments.
@Suite struct TillAPIContractTests {
    func withAPI(_ body: (RunningTillAPI, ScriptedPaymentService) async throws -> Void) async throws {
        let scratch = try ScratchDirectory()
        let service = ScriptedPaymentService()
        let api = try await RunningTillAPI.start(service: service, scratch: scratch)
        do {
            try await body(api, service)
        } catch {
            try? await api.stop()
            throw error
        }
        try await api.stop()
    }

    @Test func aKeyGivenTwiceIsRefusedNotReadAsTheFirst() async throws {
        try await withAPI { api, service in
            let answer = try await api.client.request(
                .POST, "/v1/payments", body: Data(#"{"amount": 1000, "reference": "R-1", "amount": 2000}"#.utf8))
            #expect(answer.status == 400)
            #expect(answer.problem?.kind == "duplicate-key" && answer.problem?.field == "amount" && answer.problem?.rule == "no-duplicate-keys")
            let nested = try await api.client.request(
                .POST, "/v1/payments",
                body: Data(#"{"amount": 980, "reference": "R-1", "items": [{"name": "A", "unitPrice": 490, "quantity": 2, "n\u0061me": "B"}]}"#.utf8))
            #expect(nested.status == 400 && nested.problem?.field == "items[].name")
            #expect(await service.startCalls == 0)
        }
        // Keys of different objects may repeat.
        #expect(JSONDuplicateKeys.first(in: Data(#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": "a"}"#.utf8)) == nil)
        #expect(JSONDuplicateKeys.first(in: Data(#"{"a": "x\"a", "b": 1, "b": 2}"#.utf8)) == "b")
    }

    @Test func keysAreComparedAsJSONStringsWithOrWithoutEscapes() {
        #expect(JSONDuplicateKeys.first(in: Data(#"{"ké": 1, "k\u00e9": 2}"#.utf8)) == "ké")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"ké": 1, "kë": 2, "x": {"\"q": 1, "\"q": 2}}"#.utf8)) == "x.\"q")
    }

    @Test func aBodyIsReadAsTheJSONKindsItHolds() throws {
        let object = try TillAPIValidation.jsonObject(
            Data(#"{"s": "1", "i": 2, "d": 2.5, "b": true, "z": null, "o": {"a": [false, "x", 3, {}]}, "e": []}"#.utf8), example: "{}")
        #expect(object["s"] == .string("1"))
        #expect(object["i"] == .integer(2))
        #expect(object["d"] == .number(2.5))
        #expect(object["b"] == .bool(true))
        #expect(object["z"] == .null)
        #expect(object["o"] == .object(["a": .array([.bool(false), .string("x"), .integer(3), .object([:])])]))
        #expect(object["e"] == .array([]))
    }

    @Test func controlCharactersAreUnicodesCategoryCc() {
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            #expect(TillAPIValidation.isControl(scalar) == (scalar.properties.generalCategory == .control), "U+\(String(value, radix: 16))")
        }
    }

    @Test func datesAreWrittenAsFoundationsISO8601WouldWriteThem() throws {
        let reference = JSONEncoder()
        reference.dateEncodingStrategy = .iso8601
        var dates = [0, -1, 0.999, 951_782_400, 951_868_799.5, 1_700_000_000.25, 4_102_444_800, -2_208_988_800, 253_402_300_799]
            .map(Date.init(timeIntervalSince1970:))
        // Every day of four years around a leap year, at a second that moves through the day.
        for day in 0..<(4 * 366) { dates.append(Date(timeIntervalSince1970: 1_577_836_800 + Double(day) * 86_400 + Double(day * 59 % 86_400))) }
        for date in dates {
            let expected = String(decoding: try reference.encode([date]), as: UTF8.self)
            let actual = String(decoding: try TillAPIJSON.encoder.encode([date]), as: UTF8.self)
            #expect(actual == expected)
        }
    }

    @Test func aBodyThatIsNotSentAsJSONIs415() async throws {
        try await withAPI { api, service in
            var request = URLRequestLike(api)
            let plain = try await request.post("/v1/payments", body: #"{"amount": 4990, "reference": "R-1"}"#, contentType: "text/plain")
            #expect(plain.status == 415 && plain.problem?.field == "Content-Type" && plain.problem?.rule == "application/json")
            let none = try await request.post("/v1/payments", body: #"{"amount": 4990, "reference": "R-1"}"#, contentType: nil)
            #expect(none.status == 415)
            let withCharset = try await request.post("/v1/payments", body: #"{"amount": 4990, "reference": "R-1"}"#, contentType: "application/json; charset=utf-8")
            #expect(withCharset.status == 201)
            #expect(await service.startCalls == 1)
        }
    }

    @Test func lastEventIDMustBeAnEventID() async throws {
        try await withAPI { api, service in
            let payment = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "R"}"#.utf8)).decode(TillPayment.self)
            await service.advance(payment.id, to: .paid)
            for bad in ["{}", "-1", "1.5", "", "9999999999999999999999"] {
                let answer = try await api.client.request(.GET, "/v1/payments/\(payment.id)/events", headers: [("Last-Event-ID", bad)])
                #expect(answer.status == 400 && answer.problem?.field == "Last-Event-ID", "Last-Event-ID \(bad) → \(answer.status)")
            }
            let resumed = try await api.client.request(.GET, "/v1/payments/\(payment.id)/events", headers: [("Last-Event-ID", "2")])
            #expect(resumed.status == 200)
            #expect(!resumed.body.text.contains("id: 1\n") && !resumed.body.text.contains("id: 2\n") && resumed.body.text.contains("id: 3\n"))
        }
    }

    @Test func aMethodAPathDoesNotTakeIs405WithAllow() async throws {
        try await withAPI { api, _ in
            for (method, path, allow) in [
                ("TRACE", "/v1/payments", "POST, GET"), ("DELETE", "/v1/payments/p1", "GET"), ("PUT", "/v1/terminals", "GET"),
                ("TRACE", "/metrics", "GET"), ("GET", "/v1/payments/p1/cancel", "POST"),
            ] {
                let answer = try await api.client.request(.init(rawValue: method), path)
                #expect(answer.status == 405, "\(method) \(path)")
                #expect(answer.headers.first(name: "Allow") == allow, "\(method) \(path)")
                #expect(answer.problem?.kind == "method-not-allowed")
            }
            let nowhere = try await api.client.request(.TRACE, "/v2/nothing")
            #expect(nowhere.status == 404 && nowhere.headers.first(name: "Allow") == nil)
        }
    }

    @Test func paymentsAreFoundByFilterNewestFirstPageByPage() async throws {
        try await withAPI { api, service in
            var ids: [String] = []
            for n in 1...5 {
                let p = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": \#(n * 100), "reference": "R-\#(n % 2)"}"#.utf8))
                    .decode(TillPayment.self)
                await service.advance(p.id, to: n == 3 ? .unknown : .paid)
                ids.append(p.id)
            }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let path = "/v1/payments?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await api.client.request(.GET, path).decode(TillPaymentPage.self)
                #expect(page.payments.count <= 2)
                seen += page.payments.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == ids.reversed(), "every payment once, newest first")

            let filtered = try await api.client.request(
                .GET, "/v1/payments?state=unknown&reference=R-1&terminal=NGP-0001&from=2026-01-01T00:00:00Z&to=2099-01-01T00:00:00.5Z")
            #expect(filtered.status == 200)
            #expect(try filtered.decode(TillPaymentPage.self).payments.map(\.id) == [ids[2]])
            let query = try #require(await service.lastQuery)
            #expect(query.state == .unknown && query.reference == "R-1" && query.terminal == "NGP-0001" && query.from != nil && query.to != nil)
            // A range that ends before it starts is empty, not an error; any well-formed cursor is a place in the order.
            let empty = try await api.client.request(.GET, "/v1/payments?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
            #expect(empty.status == 200)
            #expect(try await api.client.request(.GET, "/v1/payments?cursor=0000-00-00T00:00:00.000~x").status == 200)
            #expect(TillPaymentCursor(token: "2026-12-04T10:00:00.123~ab-1") == TillPaymentCursor(createdAt: "2026-12-04 10:00:00.123", id: "ab-1"))

            for (path, field) in [
                ("/v1/payments?state=lost", "state"), ("/v1/payments?limit=0", "limit"), ("/v1/payments?limit=201", "limit"),
                ("/v1/payments?from=yesterday", "from"), ("/v1/payments?cursor=%21%21", "cursor"), ("/v1/payments?sort=asc", "sort"),
                ("/v1/payments?cursor=2026-01-01T00:00:00.000", "cursor"), ("/v1/payments?state=paid&state=unknown", "state"),
            ] {
                let answer = try await api.client.request(.GET, path)
                #expect(answer.status == 400 && answer.problem?.field == field, "\(path) → \(answer.status) \(answer.problem?.field ?? "-")")
            }
        }
    }

    @Test func staffResolveAnUnknownPaymentAndNothingElse() async throws {
        try await withAPI { api, service in
            let unknown = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "U"}"#.utf8)).decode(TillPayment.self)
            await service.advance(unknown.id, to: .unknown)
            let resolved = try await api.client.request(
                .POST, "/v1/payments/\(unknown.id)/resolution", body: Data(#"{"outcome": "paid", "transactionId": "b1f0c9e2-7d1c-4a36-9a43-0b1c2d3e4f50"}"#.utf8))
            #expect(resolved.status == 200, "\(resolved.body.text)")
            let payment = try resolved.decode(TillPayment.self)
            #expect(payment.state == .unknown && payment.resolution?.outcome == .paid)
            #expect(payment.resolution?.transactionId == "b1f0c9e2-7d1c-4a36-9a43-0b1c2d3e4f50")

            let paid = try await api.client.request(.POST, "/v1/payments", body: Data(#"{"amount": 100, "reference": "P"}"#.utf8)).decode(TillPayment.self)
            await service.advance(paid.id, to: .paid)
            let refused = try await api.client.request(.POST, "/v1/payments/\(paid.id)/resolution", body: Data(#"{"outcome": "not-paid"}"#.utf8))
            #expect(refused.status == 409 && refused.problem?.kind == "resolution-refused" && refused.problem?.payment?.state == .paid)

            for (body, field, rule) in [
                (#"{"outcome": "paid"}"#, "transactionId", "required-when-paid"),
                (#"{"outcome": "not-paid", "transactionId": "x"}"#, "transactionId", "only-when-paid"),
                (#"{"outcome": "maybe"}"#, "outcome", "one-of"),
                (#"{"outcome": "paid", "transactionId": "has space"}"#, "transactionId", "required-when-paid"),
                (#"{"outcome": "not-paid", "by": "anna"}"#, "by", "unknown-field"),
            ] {
                let answer = try await api.client.request(.POST, "/v1/payments/\(unknown.id)/resolution", body: Data(body.utf8))
                #expect(answer.status == 422 && answer.problem?.field == field && answer.problem?.rule == rule, "\(body) → \(answer.body.text)")
            }
            let missing = try await api.client.request(.POST, "/v1/payments/nope/resolution", body: Data(#"{"outcome": "not-paid"}"#.utf8))
            #expect(missing.status == 404)
        }
    }

    /// The document carries the rules the server applies, in a form a validator can use.
    @Test func documentStatesTheHeaderRulesAndAUsableEventSchema() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: OpenAPITests.documentPath))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let start = try #require(paths["/v1/payments"]?["post"] as? [String: Any])
        let key = try #require((start["parameters"] as? [[String: Any]])?.first { $0["name"] as? String == "Idempotency-Key" })
        #expect((key["schema"] as? [String: Any])?["pattern"] as? String == "^[!-~]+$")
        #expect((start["responses"] as? [String: Any])?["415"] != nil)
        let list = try #require(paths["/v1/payments"]?["get"] as? [String: Any])
        let cursor = try #require((list["parameters"] as? [[String: Any]])?.first { $0["name"] as? String == "cursor" })
        #expect((cursor["schema"] as? [String: Any])?["pattern"] as? String == TillPaymentCursor.pattern)
        let events = try #require(paths["/v1/payments/{id}/events"]?["get"] as? [String: Any])
        let ok = try #require((events["responses"] as? [String: Any])?["200"] as? [String: Any])
        let schema = try #require(((ok["content"] as? [String: Any])?["text/event-stream"] as? [String: Any])?["schema"] as? [String: Any])
        let dataField = try #require((schema["properties"] as? [String: Any])?["data"] as? [String: Any])
        #expect(dataField["contentMediaType"] as? String == "application/json")
        #expect((dataField["contentSchema"] as? [String: Any])?["$ref"] as? String == "#/components/schemas/PaymentEvent")
        // The server's SSE framing matches the message schema: id, event, data as JSON.
        let text = TillAPIServer.serverSentEvent(TillPaymentEvent(sequence: 3, kind: .state, state: .processing))
        #expect(text.hasPrefix("id: 3\nevent: state\ndata: {") && text.hasSuffix("}\n\n"))
        // Exactly the id, the event's kind, and the event as JSON on one line (its keys in no
        // set order: the event encoder does not sort them).
        let event = TillPaymentEvent(
            sequence: 12, kind: .outcome, state: .paid, at: Date(timeIntervalSince1970: 1_796_000_000))
        let framed = TillAPIServer.serverSentEvent(event)
        let head = "id: 12\nevent: outcome\ndata: "
        #expect(framed.hasPrefix(head) && framed.hasSuffix("}\n\n"))
        let json = framed.dropFirst(head.count).dropLast(2)
        #expect(!json.contains("\n"))
        #expect(try TillAPIJSON.decoder.decode(TillPaymentEvent.self, from: Data(json.utf8)) == event)
        let sorted = String(decoding: try TillAPIJSON.encoder.encode(event), as: UTF8.self)
        #expect(json.count == sorted.count, "the same JSON but for the order of its keys")
    }
}

/// A day's reconciliation from the payments the API lists.
@Suite struct DayReportTests {
    @Test func unknownFirstThenTotalsThenPaidForTheBooks() throws {
        let zone = try #require(TimeZone(identifier: "Atlantic/Reykjavik"))
        let (from, to) = try #require(DayReport.day("2026-12-04", in: zone))
        #expect(DayReport.day("2026-02-30", in: zone) == nil && DayReport.day("4.12.2026", in: zone) == nil)
        func payment(_ id: String, _ state: TillPaymentState, _ amount: Int, terminal: String = "NGP-1", minute: Double, resolution: TillResolution? = nil) -> TillPayment {
            TillPayment(
                id: id, state: state, amount: amount, reference: "=R-\(id)", confirmation: .manual, terminal: terminal,
                createdAt: from.addingTimeInterval(minute * 60), updatedAt: from.addingTimeInterval(minute * 60),
                transactionId: state == .paid ? "T-\(id)" : nil, invoiceNumber: state == .paid ? "10\(id)" : nil, resolution: resolution)
        }
        let payments = [
            payment("1", .paid, 1000, minute: 600),
            payment("2", .unknown, 2500, minute: 610),
            payment("3", .paid, 500, terminal: "NGP-2", minute: 620),
            payment("4", .cancelled, 700, minute: 630),
            payment("5", .unknown, 900, minute: 640, resolution: TillResolution(outcome: .paid, transactionId: "T-5", resolvedAt: to)),
            payment("6", .paid, 300, minute: 650),
        ]
        let report = DayReport(date: "2026-12-04", timeZone: zone, from: from, to: to, payments: payments.reversed())
        #expect(report.toCheck.map(\.payment) == ["2"])
        #expect(report.toCheck[0].check.contains("reference =R-2") && report.toCheck[0].check.contains("2500 ISK") && report.toCheck[0].check.contains("10:10"))
        #expect(report.toCheck[0].check.contains("ngbridge payment 2 resolve --paid TRANSACTION_ID"))
        #expect(report.totals.map { "\($0.outcome.rawValue) \($0.terminal) \($0.count) \($0.amount)" } == [
            "paid NGP-1 2 1300", "paid NGP-2 1 500", "cancelled NGP-1 1 700", "unknown NGP-1 1 2500", "resolved-paid NGP-1 1 900",
        ])
        #expect(report.paid.map(\.payment) == ["1", "3", "5", "6"])
        #expect(report.paid.first?.transactionId == "T-1" && report.paid.first?.invoiceNumber == "101")
        #expect(report.paid.first { $0.payment == "5" }?.resolvedByStaff == true)
        #expect(report.paidAmount == 2700)

        let csv = report.csv().components(separatedBy: "\r\n")
        #expect(csv[0] == "section,outcome,terminal,count,amount,payment,reference,created,transactionId,invoiceNumber,check")
        #expect(csv[1].hasPrefix("to-check,unknown,NGP-1,1,2500,2,'=R-2,"), "a spreadsheet must not run a reference as a formula")
        #expect(csv.filter { $0.hasPrefix("total,") }.count == 5 && csv.filter { $0.hasPrefix("paid,") }.count == 4)
    }
}

/// Requests with a chosen Content-Type (TillAPIClient always sends application/json with a body).
struct URLRequestLike {
    let api: RunningTillAPI
    init(_ api: RunningTillAPI) { self.api = api }

    mutating func post(_ path: String, body: String, contentType: String?) async throws -> TillAPIClient.Answer {
        try await api.client.request(.POST, path, body: Data(body.utf8), headers: [], contentType: contentType)
    }
}
