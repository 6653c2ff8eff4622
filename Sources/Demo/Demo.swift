import Common
import Bridge
import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI
import PinpadFirmware
import PinpadProtocol
import NetgiroSim
import PinpadSim

/// `ngbridge demo`: one payment end to end with no hardware and no network — the Netgíró
/// simulator on loopback, a simulated PIN pad on a pty (the real firmware core), and the
/// bridge's own pieces in between: `PadTerminal` over the serial line, the checkout core, the
/// journal and the Netgíró client.
///
/// Interactive (a person at a terminal): the pad is drawn and the person keys the customer's
/// entries; the demo suggests what to type. Scripted: the demo keys them itself, as a customer
/// would, and exits with 0 only when the payment ends as expected.
public struct Demo: Sendable {
    public enum Customer: String, Sendable, CaseIterable {
        case phone, kennitala, appCode = "app-code"

        /// The sandbox identity the simulator knows.
        var identifier: String {
            switch self {
            case .phone: return NetgiroSimCustomers.acceptingGSM
            case .kennitala: return NetgiroSimCustomers.smsSSN
            case .appCode: return NetgiroSimCustomers.appCodePrefix + "1234"
            }
        }

        var explanation: String {
            switch self {
            case .phone: return "phone number \(identifier): the customer accepts in the Netgíró app"
            case .kennitala: return "kennitala \(identifier): Netgíró sends an SMS code, the customer keys it on the pad"
            case .appCode: return "app code \(identifier): the number under the barcode in the customer's app"
            }
        }
    }

    public var customer: Customer = .phone
    public var confirmation: ConfirmationType = .manual
    public var amount = 4990
    public var interactive = false
    public var linkPath: String?

    public init() {}

    /// Runs the demo; returns the process exit code (0: paid).
    public func run(say: @escaping @Sendable (String) -> Void) async -> Int32 {
        var logger = Logger(label: "ngbridge.demo")
        logger.logLevel = .warning
        let work = NSTemporaryDirectory() + "ngbridge-demo-\(getpid())"
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        // 1. Netgíró and 2. the PIN pad, simulated (the pad: the firmware core behind a pty).
        var quiet = logger
        quiet.logLevel = .critical  // the simulator's shutdown chatter is not for the demo's audience
        let padPath = linkPath ?? (work + "/pinpad0")
        guard let simulated = await DemoSimulators.start(
            acceptDelay: .seconds(interactive ? 4 : 2), logger: quiet, padPath: padPath, say: say)
        else { return 2 }
        let (netgiro, pad, smsCodes) = (simulated.netgiro, simulated.pad, simulated.smsCodes)
        let callbacks: NetgiroCallbackReceiver? =
            confirmation == .serverCallback ? try? await NetgiroCallbackReceiver.start(logger: quiet) : nil

        // 3. The bridge: pad terminal, journal, Netgíró client, payment runner.
        let terminal = PadTerminal(terminalID: "DEMO-PAD")
        let hello = HostHello(hostName: Array("ngbridge demo".utf8))
        let client: NetgiroClient
        let journal: PaymentJournal
        do {
            let configuration = try NetgiroConfiguration(
                baseURL: netgiro.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
                responseSignatures: .verify)
            client = NetgiroClient(configuration: configuration, logger: logger)
            journal = try PaymentJournal(path: work + "/journal.sqlite")
        } catch {
            say("cannot set up the bridge: \(error)")
            pad.stop()
            await netgiro.shutdown()
            return 2
        }
        let runner = PaymentRunner(gateway: client, journal: journal, logger: logger)

        let ui = interactive ? PinpadTerminalUI(pad: pad) : nil
        let post: @Sendable (String) -> Void = { text in
            if let ui { ui.post(text) } else { say(text) }
        }
        post("Netgíró simulator at \(netgiro.baseURL); PIN pad at \(padPath)")
        post("Customer: \(customer.explanation)")
        post("Confirmation: \(Self.name(confirmation)); amount \(amount) kr.")

        let outcome = await withTaskGroup(of: PaymentOutcome?.self) { group -> PaymentOutcome? in
            // The bridge's end of the pad's line, open until the demo ends (it never ends by
            // itself, so `next()` below gives the payment's end or the UI's).
            group.addTask {
                await PadLine.keepOpen(path: padPath, terminal: terminal, hello: hello)
                return nil
            }
            group.addTask {
                guard await pad.waitForLink(up: true, timeout: .seconds(20)) else {
                    post("the bridge did not link with the pad")
                    return nil
                }
                let request = PaymentRequest(
                    amount: amount, reference: "DEMO-\(Int(Date().timeIntervalSince1970))", description: "Demo",
                    confirmationType: confirmation, terminalID: terminal.terminalID,
                    callbackUrl: callbacks?.callbackURL, callbackCancelUrl: callbacks?.cancelURL)
                let payment: PaymentHandle
                do {
                    payment = try await runner.start(request, terminal: terminal)
                } catch {
                    post("the payment could not start: \(error)")
                    return nil
                }
                // Unstructured: cancelled, not awaited — its waits on the pad (up to 30 s) do
                // not end on cancellation.
                let customerKeys: Task<Void, Never>? = interactive ? nil : Task { await self.keyAsCustomer(pad: pad, smsCodes: smsCodes, post: post) }
                if interactive {
                    post("On the pad: type \(customer.identifier) and press Enter.")
                }
                var lastPhase: PaymentPhase?
                for await record in payment.updates() where record.phase != lastPhase {
                    lastPhase = record.phase
                    post("payment \(record.phase.rawValue)" + Self.detail(record))
                    if interactive, record.phase == .awaitingSMSCode, let code = await smsCodes.take(timeout: .seconds(5)) {
                        post("SMS to the customer: your Netgíró payment code is \(code). Type it on the pad.")
                    }
                }
                customerKeys?.cancel()
                return await payment.outcome()
            }
            if let ui {
                group.addTask {
                    await ui.run()  // returns when the person quits
                    return nil
                }
            }
            let first = await group.next() ?? nil
            if interactive, first != nil {
                ui?.post("Done — press q to leave.")
                _ = await group.next()
            }
            group.cancelAll()
            return first
        }

        pad.stop()
        await pad.waitUntilStopped()
        await callbacks?.shutdown()
        try? await client.shutdown()
        let ledger = netgiro.ledger()
        await netgiro.shutdown()

        guard let outcome else {
            say("the demo ended before the payment finished")
            return 1
        }
        say("")
        say("Outcome: \(outcome.state.rawValue), \(outcome.amount) kr., reference \(outcome.reference)")
        if let id = outcome.transactionId { say("  Netgíró TransactionId \(id)") }
        if let invoice = outcome.invoiceNumber { say("  InvoiceNumber \(invoice) (for the receipt)") }
        if let message = outcome.lastMessage { say("  \(message)") }
        say("  Netgíró simulator ledger: \(ledger.count) cart(s)")
        return outcome.state == .paid ? 0 : 1
    }

    /// The customer at the pad, for scripted runs: waits for each prompt and keys the entry.
    func keyAsCustomer(pad: PinpadSimulator, smsCodes: DemoMailbox, post: @Sendable (String) -> Void) async {
        guard let prompt = await pad.waitForPrompt(.customerID, timeout: .seconds(30)) else { return }
        try? await Task.sleep(for: .milliseconds(400))
        post("customer types \(PersonalData.mask(customer.identifier)) and presses OK")
        pad.type(customer.identifier)
        pad.press(.ok)
        guard customer == .kennitala else { return }
        guard await pad.waitForPrompt(.smsCode, after: prompt.serial, timeout: .seconds(30)) != nil,
            let code = await smsCodes.take(timeout: .seconds(10))
        else { return }
        post("SMS to the customer: your Netgíró payment code is \(code).")
        try? await Task.sleep(for: .milliseconds(400))
        post("customer types the SMS code and presses OK")
        pad.type(code)
        pad.press(.ok)
    }

    static func name(_ type: ConfirmationType) -> String {
        switch type {
        case .automatic: return "automatic"
        case .manual: return "manual (the bridge captures the reservation with ConfirmCart)"
        case .serverCallback: return "server callback"
        }
    }

    static func detail(_ record: PaymentRecord) -> String {
        var parts: [String] = []
        if let masked = record.customerMasked { parts.append("customer \(masked)") }
        if let id = record.transactionId { parts.append("TransactionId \(id)") }
        if let message = record.lastMessage, record.phase.isFinal { parts.append(message) }
        return parts.isEmpty ? "" : " — " + parts.joined(separator: ", ")
    }
}

/// The two simulators both demos run: Netgíró on loopback, whose "sent" SMS codes land in a
/// mailbox for the scripted customer, and the PIN pad on a pty.
struct DemoSimulators {
    let netgiro: NetgiroSimulator
    let pad: PinpadSimulator
    let smsCodes: DemoMailbox

    /// Starts both, or says what failed (and stops what had started) and returns nil.
    static func start(
        acceptDelay: Duration, logger: Logger, padPath: String, say: @Sendable (String) -> Void
    ) async -> DemoSimulators? {
        var options = NetgiroSimulator.Options()
        options.core.customers = NetgiroSimCustomers(acceptDelay: acceptDelay)
        options.core.checkInterval = .milliseconds(800)
        options.logger = logger
        let smsCodes = DemoMailbox()
        options.events = { line in
            if let range = line.range(of: "sandbox SMS payment code ") {
                smsCodes.put(String(line[range.upperBound...].prefix { $0.isNumber }))
            }
        }
        let netgiro: NetgiroSimulator
        do {
            netgiro = try await NetgiroSimulator.start(options)
        } catch {
            say("cannot start the Netgíró simulator: \(error)")
            return nil
        }
        let pad: PinpadSimulator
        do {
            pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: padPath))
        } catch {
            say("cannot start the PIN-pad simulator: \(error)")
            await netgiro.shutdown()
            return nil
        }
        pad.start()
        return DemoSimulators(netgiro: netgiro, pad: pad, smsCodes: smsCodes)
    }
}

/// SMS codes the Netgíró simulator "sent", for the customer to read.
final class DemoMailbox: Sendable {
    /// Lock: put from the Netgíró simulator's event lines, taken by the customer's task.
    private let codes = Locked<[String]>([])

    func put(_ code: String) { codes.withLock { $0.append(code) } }

    func take(timeout: Duration) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = codes.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return code }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}
