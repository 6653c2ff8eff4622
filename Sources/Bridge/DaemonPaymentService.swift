import Checkout
import Common
import Foundation
import Journal
import Logging
import NetgiroAPI

/// The till API's payments on the real thing: ``PaymentRunner`` (checkout + journal + Netgíró)
/// and the daemon's terminal sessions.
///
/// It is the shell of ``Admission`` (which terminal, busy, idempotency, reference reuse, cancel):
/// it reads the terminals and the journal, asks the core, and carries out its decision. On top it
/// keeps the event stream of each payment (state changes from the runner; prompts and screens
/// from the terminal, without what the customer keyed), metrics and one log line per state change.
public actor DaemonPaymentService: PaymentService {
    public struct Settings: Sendable {
        public var defaultConfirmation: ConfirmationType = .manual
        /// Netgíró's `CallbackUrl` for ServerCallback; nil when no callback listener is configured.
        public var callbackURL: String?
        /// How long a payment recovered at start waits for its pad to come back (the pad is
        /// usually found and linked a moment after the daemon starts) before it counts as gone.
        public var recoveryGrace: Duration
        /// How long a new payment waits for a pad that is known but not linked (line noise, a
        /// replug) before it is refused as `terminal-offline` with Retry-After.
        public var terminalGrace: Duration

        public init(
            defaultConfirmation: ConfirmationType = .manual, callbackURL: String? = nil, recoveryGrace: Duration = .seconds(30),
            terminalGrace: Duration = .seconds(2)
        ) {
            self.defaultConfirmation = defaultConfirmation
            self.callbackURL = callbackURL
            self.recoveryGrace = recoveryGrace
            self.terminalGrace = terminalGrace
        }

        var admission: Admission.Settings {
            Admission.Settings(defaultConfirmation: defaultConfirmation, callbackURL: callbackURL, terminalGrace: terminalGrace)
        }
    }

    /// One payment's events as the till reads them (SSE): appended synchronously, in order, by
    /// the payment's own loop (state changes, prompts, screens) and once at its end; every
    /// reader gets them all from the start, then what follows.
    final class EventLog: Sendable {
        struct State {
            var events: [TillPaymentEvent] = []
            var listeners: [AsyncStream<TillPaymentEvent?>.Continuation] = []
            var finished = false
        }
        /// Lock: written by the payment's loop, read by till requests (any task); nothing
        /// waits under it.
        let state = Locked(State())

        func subscribe() -> PaymentEvents {
            let (events, continuation) = PaymentEvents.make()
            state.withLock { s in
                for event in s.events { continuation.yield(event) }
                if s.finished { continuation.finish() } else { s.listeners.append(continuation) }
            }
            return events
        }

        /// A state event when the payment's state for the till changed; true if it did.
        @discardableResult
        func changed(_ record: PaymentRecord) -> Bool {
            let state = Admission.state(record)
            return self.state.withLock { s in
                guard !s.finished, s.events.last(where: { $0.kind == .state })?.state != state else { return false }
                Self.append(TillPaymentEvent(sequence: s.events.count + 1, kind: .state, state: state), to: &s)
                return true
            }
        }

        func note(kind: TillPaymentEvent.Kind, text: String) {
            state.withLock { s in
                guard !s.finished else { return }
                Self.append(
                    TillPaymentEvent(
                        sequence: s.events.count + 1, kind: kind, prompt: kind == .prompt ? text : nil, screen: kind == .screen ? text : nil),
                    to: &s)
            }
        }

        /// The outcome; false if the log had already ended.
        func outcome(_ record: PaymentRecord) -> Bool {
            changed(record)
            let view = Admission.view(record)
            return state.withLock { s in
                guard !s.finished else { return false }
                Self.append(TillPaymentEvent(sequence: s.events.count + 1, kind: .outcome, state: view.state, payment: view), to: &s)
                return true
            }
        }

        /// Ends the log without an outcome (the payment stopped unfinished).
        func stop() {
            state.withLock { s in
                s.finished = true
                for l in s.listeners { l.finish() }
                s.listeners = []
            }
        }

        private static func append(_ event: TillPaymentEvent, to s: inout State) {
            s.events.append(event)
            for l in s.listeners { l.yield(event) }
            if event.kind == .outcome {
                s.finished = true
                for l in s.listeners { l.finish() }
                s.listeners = []
            }
        }
    }

    let runner: PaymentRunner
    let terminals: any PaymentTerminals
    let settings: Settings
    let metrics: TillAPIMetrics?
    let logger: Logger
    /// Lock: each payment's loop finds its log here synchronously (an observer cannot enter
    /// the actor without a hop).
    private let logs = Locked<[String: EventLog]>([:])
    private var admission: Admission

    public init(runner: PaymentRunner, terminals: any PaymentTerminals, settings: Settings, metrics: TillAPIMetrics?, logger: Logger) {
        self.runner = runner
        self.terminals = terminals
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.admission = Admission(settings: settings.admission)
    }

    /// Resumes the journal's unfinished payments (at start, before the API opens).
    public func recover() async throws(JournalError) -> [String] {
        // At start the pads are usually not linked yet: a recovered payment gets its pad as
        // soon as it appears, rather than failing for want of it.
        let terminals = self.terminals
        let grace = settings.recoveryGrace
        let handles = try await runner.recover(
            terminal: { id in
                AwaitedTerminal(terminalID: id, grace: grace, changes: { await terminals.watchChanges() }) { await terminals.terminal(id) }
            },
            observer: { record in
                let log = self.newLog(record.id)
                log.changed(record)
                return self.observer(record.id, log)
            },
            onEnd: { [weak self] record in await self?.ended(record.id, record) })
        for handle in handles { admission.recovered(handle.record) }
        return handles.map(\.id)
    }

    /// No new payments from now on (SIGTERM): running ones go on to their outcome or are journaled.
    public func stopTakingPayments() { admission.stopTakingPayments() }

    // MARK: - PaymentService

    public func start(_ request: TillPaymentRequest, idempotencyKey: String?) async throws(PaymentServiceError) -> PaymentStart {
        let id = UUID().uuidString.lowercased()
        let attempt = Admission.Attempt(request: request, idempotencyKey: idempotencyKey, paymentID: id, arrivedAt: Date())
        // Not read yet: the core decides a start without the journal, and the journal checks the
        // core's rule on the key and the reference in the transaction that writes the payment.
        var history: Admission.History?
        // Terminal changes, listened to once a wait for a pad is on the cards.
        var changes: AsyncStream<Void>??
        while true {
            let pads = await terminals.admissionTerminals()
            switch admission.admit(attempt, terminals: pads, history: history, now: Date()) {
            case .replay(let earlier):
                return PaymentStart(payment: Admission.view(earlier), replayed: true)
            case .refuse(let refusal):
                throw refusal
            case .readHistory:
                do {
                    let read = try await runner.journal.admissionHistory(idempotencyKey: idempotencyKey, reference: request.reference)
                    history = Admission.History(keyed: read.keyed, sameReference: read.sameReference)
                } catch {
                    throw .internalError("the journal could not be read: \(error)")
                }
            case .waitForTerminal(_, let until):
                // The pad is known but away (line noise, a replug): look again when a terminal
                // changes, or when the grace is over (the core then answers terminal-offline).
                // Listening before looking again: a pad that links between that look and the
                // wait is not missed.
                guard let listening = changes else {
                    changes = .some(await terminals.watchChanges())
                    continue
                }
                await firstTerminalChange(listening, orAt: until)
                if Task.isCancelled { throw .shuttingDown }
            case .waitForSameKey:
                // The same key's first request is being journaled (one write): look again then.
                do { try await Task.sleep(for: .milliseconds(5)) } catch { throw .shuttingDown }
            case .start(let admitted):
                switch try await start(admitted, attempt: attempt) {
                case .started(let started): return started
                case .forbidden(let found): history = found  // nothing was written: decide again with it
                }
            }
        }
    }

    private enum Started {
        case started(PaymentStart)
        /// The journal's history, read in the transaction that would have written the payment,
        /// forbade it: nothing was written.
        case forbidden(Admission.History)
    }

    /// Starts an admitted payment: its journal row (checked against the history in the same
    /// transaction), then its run on the terminal.
    private func start(_ admitted: PaymentRequest, attempt: Admission.Attempt) async throws(PaymentServiceError) -> Started {
        let id = attempt.paymentID
        guard let pad = await terminals.terminal(admitted.terminalID) else {  // gone since the core looked
            admission.startFailed(id)
            throw .terminalOffline(admitted.terminalID, retryAfter: admission.settings.retryAfterSeconds)
        }

        let log = newLog(id)
        // State changes and what the terminal shows and asks reach the till in the order they
        // happened: both are written synchronously, from the payment's own loop, into its log.
        let terminal = ObservedTerminal(inner: pad) { kind, text in log.note(kind: kind, text: text) }
        let handle: PaymentHandle
        do {
            handle = try await runner.start(
                admitted, terminal: terminal, idempotencyKey: attempt.idempotencyKey, id: id, observer: observer(id, log),
                onEnd: { [weak self] record in await self?.ended(id, record) },
                admissible: { keyed, sameReference in
                    Admission.historyPermitsStart(attempt, Admission.History(keyed: keyed, sameReference: sameReference))
                })
        } catch {
            logs.withLock { $0[id] = nil }
            admission.startFailed(id)
            switch error {
            case .invalidRequest(let problem): throw Admission.refusal(for: problem)
            case .inadmissible(let keyed, let sameReference):
                return .forbidden(Admission.History(keyed: keyed, sameReference: sameReference))
            case .referenceInFlight(_, let other):
                // Started between the core's look at the journal and ours.
                guard let record = try? await runner.journal.payment(id: other) else { throw .internalError("payment \(other) holds the reference but cannot be read") }
                throw .referenceInUse(Admission.view(record))
            case .journal(let e): throw .internalError("the journal could not record the payment: \(e)")
            }
        }
        if handle.id != id {  // a concurrent request with the same key won the race
            logs.withLock { $0[id] = nil }
            admission.startFailed(id)
            return .started(PaymentStart(payment: Admission.view(handle.record), replayed: true))
        }
        admission.started(id)
        return .started(PaymentStart(payment: Admission.view(handle.record), replayed: false))
    }

    public func payment(id: String) async -> TillPayment? {
        guard let handle = await runner.payment(id: id) else { return nil }
        return Admission.view(handle.record)
    }

    public func events(id: String) async -> PaymentEvents? {
        if let log = logs.withLock({ $0[id] }) { return log.subscribe() }
        // A payment from before this process (recovered or finished): its state now, then what follows.
        guard let handle = await runner.payment(id: id) else { return nil }
        let log = logs.withLock { logs in
            if let raced = logs[id] { return raced }
            let log = EventLog()
            logs[id] = log
            return log
        }
        log.changed(handle.record)
        if handle.record.isFinished { _ = log.outcome(handle.record) }
        return log.subscribe()
    }

    public func cancel(id: String) async throws(PaymentServiceError) -> TillPayment {
        let handle = await runner.payment(id: id)
        switch admission.cancel(id, record: handle?.record) {
        case .refuse(let refusal): throw refusal
        case .answer(let payment): return payment
        case .ask: break
        }
        guard let handle else { throw .noSuchPayment(id) }
        await runner.cancel(paymentID: id)
        logger.info("cancel requested by the till", metadata: ["payment": "\(id)", "terminal": "\(handle.record.request.terminalID)"])
        return Admission.cancelAnswer(await Self.cancelTaken(handle, within: .seconds(2)))
    }

    /// The payment once its checkout has taken the cancel (recorded the reason, or ended), so the
    /// answer and every read after it agree; as it stands if that takes longer than `limit`
    /// (a checkout busy with a slow step takes it when it gets to it).
    static func cancelTaken(_ handle: PaymentHandle, within limit: Duration) async -> PaymentRecord {
        // A task group, not a bare task: the wait ends with the first of the two.
        let taken = await withTaskGroup(of: PaymentRecord?.self) { group in
            group.addTask {
                for await record in handle.updates() where Admission.cancelTaken(record) { return record }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return taken ?? handle.record
    }

    public func terminals() async -> [TillTerminal] {
        await terminals.list().map { terminal in
            var t = terminal
            t.payment = admission.busy[t.id]
            return t
        }
    }

    public func payments(_ query: TillPaymentQuery) async throws(PaymentServiceError) -> TillPaymentPage {
        let journalQuery = PaymentJournal.Query(
            reference: query.reference, phases: query.state.map { state in PaymentPhase.allCases.filter { Admission.state($0) == state } },
            terminalID: query.terminal, from: query.from, to: query.to, limit: query.limit,
            after: query.cursor.map { PaymentJournal.Position(createdAt: $0.createdAt, id: $0.id) })
        do {
            let (records, next) = try await runner.journal.payments(journalQuery)
            return TillPaymentPage(
                payments: records.map(Admission.view), nextCursor: next.map { TillPaymentCursor(createdAt: $0.createdAt, id: $0.id).token })
        } catch {
            throw .internalError("the journal could not be read: \(error)")
        }
    }

    public func resolve(id: String, _ resolution: TillResolutionRequest) async throws(PaymentServiceError) -> TillPayment {
        let finding = StaffResolution(
            outcome: resolution.outcome == .paid ? .paid : .notPaid, transactionId: resolution.transactionId, note: resolution.note,
            at: Date())
        do {
            let record = try await runner.journal.resolve(id: id, finding)
            logger.notice(
                "payment resolved by staff",
                metadata: [
                    "payment": "\(id)", "terminal": "\(record.request.terminalID)", "reference": "\(record.reference)",
                    "outcome": "\(record.resolution?.outcome.rawValue ?? "-")", "transaction": "\(record.resolution?.transactionId ?? "-")",
                ])
            return Admission.view(record)
        } catch {
            switch error {
            case .noSuchPayment: throw .noSuchPayment(id)
            case .resolutionRefused(_, let refusal):
                throw .resolutionRefused(reason: refusal.description, payment: (try? await runner.journal.payment(id: id)).map(Admission.view))
            default: throw .internalError("the journal could not record the resolution: \(error)")
            }
        }
    }

    public func readiness() async -> String? {
        admission.readiness(online: await terminals.onlineIDs().count)
    }

    // MARK: - Following a payment

    private nonisolated func newLog(_ id: String) -> EventLog {
        let log = EventLog()
        logs.withLock { $0[id] = log }
        return log
    }

    /// What the payment's loop calls at each change: the till's log and one log line per state.
    private nonisolated func observer(_ id: String, _ log: EventLog) -> PaymentObserver {
        let logger = self.logger
        return { record, ended in
            guard !ended, log.changed(record) else { return }  // the end is `ended(_:_:)`'s
            logger.info(
                "payment state",
                metadata: [
                    "payment": "\(id)", "terminal": "\(record.request.terminalID)", "state": "\(Admission.state(record).rawValue)",
                    "phase": "\(record.phase.rawValue)",
                ])
        }
    }

    /// Awaited by the payment's own task once it has ended: the terminal is free (before the
    /// till can read the outcome, so a next payment right after it is admitted), then the outcome.
    private func ended(_ id: String, _ record: PaymentRecord) {
        admission.ended(id)
        guard let log = logs.withLock({ $0[id] }) else { return }
        guard record.isFinished else {
            // Stopped without an outcome (shutdown, journal failure): it stays unfinished in the
            // journal and is resumed at the next start; the stream ends without an outcome.
            log.stop()
            return
        }
        guard log.outcome(record) else { return }
        let view = Admission.view(record)
        let took = (record.finishedAt ?? record.updatedAt).timeIntervalSince(record.createdAt)
        metrics?.countOutcome(view.state, duration: .milliseconds(Int64((took * 1000).rounded())))
        logger.notice(
            "payment outcome",
            metadata: [
                "payment": "\(id)", "terminal": "\(record.request.terminalID)", "state": "\(view.state.rawValue)",
                "reference": "\(record.reference)", "transaction": "\(record.transactionId ?? "-")",
            ])
    }
}

/// A terminal that tells the service what it shows and asks — never what the customer keyed.
struct ObservedTerminal: CustomerTerminal {
    let inner: any CustomerTerminal
    let onEvent: @Sendable (TillPaymentEvent.Kind, String) -> Void

    var terminalID: String { inner.terminalID }

    var owner: (any Actor)? { inner.owner }

    nonisolated(nonsending) func paymentStarted() async { await inner.paymentStarted() }

    nonisolated(nonsending) func paymentEnded() async { await inner.paymentEnded() }

    nonisolated(nonsending) func show(_ screen: CustomerScreen) async {
        onEvent(.screen, Self.name(of: screen))
        await inner.show(screen)
    }

    nonisolated(nonsending) func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        onEvent(.prompt, prompt.kind == .customerID ? "customer-id" : "sms-code")
        await inner.prompt(prompt, id: id, reply: reply)
    }

    nonisolated(nonsending) func withdrawPrompt(_ id: Int) async { await inner.withdrawPrompt(id) }

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
