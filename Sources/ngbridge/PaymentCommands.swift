import ArgumentParser
import Bridge
import Foundation

/// Where the CLI finds the daemon: its unix socket (or a TCP address with a token file).
struct DaemonAddressOptions: ParsableArguments {
    @Option(name: .customLong("api"), help: ArgumentHelp("The daemon's till API: unix:/PATH or HOST:PORT.", valueName: "ADDRESS"))
    var api: String = ProcessInfo.processInfo.environment["NGBRIDGE_API_LISTEN"] ?? "unix:" + DaemonConfiguration.defaultSocketPath

    @Option(
        name: .customLong("token-file"),
        help: ArgumentHelp("File holding the bearer token (needed on TCP; default NGBRIDGE_API_TOKEN_FILE).", valueName: "PATH"))
    var tokenFile: String?

    func validate() throws {
        guard DaemonConfiguration.ListenAddress.parse(api) != nil else {
            throw ValidationError("--api \(api) is not unix:/PATH or HOST:PORT")
        }
    }

    func client() throws -> TillAPIClient {
        let address = DaemonConfiguration.ListenAddress.parse(api)!
        var token: String?
        if let tokenFile = tokenFile ?? ProcessInfo.processInfo.environment["NGBRIDGE_API_TOKEN_FILE"] {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(tokenFile) — check the path and its permissions")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return TillAPIClient(address: address, token: token)
    }
}

/// Runs a call against the daemon, turning "nobody listening" into a line a person can act on.
func callDaemon<T>(_ address: DaemonAddressOptions, _ body: (TillAPIClient) async throws -> T) async throws -> T {
    let client = try address.client()
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch let error as TillAPIClientError {
        await client.shutdown()
        throw CLIFailure(error.description)
    } catch {
        await client.shutdown()
        throw CLIFailure(
            "cannot reach the bridge at \(address.api): \(error) — is `ngbridge run` (or `systemctl start ngbridge`) running, and may this user open the socket (group ngbridge)?")
    }
}

/// A failure the CLI prints as one line and exits 1 with.
struct CLIFailure: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}

/// Prints an answer: the JSON as is with --json, else a few lines for a person. Problems become failures.
func show(_ answer: TillAPIClient.Answer, json: Bool, human: (TillAPIClient.Answer) throws -> String) throws {
    if let problem = answer.problem {
        if json { print(String(decoding: answer.body, as: UTF8.self)) }
        throw CLIFailure("\(problem.title): \(problem.detail)" + (problem.field.map { " [field \($0)]" } ?? ""))
    }
    print(json ? String(decoding: answer.body, as: UTF8.self) : try human(answer))
}

func describe(_ p: TillPayment) -> String {
    var lines = [
        "payment    \(p.id)",
        "state      \(p.state.rawValue)\(p.final ? " (final)" : "")",
        "amount     \(p.amount) ISK",
        "reference  \(p.reference)",
        "terminal   \(p.terminal)",
        "confirm    \(p.confirmation.rawValue)",
    ]
    if let t = p.transactionId { lines.append("transaction \(t)") }
    if let i = p.invoiceNumber { lines.append("invoice    \(i)") }
    if let m = p.message { lines.append("note       \(m)") }
    if let r = p.resolution {
        lines.append("resolved   \(r.outcome.rawValue) by staff" + (r.transactionId.map { ", transaction \($0)" } ?? "") + (r.note.map { " (\($0))" } ?? ""))
    }
    return lines.joined(separator: "\n")
}

/// `ngbridge payment ID` and `ngbridge payment ID resolve --paid TRANSACTION_ID | --not-paid`
struct PaymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment", abstract: "Show one payment, or record what staff found for an unknown one.",
        discussion: """
            `ngbridge payment ID resolve --paid TRANSACTION_ID` or `--not-paid` records what Netgíró's \
            partner portal shows for a payment the bridge left unknown (`ngbridge payments export` lists \
            them). Only unknown payments are resolved; the finding is journaled and not changed afterwards.
            """)

    enum Action: String, ExpressibleByArgument, CaseIterable { case resolve }

    @Argument(help: "The payment id (from `ngbridge pay`).") var id: String
    @Argument(help: "resolve: record what staff found for an unknown payment.") var action: Action?
    @Option(help: ArgumentHelp("Netgíró has the payment: its TransactionId.", valueName: "TRANSACTION_ID")) var paid: String?
    @Flag(name: .customLong("not-paid"), help: "Netgíró has no payment for it.") var notPaid = false
    @Option(help: "Who checked, or a word for the books (no personal data).") var note: String?
    @Flag(help: "Print the API's JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func validate() throws {
        switch action {
        case nil:
            guard paid == nil, !notPaid, note == nil else { throw ValidationError("--paid, --not-paid and --note go with `resolve`: ngbridge payment \(id) resolve --paid TRANSACTION_ID") }
        case .resolve?:
            guard (paid != nil) != notPaid else { throw ValidationError("resolve takes exactly one of --paid TRANSACTION_ID and --not-paid") }
        }
    }

    func run() async throws {
        guard action == .resolve else {
            let answer = try await callDaemon(address) { try await $0.payment(id) }
            try show(answer, json: json) { describe(try $0.decode(TillPayment.self)) }
            return
        }
        let body = TillResolutionRequest(outcome: paid != nil ? .paid : .notPaid, transactionId: paid, note: note)
        let answer = try await callDaemon(address) {
            try await $0.request(.POST, "/v1/payments/\(TillAPIClient.escape(id))/resolution", body: try TillAPIJSON.encoder.encode(body))
        }
        try show(answer, json: json) { describe(try $0.decode(TillPayment.self)) }
    }
}

/// `ngbridge cancel ID`
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Ask the daemon to cancel a payment.",
        discussion: "The customer may still win the race: the outcome is then paid. Follow it with `ngbridge payment ID`.")

    @Argument(help: "The payment id.") var id: String
    @Flag(help: "Print the API's JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func run() async throws {
        let answer = try await callDaemon(address) { try await $0.cancel(id) }
        try show(answer, json: json) { describe(try $0.decode(TillPayment.self)) }
    }
}
