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
    return lines.joined(separator: "\n")
}

/// `ngbridge payment ID`
struct PaymentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment", abstract: "Show one payment as the daemon knows it.")

    @Argument(help: "The payment id (from `ngbridge pay`).") var id: String
    @Flag(help: "Print the API's JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func run() async throws {
        let answer = try await callDaemon(address) { try await $0.payment(id) }
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
