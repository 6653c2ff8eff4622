import Common
import Bridge
import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI
import PinpadFirmware
import PinpadProtocol
import LineFaults
import NetgiroSim
import PinpadSim

/// `ngbridge soak`: many payments one after another through the real stack — the Netgíró
/// simulator with its faults, a simulated pad whose line drops, damages and repeats bytes and is
/// unplugged mid-payment, the bridge's `PadTerminal`, journal, client and runner — then the
/// journal is audited against the simulator's ledger (see `SoakReport`).
public struct Soak: Sendable {
    public var options: SoakOptions

    public init(options: SoakOptions) { self.options = options }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> SoakReport {
        let started = ContinuousClock.now
        var logger = Logger(label: "ngbridge.soak")
        logger.logLevel = .critical
        let work = NSTemporaryDirectory() + "ngbridge-soak-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        // Netgíró, simulated, with its faults; captures counted from its event lines.
        // Lock: counted from the simulator's event lines (its request handlers), read at the end.
        let captures = Locked<[String: Int]>([:])
        var simOptions = NetgiroSimulator.Options()
        simOptions.seed = options.seed
        simOptions.faults = options.netgiroFaults
        simOptions.core.customers = NetgiroSimCustomers(acceptDelay: options.acceptDelay)
        simOptions.core.checkInterval = .milliseconds(500)
        simOptions.logger = logger
        simOptions.events = { line in
            guard line.hasSuffix(": ConfirmCart: paid"), let start = line.range(of: "cart ") else { return }
            let id = String(line[start.upperBound...].prefix { $0 != ":" })
            captures.withLock { $0[id, default: 0] += 1 }
        }
        let netgiro = try await NetgiroSimulator.start(simOptions)
        // ServerCallback POSTs are answered as the daemon's listener answers them: by the
        // payment's checkout (200 only for a cart a running payment holds; an orphan is refused
        // and Netgíró cancels it). The runner exists only below, so it is reached through a box
        // (a lock: the callback handlers read it from any task).
        let runnerBox = Locked<PaymentRunner?>(nil)
        let callbacks = try? await NetgiroCallbackReceiver.start(logger: logger, decide: { cart in
            guard let runner = runnerBox.withLock({ $0 }) else { return false }
            return await runner.callbackReceived(cart)
        })

        // The pad, simulated, with faults on what it writes.
        let padPath = work + "/pinpad0"
        let pad: PinpadSimulator
        do {
            pad = try PinpadSimulator(options: PinpadSimulatorOptions(
                linkPath: padPath, faults: options.lineFaults, seed: options.seed))
        } catch {
            await netgiro.shutdown()
            throw error
        }
        pad.start()

        // The bridge.
        let configuration = try NetgiroConfiguration(
            baseURL: netgiro.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
            responseSignatures: .verify)
        let client = NetgiroClient(configuration: configuration, logger: logger)
        let journal = try PaymentJournal(path: work + "/journal.sqlite")
        var checkoutConfiguration = Checkout.Configuration()
        checkoutConfiguration.deadline = options.paymentDeadline
        checkoutConfiguration.outcomeDisplay = .milliseconds(200)
        let runner = PaymentRunner(gateway: client, journal: journal, configuration: checkoutConfiguration, logger: logger)
        runnerBox.withLock { $0 = runner }
        let terminal = PadTerminal(terminalID: "SOAK-PAD", reconnectGrace: .seconds(10))
        let statuses = SoakStatusLog()
        let statusStream = await terminal.statusUpdates()
        let hello = HostHello(hostName: Array("ngbridge soak".utf8))

        var random = SeededRandom.soak(seed: options.seed)
        let unplugAt = Set(Self.choose(min(options.unplugs, options.payments), of: options.payments, random: &random))
        var report = SoakReport()
        var ids: [String] = []
        var unplugDetections: [Int] = []

        // The terminal's link reports are counted until the pad has stopped; the bridge keeps
        // the pad's line open until the payments and the probe are done.
        await withDiscardingTaskGroup { statusListener in
            statusListener.addTask { for await status in statusStream { statuses.add(status) } }
            await withDiscardingTaskGroup { line in
                line.addTask {
                    await PadLine.keepOpen(path: padPath, terminal: terminal, hello: hello, retryInterval: .milliseconds(200))
                }
                _ = await pad.waitForLink(up: true, timeout: .seconds(10))
                for index in 0..<options.payments {
                    let customer = Demo.Customer.allCases[index % 3]
                    let confirmation: ConfirmationType = [.manual, .automatic, .serverCallback][(index / 3) % 3]
                    let identifier = customer == .appCode
                        ? NetgiroSimCustomers.appCodePrefix + String(format: "%04d", index % 10_000) : customer.identifier
                    let amount = 1_000 + random.below(99_000)
                    let request = PaymentRequest(
                        amount: amount, reference: "SOAK-\(options.seed)-\(index + 1)", description: "Soak \(index + 1)",
                        confirmationType: confirmation, terminalID: terminal.terminalID,
                        callbackUrl: confirmation == .serverCallback ? callbacks?.callbackURL : nil,
                        callbackCancelUrl: confirmation == .serverCallback ? callbacks?.cancelURL : nil)
                    // The pad may still be coming back from a fault; a payment starts on a linked pad.
                    _ = await pad.waitForLink(up: true, timeout: .seconds(10))
                    let firstSerial = pad.snapshot.promptsOpened
                    let payment: PaymentHandle
                    do {
                        payment = try await runner.start(request, terminal: terminal)
                    } catch {
                        progress("payment \(index + 1): could not start: \(error)")
                        continue
                    }
                    ids.append(payment.id)
                    let paymentStarted = ContinuousClock.now
                    // Unstructured: cancelled, not awaited — its wait on the pad (up to 500 ms) does
                    // not end on cancellation, and the next payment need not wait for it.
                    let customerTask = Task {
                        await Self.keyAsCustomer(payment: payment, identifier: identifier, after: firstSerial, pad: pad, netgiro: netgiro)
                    }
                    let unplug = unplugAt.contains(index)
                        ? SoakUnplug(before: random.between(0...150), away: random.between(100...1_500)) : nil
                    async let unplugDetection = unplug?.run(payment: payment, after: firstSerial, pad: pad, statuses: statuses)
                    let finished = await Self.waitFinished(payment, limit: options.paymentDeadline + .seconds(30))
                    if !finished { payment.cancel(); _ = await Self.waitFinished(payment, limit: .seconds(30)) }
                    customerTask.cancel()
                    if unplug != nil {
                        report.unplugs += 1
                        if let ms = await unplugDetection ?? nil { unplugDetections.append(ms) } else { report.unplugs -= 1 }
                    }
                    let record = payment.record
                    progress("payment \(index + 1)/\(options.payments): \(customer.rawValue), \(Demo.name(confirmation).prefix { $0 != " " }), "
                        + "\(amount) kr. → \(record.phase.rawValue) in \(Self.milliseconds(ContinuousClock.now - paymentStarted)) ms")
                }

                // Dead-line measurement on a pad that stops writing (a separate pad and terminal).
                if options.silenceProbe {
                    report.silenceDetectionMilliseconds = await Self.silenceProbe(directory: work)
                }

                line.cancelAll()
            }
            pad.stop()
            await pad.waitUntilStopped()
            statusListener.cancelAll()
        }
        await netgiro.settle()
        let ledger = netgiro.ledger()
        await callbacks?.shutdown()
        try? await client.shutdown()
        await netgiro.shutdown()

        var records: [PaymentRecord] = []
        for id in ids {
            if let record = try await journal.payment(id: id) { records.append(record) }
        }
        report.audit(records: records, ledger: ledger, captures: captures.withLock { $0 })
        report.unplugDetectionMilliseconds = unplugDetections
        report.linkDownReports = statuses.downCount
        report.seconds = Double(Self.milliseconds(ContinuousClock.now - started)) / 1000
        try? journal.close()
        return report
    }

    /// The customer at the pad: answers every prompt this payment opens, until it ends. The
    /// kennitala customer reads the SMS code from the simulator.
    static func keyAsCustomer(
        payment: PaymentHandle, identifier: String, after firstSerial: Int, pad: PinpadSimulator, netgiro: NetgiroSimulator
    ) async {
        var last = firstSerial
        while !Task.isCancelled, !payment.record.isFinished {
            let seen = last
            guard let prompt = await pad.wait(timeout: .milliseconds(500), until: { snapshot in
                guard let p = snapshot.prompt, p.serial > seen else { return false }
                return !payment.record.isFinished
            })?.prompt else { continue }
            last = prompt.serial
            try? await Task.sleep(for: .milliseconds(30))
            if prompt.id == .customerID {
                pad.type(identifier)
                pad.press(.ok)
            } else if prompt.id == .smsCode {
                var code: String?
                for _ in 0..<100 where code == nil && !Task.isCancelled {
                    if let id = payment.record.transactionId { code = netgiro.smsCode(for: id) }
                    if code == nil { try? await Task.sleep(for: .milliseconds(50)) }
                }
                guard let code else { continue }
                pad.type(code)
                pad.press(.ok)
            }
        }
    }

    static func waitFinished(_ payment: PaymentHandle, limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if payment.record.isFinished { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return payment.record.isFinished
    }

    /// A pad that stops writing after it linked: milliseconds from its last byte to the
    /// terminal reporting the link down.
    static func silenceProbe(directory: String) async -> Int? {
        let silentAfter: UInt64 = 1_500
        var faults = PinpadFaults()
        faults.silentAfterMilliseconds = silentAfter
        let path = directory + "/pinpad-silent"
        guard let pad = try? PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, faults: faults)) else { return nil }
        let terminal = PadTerminal(terminalID: "SOAK-SILENT")
        let statuses = SoakStatusLog()
        let stream = await terminal.statusUpdates()
        let silentFrom = ContinuousClock.now + .milliseconds(Int(silentAfter))
        let down = await withDiscardingTaskGroup { group in
            group.addTask { for await status in stream { statuses.add(status) } }
            pad.start()
            group.addTask {
                await PadLine.keepOpen(
                    path: path, terminal: terminal, hello: HostHello(hostName: Array("ngbridge soak".utf8)),
                    retryInterval: .milliseconds(100))
            }
            let down = await statuses.firstDown(after: silentFrom, timeout: .seconds(15))
            group.cancelAll()
            return down
        }
        pad.stop()
        await pad.waitUntilStopped()
        return down.map { milliseconds($0 - silentFrom) }
    }

    static func choose(_ count: Int, of total: Int, random: inout SeededRandom) -> [Int] {
        var pool = Array(0..<total)
        var chosen: [Int] = []
        for _ in 0..<count where !pool.isEmpty { chosen.append(pool.remove(at: random.below(pool.count))) }
        return chosen
    }

    static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// A cable pull in the middle of a payment: while the pad asks the customer for their
/// identifier, `before` ms after the prompt opens; the cable stays out `away` ms after the
/// terminal saw it go.
struct SoakUnplug {
    var before: Int
    var away: Int

    /// Milliseconds from the pull to the terminal reporting the link down; nil when the payment
    /// ended first or no report came.
    func run(payment: PaymentHandle, after firstSerial: Int, pad: PinpadSimulator, statuses: SoakStatusLog) async -> Int? {
        _ = await pad.wait(timeout: .seconds(10)) { ($0.prompt?.serial ?? 0) > firstSerial }
        try? await Task.sleep(for: .milliseconds(before))
        guard !payment.record.isFinished else { return nil }
        let at = ContinuousClock.now
        pad.unplug()
        let seen = await statuses.firstDown(after: at, timeout: .seconds(5))
        try? await Task.sleep(for: .milliseconds(away))
        pad.replug()
        return seen.map { Soak.milliseconds($0 - at) }
    }
}

/// Link status reports with the time each arrived.
final class SoakStatusLog: Sendable {
    /// Lock: added by the status listener, read by the payments' loop and the cable pulls.
    private let entries = Locked<[(at: ContinuousClock.Instant, down: Bool)]>([])

    func add(_ status: PadTerminal.TerminalStatus) {
        let down: Bool
        switch status {
        case .linkUp: down = false
        case .linkDown, .lineClosed, .incompatible: down = true
        }
        entries.withLock { $0.append((ContinuousClock.now, down)) }
    }

    var downCount: Int { entries.withLock { $0.filter(\.down).count } }

    /// The first link-down report at or after `instant`, waiting up to `timeout` for it.
    func firstDown(after instant: ContinuousClock.Instant, timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let hit = entries.withLock({ $0.first { $0.down && $0.at >= instant }?.at }) { return hit }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
