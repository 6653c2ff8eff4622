import ArgumentParser
import Bridge
import Foundation
import Logging
import NetgiroAPI

/// `ngbridge netgiro …`: make single Netgíró v1 Checkout calls against any base URL.
struct NetgiroCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netgiro",
        abstract: "Call Netgíró's v1 Checkout API by hand (InsertCart, CheckCart, ConfirmCart, CancelCart).",
        discussion: """
            The secret is read from --secret-file or the environment variable \
            \(NetgiroSecret.environmentVariable), never from the command line; \
            --sandbox-secret uses Netgíró's public sandbox secret (for the simulator and the test \
            service). Customer ids and SMS codes are masked in the output.
            """,
        subcommands: [
            NetgiroInsertCart.self, NetgiroCheckCart.self, NetgiroConfirmCart.self, NetgiroCancelCart.self,
            NetgiroPay.self,
        ]
    )
}

struct NetgiroConnectionOptions: ParsableArguments {
    @Option(help: "Base URL: \(NetgiroConfiguration.productionBaseURL), \(NetgiroConfiguration.testBaseURL), or the simulator's.")
    var baseURL = "http://127.0.0.1:\(8089)/v1/"

    @Option(help: "The app key (ApplicationId).")
    var appKey = NetgiroSecret.publicSandboxAppKey

    @Option(help: "File holding the SecretKey (else \(NetgiroSecret.environmentVariable)).")
    var secretFile: String?

    @Flag(help: "Use Netgíró's public sandbox secret.")
    var sandboxSecret = false

    @Option(help: "Response signature checking: verify, warn or off.")
    var responseSignatures: String = ResponseSignatureMode.warn.rawValue

    @Option(help: "File that keeps nonces increasing across runs.")
    var nonceState: String?

    @Option(help: "Time limit per call, in seconds.")
    var timeout = 20

    func makeClient() throws -> NetgiroClient {
        let secret: NetgiroSecret
        if sandboxSecret {
            secret = .publicSandbox
        } else if let secretFile {
            secret = try NetgiroSecret.fromFile(secretFile)
        } else {
            secret = try NetgiroSecret.fromEnvironment()
        }
        guard let mode = ResponseSignatureMode(rawValue: responseSignatures) else {
            throw ValidationError("--response-signatures must be verify, warn or off")
        }
        let configuration = try NetgiroConfiguration(
            baseURL: baseURL, appKey: appKey, secret: secret, responseSignatures: mode,
            timeouts: .uniform(.seconds(timeout)))
        var logger = Logger(label: "netgiro.api")
        logger.logLevel = .warning
        return NetgiroClient(configuration: configuration, nonces: NonceGenerator(stateFile: nonceState), logger: logger)
    }
}

enum NetgiroOutput {
    static func print(_ r: InsertCartResponse) {
        Swift.print("ResultCode \(r.resultCode)")
        Swift.print("Success \(r.success)")
        if let m = r.message { Swift.print("Message \(m)") }
        if let id = r.transactionId { Swift.print("TransactionId \(id)") }
        if let i = r.processCartCheckInterval { Swift.print("CheckInterval \(i)") }
    }

    static func print(_ r: CartResponse) {
        Swift.print("ResultCode \(r.resultCode)")
        Swift.print("Success \(r.success)")
        Swift.print("PaymentSuccessful \(r.paymentSuccessful)")
        if let m = r.message { Swift.print("Message \(m)") }
        if let p = r.paymentInfo {
            Swift.print("PaymentInfo TransactionId=\(p.transactionId ?? "-") InvoiceNumber=\(p.invoiceNumber.map(String.init) ?? "-") "
                + "Reference=\(p.referenceNumber ?? "-") StatusId=\(p.status.map { String($0.id) } ?? "-") "
                + "TotalAmount=\(p.totalAmount.map { "\($0)" } ?? "-") Created=\(p.created?.raw ?? "-")")
        }
    }

    static func withClient<T>(_ options: NetgiroConnectionOptions, _ body: (NetgiroClient) async throws -> T) async throws -> T {
        let client = try options.makeClient()
        do {
            let result = try await body(client)
            try? await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}

enum ConfirmationTypeArgument: String, ExpressibleByArgument, CaseIterable {
    case automatic, manual, serverCallback = "server-callback"
    var value: ConfirmationType {
        switch self {
        case .automatic: return .automatic
        case .manual: return .manual
        case .serverCallback: return .serverCallback
        }
    }
}

struct CartOptions: ParsableArguments {
    @Option(help: "Amount in whole krónur.")
    var amount: Int

    @Option(help: "Your reference for the sale.")
    var reference: String

    @Option(help: "The customer: GSM (7 digits), kennitala (10 digits) or AppCode.")
    var customerId: String

    @Option(help: "automatic, manual or server-callback.")
    var confirmationType: ConfirmationTypeArgument = .manual

    @Option(help: "CallbackUrl (required with server-callback).")
    var callbackUrl: String?

    @Option(help: "CallbackCancelUrl.")
    var callbackCancelUrl: String?

    @Option(help: "Description of the sale.")
    var description: String?

    var request: InsertCartRequest {
        InsertCartRequest(
            amount: amount, reference: reference,
            customerId: customerId.filter { $0 != "-" && $0 != " " },
            confirmationType: confirmationType.value, callbackUrl: callbackUrl, callbackCancelUrl: callbackCancelUrl,
            cartDescription: description)
    }
}

struct NetgiroInsertCart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "insert-cart", abstract: "InsertCart (never retried).")
    @OptionGroup var connection: NetgiroConnectionOptions
    @OptionGroup var cart: CartOptions

    func run() async throws {
        let request = cart.request
        print("InsertCart \(request)")
        let response = try await NetgiroOutput.withClient(connection) { try await $0.insertCart(request) }
        NetgiroOutput.print(response)
    }
}

struct NetgiroCheckCart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-cart", abstract: "CheckCart.")
    @OptionGroup var connection: NetgiroConnectionOptions
    @Option(help: "The cart's TransactionId.") var transactionId: String

    func run() async throws {
        NetgiroOutput.print(try await NetgiroOutput.withClient(connection) { try await $0.checkCart(transactionId: transactionId) })
    }
}

struct NetgiroConfirmCart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm-cart",
        abstract: "ConfirmCart (never retried).",
        discussion: "With --sms-code-from-stdin the SMS payment code is read from the first line of standard input (not from the command line, where other users could see it).")
    @OptionGroup var connection: NetgiroConnectionOptions
    @Option(help: "The cart's TransactionId.") var transactionId: String
    @Flag(help: "Read the SMS payment code (Identifier) from standard input.") var smsCodeFromStdin = false

    func run() async throws {
        var identifier: String?
        if smsCodeFromStdin {
            identifier = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
            guard let code = identifier, !code.isEmpty else { throw ValidationError("no SMS code on standard input") }
        }
        let response = try await NetgiroOutput.withClient(connection) {
            try await $0.confirmCart(transactionId: transactionId, identifier: identifier)
        }
        NetgiroOutput.print(response)
    }
}

struct NetgiroCancelCart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel-cart", abstract: "CancelCart (10200 means the customer paid first).")
    @OptionGroup var connection: NetgiroConnectionOptions
    @Option(help: "The cart's TransactionId.") var transactionId: String

    func run() async throws {
        NetgiroOutput.print(try await NetgiroOutput.withClient(connection) { try await $0.cancelCart(transactionId: transactionId) })
    }
}

struct NetgiroPay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pay",
        abstract: "Take one cart through the whole flow with the bridge's checkout: insert, poll, SMS code, confirm, or cancel.",
        discussion: """
            The same checkout as the daemon drives the cart (by Netgíró's result codes, CheckCart at \
            Netgíró's interval); only its journal is thrown away at the end. Asks for the SMS payment \
            code on standard input when Netgíró wants it (10428). Exit status 0 when paid, 2 otherwise.
            """)
    @OptionGroup var connection: NetgiroConnectionOptions
    @OptionGroup var cart: CartOptions
    @Option(help: "Cancel the cart after this many seconds.") var giveUpAfter = 120

    func run() async throws {
        let options = cart
        let payment = CommandLinePayment.Cart(
            amount: options.amount, reference: options.reference, customerID: options.customerId,
            confirmationType: options.confirmationType.value, description: options.description,
            callbackURL: options.callbackUrl, callbackCancelURL: options.callbackCancelUrl)
        print("InsertCart \(options.request)")
        let outcome = try await NetgiroOutput.withClient(connection) { client in
            try await CommandLinePayment.run(
                payment, gateway: client, giveUpAfter: .seconds(giveUpAfter),
                smsCode: {
                    print("SMS payment code: ", terminator: "")
                    fflush(nil)
                    // Blocks this task's thread while the person types: a one-payment command.
                    return readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces)
                },
                report: { line in
                    print(line)
                    fflush(nil)
                })
        }
        print(outcome)
        if outcome.isPaid { return }
        throw ExitCode(2)
    }
}
