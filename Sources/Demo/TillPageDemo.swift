import AsyncHTTPClient
import Bridge
import Foundation
import Hummingbird
import Logging
import NetgiroAPI
import ServiceLifecycle
import NetgiroSim
import PinpadSim

/// `ngbridge demo --till-page`: the bridge as a till meets it, with an example till in a browser.
///
/// Starts the Netgíró simulator and a simulated PIN pad, runs the daemon itself (``Daemon``, the
/// same code as `ngbridge run`) with its till API on a unix socket in a temporary folder, and
/// serves the example till page on loopback (``TillPageServer``). The customers at the pad are
/// simulated, one per payment in turn from ``customers``: each keys their identity (and the SMS
/// code Netgíró "sent"), or — `nil`, "away" — keys nothing, so the till can cancel.
/// Runs until SIGINT/SIGTERM.
public struct TillPageDemo: Sendable {
    /// The customers, in turn: the first pays the first payment, the second the next, and so on
    /// round; `nil` is a customer who walks away from the pad.
    public var customers: [Demo.Customer?] = [.phone]
    /// Loopback port for the page; 0 picks a free one.
    public var port = 8421
    public var host = "127.0.0.1"
    /// How long the simulated customer takes to accept in the Netgíró app.
    public var acceptDelay: Duration = .seconds(3)

    public init() {}

    public func run(say: @escaping @Sendable (String) -> Void) async -> Int32 {
        var logger = Logger(label: "ngbridge.demo")
        logger.logLevel = .warning
        var quiet = logger
        quiet.logLevel = .critical
        let work = NSTemporaryDirectory() + "ngbridge-till-page-\(getpid())"
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let padPath = work + "/pinpad0"
        guard let simulated = await DemoSimulators.start(acceptDelay: acceptDelay, logger: quiet, padPath: padPath, say: say)
        else { return 2 }
        let (netgiro, pad, smsCodes) = (simulated.netgiro, simulated.pad, simulated.smsCodes)

        // The public sandbox secret (not a secret: Netgíró publishes it for its test account).
        let secretPath = work + "/netgiro-secret"
        _ = FileManager.default.createFile(
            atPath: secretPath, contents: Data(Self.publicSandboxSecret.utf8), attributes: [.posixPermissions: 0o600])
        let socket = work + "/api.sock"
        let configuration: DaemonConfiguration
        do {
            configuration = try await DaemonConfiguration.load(
                overrides: [
                    "netgiro.base-url=\(netgiro.baseURL)", "netgiro.app-key=\(NetgiroSecret.publicSandboxAppKey)",
                    "netgiro.secret-file=\(secretPath)", "device.path=\(padPath)", "api.listen=unix:\(socket)",
                    "journal.path=\(work)/journal.sqlite", "payment.poll-min-ms=500", "payment.poll-max-ms=1000",
                ],
                environment: [:])
        } catch {
            say("cannot configure the bridge: \(error)")
            pad.stop()
            await netgiro.shutdown()
            return 2
        }

        // Unstructured: cancelled, not awaited — its wait for a prompt (up to an hour) does not
        // end on cancellation.
        let customerTask = Task { await keyEveryPrompt(pad: pad, smsCodes: smsCodes, say: say) }

        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
        let page = TillPageServer(host: host, port: port, api: configuration.api.listen, http: http, logger: logger)
        let host = self.host
        let turns = customers.map { $0?.explanation ?? "walks away from the pad (cancel at the till)" }
        let pageApp = page.application { bound in
            say("Netgíró simulator at \(netgiro.baseURL); PIN pad at \(padPath); till API at unix:\(socket)")
            for (n, turn) in turns.enumerated() { say("Customer \(n + 1)\(turns.count > 1 ? " (then round again)" : ""): \(turn)") }
            say("till page: http://\(host):\(bound)/  (Ctrl-C to stop)")
        }
        // The bridge and the page server side by side; SIGINT/SIGTERM stops both (each group
        // watches the signals), and either ending stops the other.
        let pageGroup = ServiceGroup(
            configuration: .init(services: [.init(service: pageApp)], gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        let bridgeLogger = logger
        var code: Int32 = 0
        await withTaskGroup(of: Int32.self) { group in
            group.addTask {
                do {
                    try await Daemon.run(configuration: configuration, logger: bridgeLogger)
                    return 0
                } catch {
                    say("the bridge stopped: \(error)")
                    return 1
                }
            }
            group.addTask {
                do {
                    try await pageGroup.run()
                    return 0
                } catch {
                    say("the till page server stopped: \(error) — is port \(port) in use? Choose another with --port.")
                    return 1
                }
            }
            code = await group.next() ?? 0
            group.cancelAll()
            for await other in group { code = max(code, other) }
        }
        customerTask.cancel()
        try? await http.shutdown()
        pad.stop()
        await netgiro.shutdown()
        return code
    }

    /// The customers in turn: at each new prompt for their identity the next one keys it and
    /// presses OK, and when asked for an SMS code keys the one Netgíró "sent"; one who walks
    /// away keys nothing.
    func keyEveryPrompt(pad: PinpadSimulator, smsCodes: DemoMailbox, say: @Sendable (String) -> Void) async {
        var last = 0
        var turn = 0
        while !Task.isCancelled {
            guard let prompt = await pad.waitForPrompt(.customerID, after: last, timeout: .seconds(3600)) else { continue }
            last = prompt.serial
            guard !customers.isEmpty, let customer = customers[turn % customers.count] else {
                turn += 1
                say("the customer walks away from the pad")
                continue
            }
            turn += 1
            try? await Task.sleep(for: .milliseconds(1500))  // as slow as a person, so the page's stages can be watched
            say("customer types \(PersonalData.mask(customer.identifier)) and presses OK")
            pad.type(customer.identifier)
            pad.press(.ok)
            guard customer == .kennitala,
                let sms = await pad.waitForPrompt(.smsCode, after: prompt.serial, timeout: .seconds(30)),
                let code = await smsCodes.take(timeout: .seconds(10))
            else { continue }
            last = sms.serial
            try? await Task.sleep(for: .milliseconds(1500))  // as slow as a person, so the page's stages can be watched
            say("customer types the SMS code and presses OK")
            pad.type(code)
            pad.press(.ok)
        }
    }

    static let publicSandboxSecret =
        "YCFd6hiA8lUjZejVcIf/LhRXO4wTDxY0JhOXvQZwnMSiNynSxmNIMjMf1HHwdV6cMN48NX3ZipA9q9hLPb9C1ZIzMH5dvELPAHceiu7LbZzmIAGeOf/OUaDrk2Zq2dbGacIAzU6yyk4KmOXRaSLi8KW8t3krdQSX7Ecm8Qunc/A="
}
