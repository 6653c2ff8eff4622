import Common
import Foundation
import Metrics
import NetgiroAPI
import PinpadProtocol
import Prometheus

/// The daemon's metrics, on a Prometheus registry of its own (so several bridges in one test
/// process do not mix). Served at `/metrics` in the Prometheus text format, every family with
/// `# HELP` and `# TYPE`. README's "Metrics" table lists them; ``families`` is the one place
/// their names and help texts are written.
public final class TillAPIMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory

    /// Name → help text of every family the bridge exports.
    public static let families: [String: String] = [
        "ngbridge_build_info": "The bridge's version (label version); always 1.",
        "ngbridge_start_time_seconds": "When the daemon started, in seconds since the Unix epoch.",
        "ngbridge_http_requests_total": "Till API requests answered, by method, route template and HTTP status.",
        "ngbridge_http_request_duration_seconds": "Till API request latency until the response head, by method and route template.",
        "ngbridge_payments_started_total": "Payments started by a till (replayed requests not counted).",
        "ngbridge_payments_finished_total": "Payments that reached a final state, by state.",
        "ngbridge_payment_duration_seconds": "Time from a payment's start to its final state, by outcome.",
        "ngbridge_netgiro_request_duration_seconds":
            "Netgíró API exchanges (checkout calls and Refund), by operation and result (Netgíró result code, http_NNN, not_sent, timeout, connection_lost); one per attempt.",
        "ngbridge_terminals_online": "PIN pads whose link is up.",
        "ngbridge_terminal_link_up": "1 while the terminal's link is up, 0 otherwise.",
        "ngbridge_terminal_link_naks_sent_total": "NAKs the bridge sent to the pad (damaged or out-of-order frames received).",
        "ngbridge_terminal_link_naks_received_total": "NAKs the pad sent to the bridge.",
        "ngbridge_terminal_link_retransmissions_total": "Frames the bridge sent again (NAK or acknowledgement timeout).",
        "ngbridge_terminal_link_frame_errors_total": "Damaged frames received from the pad (CRC, framing, length).",
        "ngbridge_terminal_link_resyncs_total": "Times the link was lost and had to be set up again with HELLO.",
    ]

    static let requestBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map(TillAPIMetrics.seconds)
    static let netgiroBuckets: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map(TillAPIMetrics.seconds)
    static let paymentBuckets: [Duration] = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600].map(TillAPIMetrics.seconds)

    static func seconds(_ value: Double) -> Duration { .milliseconds(Int64((value * 1000).rounded())) }

    /// Called before each scrape to bring values that are read rather than pushed up to date.
    /// Lock: read synchronously by every scrape's request handler (concurrent), filled once at
    /// start; a mutex, as an actor would make each metric call a suspension.
    private let collectors = Locked<[@Sendable (TillAPIMetrics) async -> Void]>([])
    /// The link counters as last exported, per terminal, so a scrape adds only what is new.
    /// Lock: two scrapes at once must not both add the same difference.
    private let exportedLinks = Locked<[String: LinkStatistics]>([:])
    /// The request and Netgíró metrics by their labels, as the registry made them: the registry
    /// hands out the same metric for the same labels, but finding it there (descriptor, label
    /// arrays, its lock) cost more per request than counting. Grows as the registry does.
    /// Lock: every request's handler and every Netgíró exchange, never held across a call out.
    private let requestMetrics = Locked<(counts: [RequestLabels: Prometheus.Counter], durations: [RouteLabels: DurationHistogram])>(([:], [:]))
    private let netgiroMetrics = Locked<[NetgiroLabels: DurationHistogram]>([:])

    private struct RequestLabels: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    private struct RouteLabels: Hashable {
        var method: String
        var route: String
    }

    private struct NetgiroLabels: Hashable {
        var operation: String
        var result: String
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), startTime: Date = Date()) {
        self.registry = registry
        self.factory = PrometheusMetricsFactory(registry: registry)
        gauge("ngbridge_build_info", [("version", BridgeVersion.current)]).set(Int64(1))
        gauge("ngbridge_start_time_seconds").set(Double(startTime.timeIntervalSince1970.rounded()))
        _ = counter("ngbridge_payments_started_total")
        gauge("ngbridge_terminals_online").set(Int64(0))
    }

    // MARK: Families

    func descriptor(_ name: String) -> MetricNameDescriptor {
        guard let help = Self.families[name] else { preconditionFailure("metric \(name) is not in TillAPIMetrics.families") }
        return MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func counter(_ name: String, _ labels: [(String, String)] = []) -> Prometheus.Counter {
        labels.isEmpty ? registry.makeCounter(descriptor: descriptor(name)) : registry.makeCounter(descriptor: descriptor(name), labels: labels)
    }

    func gauge(_ name: String, _ labels: [(String, String)] = []) -> Prometheus.Gauge {
        labels.isEmpty ? registry.makeGauge(descriptor: descriptor(name)) : registry.makeGauge(descriptor: descriptor(name), labels: labels)
    }

    func histogram(_ name: String, _ labels: [(String, String)], buckets: [Duration]) -> DurationHistogram {
        registry.makeDurationHistogram(descriptor: descriptor(name), labels: labels, buckets: buckets)
    }

    // MARK: Recording

    /// The Prometheus text of every family, after the collectors ran.
    public func scrape() async -> [UInt8] {
        for collect in collectors.withLock({ $0 }) { await collect(self) }
        return registry.emitToBuffer()
    }

    /// Adds a collector run before each scrape (the daemon's terminal links).
    public func addCollector(_ collect: @escaping @Sendable (TillAPIMetrics) async -> Void) {
        collectors.withLock { $0.append(collect) }
    }

    var paymentsStarted: Prometheus.Counter { counter("ngbridge_payments_started_total") }

    func countRequest(method: String, route: String, status: Int, duration: Duration? = nil) {
        // A request without a duration makes no duration series (as before the cache).
        let (count, durations) = requestMetrics.withLock { cache -> (Prometheus.Counter, DurationHistogram?) in
            let key = RequestLabels(method: method, route: route, status: status)
            let count: Prometheus.Counter
            if let found = cache.counts[key] {
                count = found
            } else {
                count = counter("ngbridge_http_requests_total", [("method", method), ("route", route), ("status", String(status))])
                cache.counts[key] = count
            }
            guard duration != nil else { return (count, nil) }
            let routeKey = RouteLabels(method: method, route: route)
            if let found = cache.durations[routeKey] { return (count, found) }
            let made = histogram(
                "ngbridge_http_request_duration_seconds", [("method", method), ("route", route)], buckets: Self.requestBuckets)
            cache.durations[routeKey] = made
            return (count, made)
        }
        count.increment()
        if let duration, let durations { durations.record(duration) }
    }

    /// A payment reached a final state, `duration` after it started.
    public func countOutcome(_ state: TillPaymentState, duration: Duration? = nil) {
        counter("ngbridge_payments_finished_total", [("state", state.rawValue)]).increment()
        if let duration {
            histogram("ngbridge_payment_duration_seconds", [("outcome", state.rawValue)], buckets: Self.paymentBuckets)
                .record(max(duration, .zero))
        }
    }

    /// How many terminals are linked now.
    public func recordTerminals(online: Int) {
        gauge("ngbridge_terminals_online").set(Int64(online))
    }

    /// One exchange with Netgíró (the client's observer).
    public func recordNetgiro(_ exchange: NetgiroExchange) {
        let key = NetgiroLabels(operation: exchange.operation, result: exchange.result)
        let duration = netgiroMetrics.withLock { cache in
            if let found = cache[key] { return found }
            let made = histogram(
                "ngbridge_netgiro_request_duration_seconds", [("operation", exchange.operation), ("result", exchange.result)],
                buckets: Self.netgiroBuckets)
            cache[key] = made
            return made
        }
        duration.record(exchange.duration)
    }

    /// The terminals' link state and counters as they are now; counters grow by what is new
    /// since the last call.
    public func recordLinks(_ snapshots: [TerminalLinkSnapshot]) {
        let deltas: [(String, LinkStatistics)] = exportedLinks.withLock { exported in
            snapshots.map { snapshot in
                let before = exported[snapshot.terminal] ?? LinkStatistics()
                exported[snapshot.terminal] = snapshot.statistics
                return (snapshot.terminal, snapshot.statistics.growth(since: before))
            }
        }
        for snapshot in snapshots {
            gauge("ngbridge_terminal_link_up", [("terminal", snapshot.terminal)]).set(Int64(snapshot.linked ? 1 : 0))
        }
        for (terminal, d) in deltas {
            let labels = [("terminal", terminal)]
            counter("ngbridge_terminal_link_naks_sent_total", labels).increment(by: Int64(d.naksSent))
            counter("ngbridge_terminal_link_naks_received_total", labels).increment(by: Int64(d.naksReceived))
            counter("ngbridge_terminal_link_retransmissions_total", labels).increment(by: Int64(d.retransmissions))
            counter("ngbridge_terminal_link_frame_errors_total", labels).increment(by: Int64(d.frameErrors))
            counter("ngbridge_terminal_link_resyncs_total", labels).increment(by: Int64(d.linkDowns))
        }
    }
}

/// One terminal's link, as `/metrics` reports it.
public struct TerminalLinkSnapshot: Sendable, Hashable {
    public var terminal: String
    public var linked: Bool
    public var statistics: LinkStatistics

    public init(terminal: String, linked: Bool, statistics: LinkStatistics) {
        self.terminal = terminal
        self.linked = linked
        self.statistics = statistics
    }
}

extension LinkStatistics {
    /// What grew since `before` (never negative: a counter that went back counts as no growth).
    func growth(since before: LinkStatistics) -> LinkStatistics {
        var d = LinkStatistics()
        d.naksSent = max(0, naksSent - before.naksSent)
        d.naksReceived = max(0, naksReceived - before.naksReceived)
        d.retransmissions = max(0, retransmissions - before.retransmissions)
        d.frameErrors = max(0, frameErrors - before.frameErrors)
        d.linkDowns = max(0, linkDowns - before.linkDowns)
        return d
    }
}
