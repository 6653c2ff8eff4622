import ArgumentParser
import Foundation
import Logging
import NetgiroAPI
import NetgiroSim

/// `ngbridge sim …`: simulators for offline work and demos. Add a simulator by adding its
/// command type to `subcommands` below.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run simulators of the bridge's outside world.",
        subcommands: [
            SimNetgiroCommand.self,
            SimPinpadCommand.self,
            SimPinpadQEMUCommand.self,
            SimLineCommand.self,
        ]
    )
}

/// `ngbridge sim netgiro`: the strict Netgíró v1 Checkout simulator.
struct SimNetgiroCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netgiro",
        abstract: "Serve a strict simulator of Netgíró's v1 Checkout API on loopback.",
        discussion: """
            Prints its base URL, then one line per cart event and per refused request. Uses the \
            public sandbox app key and secret unless told otherwise. Sandbox customers: GSM 8223281 \
            accepts after --accept-delay-ms, 8223282 declines, 8223283 never answers; SSN \
            1111111119 gets a 4-digit SMS code (printed here, and at GET /_sim/carts/ID/sms-code), \
            2222222229 has no credit; AppCodes 500004xxxx confirm at once. Control endpoints: \
            GET /_sim/ledger, POST /_sim/carts/ID/accept|decline, GET|POST /_sim/faults, \
            POST /_sim/faults/next.
            """
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = NetgiroSimulator.defaultPort

    @Option(help: "The app key (ApplicationId) to accept.")
    var appKey = NetgiroSecret.publicSandboxAppKey

    @Option(help: "File holding the SecretKey for --app-key (default: the public sandbox secret).")
    var secretFile: String?

    @Option(help: "Seed for transaction ids, SMS codes and faults.")
    var seed: UInt64 = 1

    @Option(help: "How long GSM 8223281/8223282 take to answer, in milliseconds.")
    var acceptDelayMs = 3_000

    @Option(help: "Carts still open after this many seconds are cancelled.")
    var cartLifetimeS = 300

    @Option(help: "Wrong SMS codes allowed before the cart is cancelled.")
    var smsTries = 3

    @Option(help: "ProcessCartCheckIntervalMiliseconds to announce.")
    var checkIntervalMs = 3_000

    @Option(help: "Smallest amount accepted, ISK (10305 below).")
    var minimumAmount = 1

    @Option(help: "Probability (0–1) of answering an API call with HTTP 500.")
    var faultServerError = 0.0

    @Option(help: "Probability (0–1) of answering an API call slowly.")
    var faultSlow = 0.0

    @Option(help: "Probability (0–1) of applying an API call, then dropping the connection.")
    var faultDrop = 0.0

    @Option(help: "Probability (0–1) of applying an API call, then answering garbage.")
    var faultGarbage = 0.0

    @Option(help: "How slow a slow answer is, in milliseconds.")
    var slowDelayMs = 5_000

    func run() async throws {
        let secret = try secretFile.map { try NetgiroSecret.fromFile($0) } ?? .publicSandbox
        var options = NetgiroSimulator.Options()
        options.host = host
        options.port = port
        options.seed = seed
        options.core = .init(
            apps: [appKey: secret], customers: .init(acceptDelay: .milliseconds(acceptDelayMs)),
            cartLifetime: .seconds(cartLifetimeS), smsCodeTries: smsTries,
            checkInterval: .milliseconds(checkIntervalMs), minimumAmount: minimumAmount)
        options.faults = .init(
            serverError: faultServerError, slow: faultSlow, dropAfterCommit: faultDrop, garbage: faultGarbage,
            slowDelayMilliseconds: slowDelayMs)
        var logger = Logger(label: "netgiro.simulator")
        logger.logLevel = .error
        options.logger = logger
        options.events = { line in
            print(line)
            fflush(nil)
        }
        let simulator = try await NetgiroSimulator.start(options)
        print("Netgíró simulator listening: base URL \(simulator.baseURL)")
        print("app key \(appKey); control endpoints under \(simulator.origin)/_sim/")
        fflush(nil)
        // Runs until interrupted (SIGINT/SIGTERM end the process; the simulator keeps no state).
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(3600))
        }
        await simulator.shutdown()
    }
}
