import Bridge
import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI
import PinpadProtocol
import NetgiroSim
import PinpadSim
import Testing

/// A whole payment with the pad's real firmware on the emulated MCU: the bridge's own pieces
/// (`PadTerminal` over the pty, the payment runner, the journal, the Netgíró client) against the
/// Netgíró simulator on loopback, and the customer keying their phone number through the
/// firmware's debug channel.
@Suite(
    .enabled(if: QEMUPad.qemu != nil, "qemu-system-arm is not installed (apt-get install qemu-system-arm)"),
    .enabled(if: QEMUPad.imageExists, "no firmware image at \(QEMUPad.image) — build it with `make firmware`"),
    .timeLimit(.minutes(2)))
struct PaymentThroughQEMUTests {
    @Test func customerPaysWithTheirPhoneNumber() async throws {
        var logger = Logger(label: "qemu-payment-test")
        logger.logLevel = .critical
        var simulatorOptions = NetgiroSimulator.Options()
        simulatorOptions.core.customers = NetgiroSimCustomers(acceptDelay: .milliseconds(200))
        simulatorOptions.core.checkInterval = .milliseconds(200)
        simulatorOptions.logger = logger
        let netgiro = try await NetgiroSimulator.start(simulatorOptions)
        let work = NSTemporaryDirectory() + "ngbridge-qemu-payment-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let padPath = work + "/pinpad0"
        let pad = try await PinpadQEMU.start(PinpadQEMU.Configuration(image: QEMUPad.image, linkPath: padPath))

        let terminal = PadTerminal(terminalID: "QEMU-PAD")
        let line = Task {
            await PadLine.keepOpen(path: padPath, terminal: terminal, hello: HostHello(hostName: Array("qemu-test".utf8)))
        }
        let client = NetgiroClient(
            configuration: try NetgiroConfiguration(
                baseURL: netgiro.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
                responseSignatures: .verify),
            logger: logger)
        var outcome: PaymentOutcome?
        var failure: Error?
        do {
            let runner = PaymentRunner(gateway: client, journal: try PaymentJournal(path: work + "/journal.sqlite"), logger: logger)
            let payment = try await runner.start(
                PaymentRequest(amount: 4990, reference: "QEMU-1", confirmationType: .manual, terminalID: terminal.terminalID),
                terminal: terminal)
            // The customer: waits for the customer-id prompt on the pad's screen, keys the number.
            try await waitForPrompt(.customerID, on: pad)
            try await pad.console.press("8223281O")
            outcome = await payment.outcome()
        } catch {
            failure = error
        }

        line.cancel()
        await line.value
        await pad.stop()
        try? await client.shutdown()
        let ledger = netgiro.ledger()
        await netgiro.shutdown()
        try? FileManager.default.removeItem(atPath: work)
        #expect(!pad.isRunning)
        if let failure { throw failure }

        let paid = try #require(outcome)
        #expect(paid.state == .paid)
        #expect(paid.amount == 4990)
        #expect(paid.transactionId != nil)
        #expect(ledger.count == 1)
    }

    /// Polls the pad's state until the prompt is open; a guard, not a timing assertion.
    private func waitForPrompt(_ prompt: PromptID, on pad: PinpadQEMU) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await pad.console.state().prompt != prompt.rawValue {
            guard ContinuousClock.now < deadline else { throw TestFailure("the pad never showed prompt \(prompt.rawValue)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
