import Checkout
import Foundation
import HTTPTypes
import Hummingbird
import Journal
import Logging
import NetgiroAPI
import PinpadProtocol
import ServiceLifecycle

/// `ngbridge run`: the daemon, put together from a checked ``DaemonConfiguration``.
///
/// Start-up order: journal (its lock: one daemon per journal) → the unix socket's path (never
/// taken from a live daemon) → Netgíró client → terminal sessions (hotplug or fixed path) →
/// recovery of unfinished payments → till API (and the ServerCallback listener) → `READY=1`.
/// SIGTERM/SIGINT: stop taking payments, pads show "out of service", running payments are left
/// in the journal as they stand (resumed at the next start), listeners close, `STOPPING=1`.
/// A start-up failure throws a ``DaemonConfigurationError`` naming its key and exit status; a
/// failure after start-up is thrown as it is (the caller exits non-zero either way).
public enum Daemon {
    public static func run(configuration: DaemonConfiguration, logger: Logger, metrics: TillAPIMetrics = TillAPIMetrics()) async throws {
        let notify = DaemonNotify()
        let (journal, journalLock) = try DaemonStartup.openJournal(configuration.journalPath)
        defer { withExtendedLifetime(journalLock) {} }
        do {
            if case .unix(let path) = configuration.api.listen { try DaemonStartup.claimSocketPath(path) }
        } catch {
            try? journal.close()
            throw error
        }
        let netgiro = NetgiroClient(
            configuration: try configuration.netgiroClientConfiguration(), logger: logger, observer: { metrics.recordNetgiro($0) })
        var checkout = Checkout.Configuration()
        checkout.deadline = configuration.payments.deadline
        checkout.pollIntervalBounds = configuration.payments.pollMinimum ... configuration.payments.pollMaximum
        checkout.retryUnansweredInsertOnce = configuration.payments.retryUnansweredInsert
        let runner = PaymentRunner(gateway: netgiro, journal: journal, configuration: checkout, logger: logger)

        let hostName = Array((ProcessInfo.processInfo.hostName.isEmpty ? "ngbridge" : ProcessInfo.processInfo.hostName).utf8.prefix(32))
        // The last prompt token per pad lives next to the journal, so a restart never reuses one.
        let tokens = configuration.journalPath == ":memory:"
            ? nil : PromptTokenFile(directory: (configuration.journalPath as NSString).deletingLastPathComponent + "/prompt-tokens")
        let terminals = DaemonTerminals(
            hello: HostHello(hostName: hostName), reconnectGrace: configuration.payments.reconnectGrace,
            entryTimeout: configuration.payments.entryTimeout, tokenStore: tokens, logger: logger)
        let service = DaemonPaymentService(
            runner: runner, terminals: terminals,
            settings: .init(
                defaultConfirmation: configuration.payments.defaultConfirmation, callbackURL: configuration.callback?.publicURL,
                recoveryGrace: configuration.payments.reconnectGrace),
            metrics: metrics, logger: logger)

        metrics.addCollector { metrics in metrics.recordLinks(await terminals.linkSnapshots()) }

        do {
            let recovered = try await service.recover()
            if !recovered.isEmpty { logger.notice("recovered unfinished payments", metadata: ["payments": "\(recovered.joined(separator: ","))"]) }
        } catch {
            logger.error("cannot read unfinished payments from the journal: \(error)")
        }

        var apiOptions = TillAPIServer.Options(listen: configuration.api.listen, token: configuration.api.token)
        apiOptions.socketMode = configuration.api.socketMode
        apiOptions.maxBodyBytes = configuration.api.maxBodyBytes
        apiOptions.tls = configuration.api.tls
        let apiBound = DaemonStartup.Bound()
        var server = TillAPIServer(options: apiOptions, service: service, metrics: metrics, logger: logger)
        // Refunds go to Netgíró's partner API beside the v1 base URL (docs/netgiro-refund.md).
        let partner = netgiroPartnerBaseURL(checkoutBaseURL: configuration.netgiro.baseURL).map {
            NetgiroPartnerClient(baseURL: $0, secret: configuration.netgiro.secret, logger: logger, observer: { metrics.recordNetgiro($0) })
        }
        if let partner { server.refunds = RefundService(journal: journal, partner: partner, payments: service, logger: logger) }
        let api = server.application { address in
            apiBound.set()
            notify.ready(status: "till API on \(address)")
            logger.info("ready", metadata: ["listen": "\(address)"])
        }
        var services: [any Service] = [DaemonStartup.Listener(key: "api.listen", address: configuration.api.listen, bound: apiBound, service: api)]
        if let callback = configuration.callback {
            let bound = DaemonStartup.Bound()
            services.append(
                DaemonStartup.Listener(
                    key: "callback.listen", address: callback.listen, bound: bound,
                    service: DaemonCallbackListener.application(
                        callback, secret: configuration.netgiro.secret, runner: runner, logger: logger, onListening: { bound.set() })))
        }
        if let interval = notify.watchdogInterval {
            services.append(WatchdogService(notify: notify, interval: interval))
        }
        services.append(DrainService(service: service, terminals: terminals, notify: notify, logger: logger))

        // Services stop in reverse order: draining first (the pads still linked, to show "out
        // of service"), then the listeners, and pad discovery with its gauge last.
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    // A watcher that cannot start has said so (critical); the till API stays up
                    // to answer that no terminal is online, so an early end stops nothing.
                    .init(service: PadDiscoveryService(terminals: terminals, device: configuration.device, logger: logger), successTerminationBehavior: .ignore),
                    .init(service: TerminalsGaugeService(terminals: terminals, metrics: metrics), successTerminationBehavior: .ignore),
                ] + services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        await terminals.closeAll()
        try? await netgiro.shutdown()
        await partner?.shutdown()
        try? journal.close()
        // A failure is the caller's to report (one line, and a non-zero exit status, so that
        // `Restart=on-failure` sees it); a start-up failure names its key.
        if let failure { throw failure }
        logger.info("stopped")
    }
}

/// Waits for graceful shutdown, then: no new payments, pads show "out of service", systemd told.
struct DrainService: Service {
    let service: DaemonPaymentService
    let terminals: DaemonTerminals
    let notify: DaemonNotify
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        notify.stopping(status: "draining")
        logger.notice("shutting down: no new payments; running ones stay in the journal and resume at the next start")
        await service.stopTakingPayments()
        await terminals.showOutOfService()
    }
}

/// Finds PIN pads for as long as the daemon runs: hotplug (`device.match`) or one fixed path
/// (`device.path`), each pad handed to its terminal session. Ends at graceful shutdown.
struct PadDiscoveryService: Service {
    let terminals: DaemonTerminals
    let device: DaemonConfiguration.Device
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            switch device {
            case .path(let path): await terminals.keep(path: path)
            case .match(let filter):
                do { try await terminals.follow(filter) } catch {
                    logger.critical("cannot watch for PIN pads: \(error)")
                }
            }
        }
    }
}

/// Keeps the `terminals online` gauge current: one reading per change of the terminals.
struct TerminalsGaugeService: Service {
    let terminals: DaemonTerminals
    let metrics: TillAPIMetrics

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in await terminals.changes() {
                metrics.recordTerminals(online: await terminals.onlineIDs().count)
            }
        }
    }
}

/// Sends `WATCHDOG=1` every half `WATCHDOG_USEC` while the process is alive.
struct WatchdogService: Service {
    let notify: DaemonNotify
    let interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            notify.watchdog()
            try? await Task.sleep(for: interval)
        }
    }
}

/// Netgíró's ServerCallback POSTs: verified with the app's secret against the public URL, then
/// handed to the payment whose cart they name. 200 lets the sale through; anything we cannot
/// verify is refused (401) and never reaches a payment.
enum DaemonCallbackListener {
    static func application(
        _ callback: DaemonConfiguration.Callback, secret: NetgiroSecret, runner: PaymentRunner, logger: Logger,
        onListening: @escaping @Sendable () -> Void = {}
    ) -> some Service {
        let router = Router(context: BasicRequestContext.self)
        let base = URL(string: callback.publicURL)
        let basePath = base?.path.isEmpty == false ? base!.path : "/"
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 64 * 1024)
            // The URL as Netgíró called it: the public origin plus the path and query received.
            var url = callback.publicURL
            if let query = request.uri.query, !query.isEmpty, !url.contains("?") { url += "?" + query }
            let headers = request.headers
            let verification = NetgiroCallback.verify(secret: secret, url: url, body: Array(buffer: body)) { name in
                HTTPField.Name(name).flatMap { headers[$0] }
            }
            switch verification {
            case .valid(let cart):
                let taken = await runner.callbackReceived(cart)
                logger.info("ServerCallback received", metadata: ["matched": "\(taken)"])
                return Response(status: taken ? .ok : .notFound)
            case .missingHeaders, .badSignature:
                logger.warning("ServerCallback refused: signature missing or wrong")
                return Response(status: .unauthorized)
            case .unreadableBody:
                logger.warning("ServerCallback refused: unreadable body")
                return Response(status: .badRequest)
            }
        }
        router.post(RouterPath(basePath), use: handler)
        guard case .tcp(let host, let port) = callback.listen else { preconditionFailure("callback.listen is TCP (checked at load)") }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "ngbridge-callback"),
            onServerRunning: { _ in onListening() }, logger: logger)
    }
}
