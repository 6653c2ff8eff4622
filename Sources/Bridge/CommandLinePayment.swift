import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI

/// One payment from the command line (`ngbridge netgiro pay`), driven by the same ``Checkout``
/// and ``PaymentRunner`` as the daemon — one flow for Netgíró's result codes, not a second one:
/// 10200 from InsertCart and 10203 after ConfirmCart are read as the checkout reads them (CheckCart
/// decides), CheckCart keeps to Netgíró's interval, an InsertCart without an answer is never sent
/// again as if nothing happened. The journal is a throwaway file (the command does not survive a
/// restart; the daemon does). The customer's identifier is given up front; the SMS payment code
/// is asked for when Netgíró wants it (10428).
public enum CommandLinePayment {
    public struct Cart: Sendable {
        public var amount: Int
        public var reference: String
        /// GSM, kennitala or app code, in clear (sent to Netgíró only; printed masked).
        public var customerID: String
        public var confirmationType: ConfirmationType
        public var description: String?
        public var callbackURL: String?
        public var callbackCancelURL: String?

        public init(
            amount: Int, reference: String, customerID: String, confirmationType: ConfirmationType, description: String? = nil,
            callbackURL: String? = nil, callbackCancelURL: String? = nil
        ) {
            self.amount = amount
            self.reference = reference
            self.customerID = customerID
            self.confirmationType = confirmationType
            self.description = description
            self.callbackURL = callbackURL
            self.callbackCancelURL = callbackCancelURL
        }
    }

    /// How the payment ended.
    public struct Outcome: Sendable, Hashable, CustomStringConvertible {
        /// `paid`, `declined`, `cancelled`, `failed`, `unknown` (or a phase, if the journal failed).
        public var state: String
        public var isPaid: Bool
        public var transactionId: String?
        public var invoiceNumber: Int?
        public var message: String?
        public var failureReason: String?

        public var description: String {
            var text = state
            if let transactionId { text += " (TransactionId \(transactionId)" + (invoiceNumber.map { ", InvoiceNumber \($0)" } ?? "") + ")" }
            if let failureReason { text += " [\(failureReason)]" }
            if let message { text += " — \(message)" }
            return text
        }
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case invalidRequest(String)
        case journal(String)

        public var description: String {
            switch self {
            case .invalidRequest(let why): return "the payment cannot be run: \(why)"
            case .journal(let why): return "the payment was not started: \(why)"
            }
        }
    }

    /// Runs the payment to its end.
    /// - Parameters:
    ///   - giveUpAfter: the checkout's deadline; then the cart is cancelled (10200 to CancelCart: paid).
    ///   - smsCode: the SMS payment code, when Netgíró asks for one (nil or empty: the customer cancels).
    ///   - report: one line per change of the payment, customer data masked.
    public static func run(
        _ cart: Cart, gateway: any PaymentGateway, giveUpAfter: Duration = .seconds(120),
        smsCode: @escaping @Sendable () async -> String?, report: @escaping @Sendable (String) -> Void
    ) async throws(Failure) -> Outcome {
        let request = PaymentRequest(
            amount: cart.amount, reference: cart.reference, description: cart.description, confirmationType: cart.confirmationType,
            terminalID: LineTerminal.id, callbackUrl: cart.callbackURL, callbackCancelUrl: cart.callbackCancelURL)
        let directory = NSTemporaryDirectory() + "ngbridge-netgiro-pay-\(UUID().uuidString)"
        let journal: PaymentJournal
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            journal = try PaymentJournal(path: directory + "/journal.sqlite")
        } catch {
            throw .journal("cannot open a journal in \(directory): \(error)")
        }
        defer {
            try? journal.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        var configuration = Checkout.Configuration()
        configuration.deadline = giveUpAfter
        configuration.outcomeDisplay = .zero
        var quiet = Logger(label: "ngbridge.netgiro-pay")
        quiet.logLevel = .warning
        let runner = PaymentRunner(gateway: gateway, journal: journal, configuration: configuration, logger: quiet)
        let handle: PaymentHandle
        do {
            handle = try await runner.start(
                request, terminal: LineTerminal(customerID: cart.customerID, smsCode: smsCode, report: report))
        } catch {
            if case .invalidRequest(let problem) = error { throw .invalidRequest(problem.description) }
            throw .journal(error.description)
        }
        var last: PaymentPhase?
        for await record in handle.updates() where record.phase != last {
            last = record.phase
            var line = record.phase.rawValue
            if let id = record.transactionId { line += " (TransactionId \(id))" }
            if let code = record.lastResultCode { line += ", Netgíró \(ResultCode(code: code))" }
            report(line)
        }
        let record = await handle.finalRecord()
        return Outcome(
            state: record.phase.rawValue, isPaid: record.phase == .paid, transactionId: record.transactionId,
            invoiceNumber: record.invoiceNumber, message: record.lastMessage, failureReason: record.failureReason?.rawValue)
    }
}

/// The command line as the customer's terminal: the identifier was given up front (a refused
/// one is not asked for again), the SMS code is asked for, screens are reported.
struct LineTerminal: AskingTerminal {
    static let id = "command-line"
    let terminalID = LineTerminal.id
    let promptTasks = PromptTasks()
    let customerID: String
    let smsCode: @Sendable () async -> String?
    let report: @Sendable (String) -> Void

    func show(_ screen: CustomerScreen) async {
        switch screen {
        case .confirmInApp: report("the customer confirms in the Netgíró app")
        case .idle, .working, .paid, .declined, .cancelled, .outcomeUnknown, .outOfService: break
        }
    }

    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        switch prompt.kind {
        case .customerID:
            guard prompt.hint == .none else {
                report("\(PersonalData.mask(customerID)) is not a phone number (7 digits), kennitala or app code (10 digits)")
                return .cancelledByCustomer
            }
            return .entered(customerID)
        case .smsCode:
            if prompt.hint == .wrongCode { report("Netgíró refused the SMS payment code") }
            guard let code = await smsCode(), !code.isEmpty else { return .cancelledByCustomer }
            return .entered(code)
        }
    }
}
