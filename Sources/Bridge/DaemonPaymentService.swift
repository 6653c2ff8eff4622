import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI

/// The till API's payments on the real thing: ``PaymentRunner`` (checkout + journal + Netgíró)
/// and the daemon's terminal sessions.
///
/// It adds what the till needs on top of the runner: choosing the terminal (one at a time per
/// pad), the event stream of each payment (state changes from the runner; prompts and screens
/// from the terminal, without what the customer keyed), idempotency checks on the body, and
/// metrics and one log line per state change.
public actor DaemonPaymentService: PaymentService {
    public struct Settings: Sendable {
        public var defaultConfirmation: ConfirmationType = .manual
        /// Netgíró's `CallbackUrl` for ServerCallback; nil when no callback listener is configured.
        public var callbackURL: String?
        /// How long a payment recovered at start waits for its pad to come back (the pad is
        /// usually found and linked a moment after the daemon starts) before it counts as gone.
        public var recoveryGrace: Duration

        public init(defaultConfirmation: ConfirmationType = .manual, callbackURL: String? = nil, recoveryGrace: Duration = .seconds(30)) {
            self.defaultConfirmation = defaultConfirmation
            self.callbackURL = callbackURL
            self.recoveryGrace = recoveryGrace
        }
    }

    final class EventLog: @unchecked Sendable {
        // Touched only from the service actor.
        var events: [TillPaymentEvent] = []
        var listeners: [AsyncStream<TillPaymentEvent>.Continuation] = []
        var finished = false
    }

    let runner: PaymentRunner
    let terminals: any PaymentTerminals
    let settings: Settings
    let metrics: TillAPIMetrics?
    let logger: Logger
    private var logs: [String: EventLog] = [:]
    private var cancelRequested: Set<String> = []
    private var busy: [String: String] = [:]  // terminal → payment
    private var shuttingDown = false

    public init(runner: PaymentRunner, terminals: any PaymentTerminals, settings: Settings, metrics: TillAPIMetrics?, logger: Logger) {
        self.runner = runner
        self.terminals = terminals
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    /// Resumes the journal's unfinished payments (at start, before the API opens).
    public func recover() async throws(JournalError) -> [String] {
        // At start the pads are usually not linked yet: a recovered payment gets its pad as
        // soon as it appears, rather than failing for want of it.
        let terminals = self.terminals
        let grace = settings.recoveryGrace
        let handles = try await runner.recover { id in
            AwaitedTerminal(terminalID: id, grace: grace) { await terminals.terminal(id) }
        }
        for handle in handles {
            busy[handle.record.request.terminalID] = handle.id
            follow(handle)
        }
        return handles.map(\.id)
    }

    /// No new payments from now on (SIGTERM): running ones go on to their outcome or are journaled.
    public func stopTakingPayments() { shuttingDown = true }

    // MARK: - PaymentService

    public func start(_ request: TillPaymentRequest, idempotencyKey: String?) async throws(PaymentServiceError) -> PaymentStart {
        if shuttingDown { throw .shuttingDown }
        // An idempotency key seen before: that payment, whatever the pads are doing now.
        if let idempotencyKey, let earlier = try? runner.journal.payment(idempotencyKey: idempotencyKey) {
            guard Self.sameRequest(earlier.request, request, defaultConfirmation: settings.defaultConfirmation) else {
                throw .idempotencyKeyReused
            }
            return PaymentStart(payment: view(earlier), replayed: true)
        }
        let terminalID: String
        if let named = request.terminal {
            guard await terminals.terminal(named) != nil else { throw .noSuchTerminal(named) }
            terminalID = named
        } else {
            let online = await terminals.onlineIDs()
            guard online.count == 1 else { throw .terminalRequired(available: online) }
            terminalID = online[0]
        }
        guard await terminals.onlineIDs().contains(terminalID), let pad = await terminals.terminal(terminalID) else {
            throw .terminalOffline(terminalID)
        }
        if let other = busy[terminalID] { throw .terminalBusy(terminal: terminalID, payment: other) }

        let confirmation = request.confirmation?.netgiro ?? settings.defaultConfirmation
        if confirmation == .serverCallback, settings.callbackURL == nil {
            throw .confirmationUnavailable(.serverCallback, reason: "no callback listener is configured (callback.listen, callback.public-url)")
        }
        let lines = (request.items ?? []).map { item in
            PaymentLine(
                productNo: item.productNo ?? "", name: item.name, unitPrice: item.unitPrice, amount: item.unitPrice * item.quantity,
                quantity: item.quantity * 1000)
        }
        let checkoutRequest = PaymentRequest(
            amount: request.amount, reference: request.reference, description: request.description, lines: lines,
            confirmationType: confirmation, terminalID: terminalID,
            callbackUrl: confirmation == .serverCallback ? settings.callbackURL : nil)
        if let problem = checkoutRequest.problem { throw Self.invalid(problem) }

        let id = UUID().uuidString.lowercased()
        let log = EventLog()
        logs[id] = log
        let observed = ObservedTerminal(inner: pad) { [weak self] kind, text in
            Task { await self?.note(id, kind: kind, text: text) }
        }
        let handle: PaymentHandle
        do {
            handle = try await runner.start(checkoutRequest, terminal: observed, idempotencyKey: idempotencyKey, id: id)
        } catch {
            logs[id] = nil
            switch error {
            case .invalidRequest(let problem): throw Self.invalid(problem)
            case .referenceInFlight(let reference, let other):
                throw .invalidRequest(
                    field: "reference", rule: "one-payment-per-reference-in-flight",
                    detail: "a payment for reference \(reference) is in flight (payment \(other)); wait for its outcome or cancel it")
            case .journal(let e): throw .internalError("the journal could not record the payment: \(e)")
            }
        }
        if handle.id != id {  // a concurrent request with the same key won the race
            logs[id] = nil
            return PaymentStart(payment: view(handle.record), replayed: true)
        }
        busy[terminalID] = id
        follow(handle)
        return PaymentStart(payment: view(handle.record), replayed: false)
    }

    public func payment(id: String) async -> TillPayment? {
        guard let handle = await runner.payment(id: id) else { return nil }
        return view(handle.record)
    }

    public func events(id: String) async -> AsyncStream<TillPaymentEvent>? {
        let log: EventLog
        if let existing = logs[id] {
            log = existing
        } else {
            // A payment from before this process (recovered or finished): its state now, then what follows.
            guard let handle = await runner.payment(id: id) else { return nil }
            log = EventLog()
            logs[id] = log
            append(id, log, TillPaymentEvent(sequence: 1, kind: .state, state: Self.state(handle.record.phase)))
            if handle.record.isFinished {
                append(id, log, TillPaymentEvent(sequence: 2, kind: .outcome, state: Self.state(handle.record.phase), payment: view(handle.record)))
            }
        }
        let (stream, continuation) = AsyncStream.makeStream(of: TillPaymentEvent.self, bufferingPolicy: .unbounded)
        for event in log.events { continuation.yield(event) }
        if log.finished {
            continuation.finish()
        } else {
            log.listeners.append(continuation)
        }
        return stream
    }

    public func cancel(id: String) async throws(PaymentServiceError) -> TillPayment {
        guard let handle = await runner.payment(id: id) else { throw .noSuchPayment(id) }
        let record = handle.record
        if record.isFinished {
            if record.phase == .cancelled { return view(record) }
            throw .alreadyFinal(view(record))
        }
        cancelRequested.insert(id)
        await runner.cancel(paymentID: id)
        logger.info("cancel requested by the till", metadata: ["payment": "\(id)", "terminal": "\(record.request.terminalID)"])
        let current = view(handle.record)
        if let log = logs[id], !current.final {
            append(id, log, TillPaymentEvent(sequence: log.events.count + 1, kind: .state, state: .cancelRequested))
        }
        return current
    }

    public func terminals() async -> [TillTerminal] {
        await terminals.list().map { terminal in
            var t = terminal
            t.payment = busy[t.id]
            return t
        }
    }

    public func payments(_ query: TillPaymentQuery) async throws(PaymentServiceError) -> TillPaymentPage {
        let journalQuery = PaymentJournal.Query(
            reference: query.reference, phases: query.state.map { state in PaymentPhase.allCases.filter { Self.state($0) == state } },
            terminalID: query.terminal, from: query.from, to: query.to, limit: query.limit,
            after: query.cursor.map { PaymentJournal.Position(createdAt: $0.createdAt, id: $0.id) })
        do {
            let (records, next) = try runner.journal.payments(journalQuery)
            return TillPaymentPage(
                payments: records.map(view), nextCursor: next.map { TillPaymentCursor(createdAt: $0.createdAt, id: $0.id).token })
        } catch {
            throw .internalError("the journal could not be read: \(error)")
        }
    }

    public func resolve(id: String, _ resolution: TillResolutionRequest) async throws(PaymentServiceError) -> TillPayment {
        let finding = StaffResolution(
            outcome: resolution.outcome == .paid ? .paid : .notPaid, transactionId: resolution.transactionId, note: resolution.note,
            at: Date())
        do {
            let record = try runner.journal.resolve(id: id, finding)
            logger.notice(
                "payment resolved by staff",
                metadata: [
                    "payment": "\(id)", "terminal": "\(record.request.terminalID)", "reference": "\(record.reference)",
                    "outcome": "\(record.resolution?.outcome.rawValue ?? "-")", "transaction": "\(record.resolution?.transactionId ?? "-")",
                ])
            return view(record)
        } catch {
            switch error {
            case .noSuchPayment: throw .noSuchPayment(id)
            case .resolutionRefused(_, let refusal):
                throw .resolutionRefused(reason: refusal.description, payment: (try? runner.journal.payment(id: id)).map(view))
            default: throw .internalError("the journal could not record the resolution: \(error)")
            }
        }
    }

    public func readiness() async -> String? {
        if shuttingDown { return "shutting down" }
        if await terminals.onlineIDs().isEmpty { return "no PIN pad is linked" }
        return nil
    }

    // MARK: - Following a payment

    private func follow(_ handle: PaymentHandle) {
        let id = handle.id
        let log = logs[id] ?? EventLog()
        logs[id] = log
        Task {
            var last: PaymentPhase?
            for await record in handle.updates() where record.phase != last {
                last = record.phase
                await self.changed(id, record)
            }
            await self.ended(id, handle.record)
        }
    }

    private func changed(_ id: String, _ record: PaymentRecord) {
        guard let log = logs[id] else { return }
        let state = Self.state(record.phase)
        if log.events.last(where: { $0.kind == .state })?.state != state {
            append(id, log, TillPaymentEvent(sequence: log.events.count + 1, kind: .state, state: state))
        }
        logger.info(
            "payment state",
            metadata: ["payment": "\(id)", "terminal": "\(record.request.terminalID)", "state": "\(state.rawValue)", "phase": "\(record.phase.rawValue)"])
    }

    private func ended(_ id: String, _ record: PaymentRecord) {
        busy = busy.filter { $0.value != id }
        cancelRequested.remove(id)
        guard let log = logs[id], !log.finished else { return }
        guard record.isFinished else {
            // Stopped without an outcome (shutdown, journal failure): it stays unfinished in the
            // journal and is resumed at the next start; the stream ends without an outcome.
            log.finished = true
            for l in log.listeners { l.finish() }
            log.listeners = []
            return
        }
        let view = view(record)
        changed(id, record)
        append(id, log, TillPaymentEvent(sequence: log.events.count + 1, kind: .outcome, state: view.state, payment: view))
        metrics?.countOutcome(view.state)
        logger.notice(
            "payment outcome",
            metadata: [
                "payment": "\(id)", "terminal": "\(record.request.terminalID)", "state": "\(view.state.rawValue)",
                "reference": "\(record.reference)", "transaction": "\(record.transactionId ?? "-")",
            ])
    }

    private func note(_ id: String, kind: TillPaymentEvent.Kind, text: String) {
        guard let log = logs[id], !log.finished else { return }
        append(
            id, log,
            TillPaymentEvent(
                sequence: log.events.count + 1, kind: kind, prompt: kind == .prompt ? text : nil, screen: kind == .screen ? text : nil))
    }

    private func append(_ id: String, _ log: EventLog, _ event: TillPaymentEvent) {
        log.events.append(event)
        for l in log.listeners { l.yield(event) }
        if event.kind == .outcome {
            log.finished = true
            for l in log.listeners { l.finish() }
            log.listeners = []
        }
    }

    // MARK: - Views

    func view(_ record: PaymentRecord) -> TillPayment {
        var state = Self.state(record.phase)
        if !state.isFinal, cancelRequested.contains(record.id) { state = .cancelRequested }
        return TillPayment(
            id: record.id, state: state, amount: record.amount, reference: record.reference,
            description: record.request.description, confirmation: TillConfirmation(record.request.confirmationType),
            terminal: record.request.terminalID, createdAt: record.createdAt, updatedAt: record.updatedAt,
            transactionId: record.transactionId, invoiceNumber: record.invoiceNumber.map(String.init),
            message: record.isFinished ? record.lastMessage : nil,
            resolution: record.resolution.map {
                TillResolution(outcome: $0.outcome == .paid ? .paid : .notPaid, transactionId: $0.transactionId, note: $0.note, resolvedAt: $0.at)
            })
    }

    static func state(_ phase: PaymentPhase) -> TillPaymentState {
        switch phase {
        case .created: return .created
        case .awaitingCustomerID: return .awaitingCustomer
        case .inserting, .awaitingCustomer, .confirming: return .processing
        case .awaitingSMSCode: return .awaitingSMSCode
        case .cancelling: return .cancelRequested
        case .paid: return .paid
        case .declined: return .declined
        case .cancelled: return .cancelled
        case .failed: return .failed
        case .unknown: return .unknown
        }
    }

    static func sameRequest(_ earlier: PaymentRequest, _ now: TillPaymentRequest, defaultConfirmation: ConfirmationType) -> Bool {
        earlier.amount == now.amount && earlier.reference == now.reference && earlier.description == now.description
            && earlier.confirmationType == (now.confirmation?.netgiro ?? defaultConfirmation)
            && (now.terminal == nil || now.terminal == earlier.terminalID)
            && earlier.lines.count == (now.items ?? []).count
    }

    static func invalid(_ problem: PaymentRequestError) -> PaymentServiceError {
        switch problem {
        case .amountNotPositive: return .invalidRequest(field: "amount", rule: "positive", detail: problem.description)
        case .emptyReference: return .invalidRequest(field: "reference", rule: "non-empty", detail: problem.description)
        case .referenceTooLong: return .invalidRequest(field: "reference", rule: "max-length 64", detail: problem.description)
        case .noTerminal: return .invalidRequest(field: "terminal", rule: "required", detail: problem.description)
        case .callbackURLMissing:
            return .confirmationUnavailable(.serverCallback, reason: problem.description)
        case .linesDoNotAddUp: return .invalidRequest(field: "items", rule: "sum-equals-amount", detail: problem.description)
        }
    }
}

/// A terminal that tells the service what it shows and asks — never what the customer keyed.
struct ObservedTerminal: CustomerTerminal {
    let inner: any CustomerTerminal
    let onEvent: @Sendable (TillPaymentEvent.Kind, String) -> Void

    var terminalID: String { inner.terminalID }

    func show(_ screen: CustomerScreen) async {
        onEvent(.screen, Self.name(of: screen))
        await inner.show(screen)
    }

    func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        onEvent(.prompt, prompt.kind == .customerID ? "customer-id" : "sms-code")
        return await inner.ask(prompt)
    }

    static func name(of screen: CustomerScreen) -> String {
        switch screen {
        case .idle: return "idle"
        case .working: return "working"
        case .confirmInApp: return "confirm-in-app"
        case .paid: return "paid"
        case .declined: return "declined"
        case .cancelled: return "cancelled"
        case .outcomeUnknown: return "outcome-unknown"
        case .outOfService: return "out-of-service"
        }
    }
}
