import Foundation
@testable import NetgiroAPI
import PinpadProtocol
import Testing

@testable import Bridge

/// `/metrics` as a fleet's Prometheus reads it.
@Suite(.timeLimit(.minutes(2))) struct MetricsTests {
    /// One sample line of the text format: `name{labels} value`.
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    struct Exposition {
        var help: [String: String] = [:]
        var type: [String: String] = [:]
        var samples: [Sample] = []
        /// Family names in the order their first line appears, with the line kind.
        var order: [(String, String)] = []

        init(_ text: String) {
            for line in text.split(separator: "\n").map(String.init) {
                if line.hasPrefix("# HELP ") {
                    let rest = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                    help[rest[0]] = rest.count > 1 ? rest[1] : ""
                    order.append((rest[0], "HELP"))
                } else if line.hasPrefix("# TYPE ") {
                    let rest = line.dropFirst(7).split(separator: " ").map(String.init)
                    type[rest[0]] = rest[1]
                    order.append((rest[0], "TYPE"))
                } else if !line.isEmpty, !line.hasPrefix("#") {
                    let (series, value) = (line[..<line.lastIndex(of: " ")!], line[line.index(after: line.lastIndex(of: " ")!)...])
                    var labels: [String: String] = [:]
                    var name = String(series)
                    if let brace = series.firstIndex(of: "{") {
                        name = String(series[..<brace])
                        let body = series[series.index(after: brace)..<series.index(before: series.endIndex)]
                        for pair in body.split(separator: ",") {
                            let kv = pair.split(separator: "=", maxSplits: 1)
                            labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                        }
                    }
                    samples.append(Sample(name: name, labels: labels, value: Double(value) ?? .nan))
                }
            }
        }

        func family(of sample: String) -> String {
            for suffix in ["_bucket", "_sum", "_count"] where sample.hasSuffix(suffix) && type[sample] == nil {
                let base = String(sample.dropLast(suffix.count))
                if type[base] == "histogram" { return base }
            }
            return sample
        }

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { k, v in sample.labels[k] == v } }?.value
        }
    }

    @Test func scrapeAfterOnePaymentHasHelpAndTypeOnEveryFamilyAndTheLatencySeries() async throws {
        let before = Date().timeIntervalSince1970.rounded(.down)
        let customer = ScriptedCustomer(terminalID: "NGP-0001", entries: [.entered(EndToEndTests.phone)])
        let bridge = try await BridgeUnderTest.start(customers: [customer])
        do {
            try await scrapeAfterOnePayment(bridge, startedAfter: before)
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }

    func scrapeAfterOnePayment(_ bridge: BridgeUnderTest, startedAfter before: Double) async throws {
        let payment = try await bridge.pay(#"{"amount": 4990, "reference": "R-M1"}"#)
        let last = try await bridge.api.client.followEvents(payment.id) { _ in }
        #expect(last?.payment?.state == .paid)

        let answer = try await bridge.api.client.request(.GET, "/metrics")
        #expect(answer.status == 200)
        let text = answer.body.text
        let metrics = Exposition(text)

        // Every family: HELP (the text the bridge documents), then TYPE; every sample belongs to one.
        #expect(!metrics.type.isEmpty)
        for (name, kind) in metrics.type {
            #expect(metrics.help[name] == TillAPIMetrics.families[name], "HELP of \(name)")
            #expect(["counter", "gauge", "histogram"].contains(kind), "TYPE of \(name)")
            if name.hasSuffix("_total") { #expect(kind == "counter", "\(name) ends in _total") }
            if name.hasSuffix("_seconds") && kind == "histogram" { #expect(name.contains("duration")) }
        }
        for (i, entry) in metrics.order.enumerated() where entry.1 == "TYPE" {
            #expect(i > 0 && metrics.order[i - 1] == (entry.0, "HELP") as (String, String), "HELP right before TYPE of \(entry.0)")
        }
        for sample in metrics.samples {
            #expect(metrics.type[metrics.family(of: sample.name)] != nil, "\(sample.name) has no TYPE")
            #expect(sample.value.isFinite, "\(sample.name) value")
        }

        // Start time and version.
        #expect(metrics.value("ngbridge_build_info", ["version": BridgeVersion.current]) == 1)
        let started = try #require(metrics.value("ngbridge_start_time_seconds"))
        #expect(started >= before - 1 && started <= Date().timeIntervalSince1970 + 1)

        // Till request latency: the one POST and the event stream's GET, each counted once.
        #expect(metrics.type["ngbridge_http_request_duration_seconds"] == "histogram")
        #expect(metrics.value("ngbridge_http_request_duration_seconds_count", ["method": "POST", "route": "/v1/payments"]) == 1)
        #expect(metrics.value("ngbridge_http_request_duration_seconds_bucket", ["method": "POST", "route": "/v1/payments", "le": "+Inf"]) == 1)
        #expect(metrics.value("ngbridge_http_requests_total", ["method": "POST", "route": "/v1/payments", "status": "201"]) == 1)

        // Netgíró latency by operation and result code: one InsertCart answered with a result code,
        // at least one CheckCart, all within the call limits.
        let netgiro = metrics.samples.filter { $0.name == "ngbridge_netgiro_request_duration_seconds_count" }
        let insert = netgiro.filter { $0.labels["operation"] == "InsertCart" }
        #expect(insert.map(\.value).reduce(0, +) == 1)
        #expect(insert.allSatisfy { Int($0.labels["result"] ?? "") != nil }, "InsertCart result is Netgíró's code: \(insert.map(\.labels))")
        #expect(netgiro.contains { $0.labels["operation"] == "CheckCart" || $0.labels["operation"] == "ConfirmCart" })
        let netgiroSum = metrics.samples.filter { $0.name == "ngbridge_netgiro_request_duration_seconds_sum" }.map(\.value).reduce(0, +)
        #expect(netgiroSum > 0 && netgiroSum < 60)

        // Payment duration by outcome: one paid payment, between zero and the test's time limit.
        #expect(metrics.value("ngbridge_payment_duration_seconds_count", ["outcome": "paid"]) == 1)
        let took = try #require(metrics.value("ngbridge_payment_duration_seconds_sum", ["outcome": "paid"]))
        #expect(took >= 0 && took < 120)
        #expect(metrics.value("ngbridge_payments_finished_total", ["state": "paid"]) == 1)
        #expect(metrics.value("ngbridge_payments_started_total") == 1)
    }

    /// Request and Netgíró metrics are kept by their labels after the first use: the same labels
    /// keep counting into the same series, other labels get their own.
    @Test func requestAndNetgiroSeriesCountOnByTheirLabels() async throws {
        let metrics = TillAPIMetrics()
        for _ in 0..<3 { metrics.countRequest(method: "POST", route: "/v1/payments", status: 201, duration: .milliseconds(3)) }
        metrics.countRequest(method: "POST", route: "/v1/payments", status: 409, duration: .milliseconds(1))
        metrics.countRequest(method: "GET", route: "unmatched", status: 404)
        for result in ["10000", "10000", "http_500"] {
            metrics.recordNetgiro(NetgiroExchange(operation: "InsertCart", result: result, duration: .milliseconds(20)))
        }
        let text = Exposition(String(decoding: await metrics.scrape(), as: UTF8.self))
        #expect(text.value("ngbridge_http_requests_total", ["method": "POST", "route": "/v1/payments", "status": "201"]) == 3)
        #expect(text.value("ngbridge_http_requests_total", ["method": "POST", "route": "/v1/payments", "status": "409"]) == 1)
        #expect(text.value("ngbridge_http_requests_total", ["method": "GET", "route": "unmatched", "status": "404"]) == 1)
        #expect(text.value("ngbridge_http_request_duration_seconds_count", ["method": "POST", "route": "/v1/payments"]) == 4)
        #expect(text.value("ngbridge_http_request_duration_seconds_count", ["method": "GET", "route": "unmatched"]) == nil)
        #expect(text.value("ngbridge_netgiro_request_duration_seconds_count", ["operation": "InsertCart", "result": "10000"]) == 2)
        #expect(text.value("ngbridge_netgiro_request_duration_seconds_count", ["operation": "InsertCart", "result": "http_500"]) == 1)
    }

    @Test func linkStateAndErrorsPerTerminalGrowByWhatIsNewAtEachScrape() async throws {
        let metrics = TillAPIMetrics()
        let feed = LinkFeed()
        metrics.addCollector { m in m.recordLinks(await feed.current) }

        var a = LinkStatistics()
        a.naksSent = 2
        a.naksReceived = 1
        a.retransmissions = 3
        a.frameErrors = 4
        a.linkDowns = 1
        await feed.set([TerminalLinkSnapshot(terminal: "NGP-0001", linked: true, statistics: a)])
        let first = Exposition(String(decoding: await metrics.scrape(), as: UTF8.self))
        #expect(first.value("ngbridge_terminal_link_up", ["terminal": "NGP-0001"]) == 1)
        #expect(first.value("ngbridge_terminal_link_naks_sent_total", ["terminal": "NGP-0001"]) == 2)
        #expect(first.value("ngbridge_terminal_link_resyncs_total", ["terminal": "NGP-0001"]) == 1)

        var b = a
        b.naksSent = 5
        b.linkDowns = 2
        await feed.set([
            TerminalLinkSnapshot(terminal: "NGP-0001", linked: false, statistics: b),
            TerminalLinkSnapshot(terminal: "NGP-0002", linked: true, statistics: LinkStatistics()),
        ])
        let second = Exposition(String(decoding: await metrics.scrape(), as: UTF8.self))
        #expect(second.value("ngbridge_terminal_link_up", ["terminal": "NGP-0001"]) == 0)
        #expect(second.value("ngbridge_terminal_link_up", ["terminal": "NGP-0002"]) == 1)
        #expect(second.value("ngbridge_terminal_link_naks_sent_total", ["terminal": "NGP-0001"]) == 5)
        #expect(second.value("ngbridge_terminal_link_naks_received_total", ["terminal": "NGP-0001"]) == 1)
        #expect(second.value("ngbridge_terminal_link_retransmissions_total", ["terminal": "NGP-0001"]) == 3)
        #expect(second.value("ngbridge_terminal_link_frame_errors_total", ["terminal": "NGP-0001"]) == 4)
        #expect(second.value("ngbridge_terminal_link_resyncs_total", ["terminal": "NGP-0001"]) == 2)
        #expect(second.value("ngbridge_terminal_link_naks_sent_total", ["terminal": "NGP-0002"]) == 0)
        #expect(second.help["ngbridge_terminal_link_naks_sent_total"] == TillAPIMetrics.families["ngbridge_terminal_link_naks_sent_total"])
    }

    actor LinkFeed {
        var current: [TerminalLinkSnapshot] = []
        func set(_ s: [TerminalLinkSnapshot]) { current = s }
    }
}
