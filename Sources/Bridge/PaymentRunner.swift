import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI

/// Runs payments: the shell around ``Checkout`` that the till API uses.
///
/// ```swift
/// let runner = PaymentRunner(gateway: netgiroClient, journal: journal)
/// _ = await runner.recover { terminalID in pads[terminalID] }        // at start
/// let payment = try await runner.start(request, terminal: pad, idempotencyKey: key)
/// for await record in payment.updates() { … }                        // state changes
/// payment.cancel()                                                   // till cancel
/// let outcome = await payment.outcome()                              // paid / declined / …
/// ```
///
/// Every transition is in the journal before the side effect it precedes; no business rule
/// lives here (the checkout decides, the runner carries out).
public actor PaymentRunner {
    public let journal: PaymentJournal
    let gateway: any PaymentGateway
    let clock: any PaymentClock
    let configuration: Checkout.Configuration
    let logger: Logger
    private var active: [String: PaymentHandle] = [:]

    public init(
        gateway: any PaymentGateway, journal: PaymentJournal, clock: any PaymentClock = SystemPaymentClock(),
        configuration: Checkout.Configuration = .init(), logger: Logger = Logger(label: "netgiro.payment")
    ) {
        self.gateway = gateway
        self.journal = journal
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts a payment on `terminal`. With an `idempotencyKey` seen before, returns that payment
    /// (running or finished) instead of starting a second one. A reference with a payment in
    /// flight is refused. `admissible` is checked by the journal in the transaction that writes
    /// the payment (``PaymentJournal/create(_:idempotencyKey:started:admissible:)``).
    public func start(
        _ request: PaymentRequest, terminal: any CustomerTerminal, idempotencyKey: String? = nil,
        id: String = UUID().uuidString.lowercased(), observer: PaymentObserver? = nil,
        onEnd: @escaping @Sendable (PaymentRecord) async -> Void = { _ in },
        admissible: PaymentJournal.Admissible? = nil
    ) async throws(PaymentStartError) -> PaymentHandle {
        var checkout: Checkout
        do {
            checkout = try Checkout(id: id, request: request, now: clock.now(), configuration: configuration)
        } catch {
            throw .invalidRequest(error)
        }
        // The checkout starts here, before its row is written: the row and the first transition
        // ("started") go to the journal in one commit, so the first prompt waits for one fsync.
        let fresh = checkout.record
        var actions = checkout.start(now: clock.now())
        var started: PaymentTransition?
        if case .persist(let transition)? = actions.first {
            started = transition
            actions.removeFirst()
        }
        let creation: PaymentJournal.Creation
        do {
            creation = try await journal.create(checkout.record, idempotencyKey: idempotencyKey, started: started, admissible: admissible)
        } catch {
            if case .referenceInFlight(let reference, let other) = error {
                throw .referenceInFlight(reference: reference, paymentID: other)
            }
            throw .journal(error)
        }
        switch creation {
        case .existing(let record):
            return active[record.id] ?? PaymentHandle(record: record, inbox: nil)
        case .inadmissible(let keyed, let sameReference):
            throw .inadmissible(keyed: keyed, sameReference: sameReference)
        case .created:
            let rest = actions
            return launch(checkout, shown: fresh, terminal: terminal, observer: observer, onEnd: onEnd) { _, _ in rest }
        }
    }

    /// Resumes every unfinished payment in the journal (call once at start, before taking new
    /// payments). A payment whose InsertCart was in flight ends `unknown` with its reference
    /// (never inserted again); one with a cart is asked about with CheckCart, or cancelled when
    /// past its deadline or when a cancel had been asked for. `observer` gives each payment's
    /// observer (told of every change on the payment's own loop), `onEnd` is awaited by the
    /// payment once it has ended.
    public func recover(
        terminal: @Sendable (String) -> (any CustomerTerminal)?, observer: @Sendable (PaymentRecord) -> PaymentObserver? = { _ in nil },
        onEnd: @escaping @Sendable (PaymentRecord) async -> Void = { _ in }
    ) async throws(JournalError) -> [PaymentHandle] {
        try await journal.unfinishedPayments().map { record in
            let pad = terminal(record.request.terminalID) ?? AbsentTerminal(terminalID: record.request.terminalID)
            logger.notice("recovering payment", metadata: ["payment": "\(record.id)", "phase": "\(record.phase.rawValue)"])
            return launch(Checkout(restoring: record, configuration: configuration), terminal: pad, observer: observer(record), onEnd: onEnd) { checkout, now in
                checkout.resume(now: now)
            }
        }
    }

    /// The running payment with this id, or the journal's record of a finished one.
    public func payment(id: String) async -> PaymentHandle? {
        if let handle = active[id] { return handle }
        guard let record = try? await journal.payment(id: id) else { return nil }
        return PaymentHandle(record: record, inbox: nil)
    }

    /// Cancels a running payment; false when there is none with that id.
    @discardableResult
    public func cancel(paymentID: String) -> Bool {
        guard let handle = active[paymentID] else { return false }
        handle.cancel()
        return true
    }

    /// Passes a verified ServerCallback to the payment whose cart it names and returns that
    /// payment's checkout's answer: true to answer 200 (which makes the sale), false to refuse so
    /// that Netgíró cancels the cart. A callback for a cart no running payment holds — an orphan
    /// left by an InsertCart whose answer was lost — is refused: it is never paid. A payment whose
    /// InsertCart is still in flight is asked too (matched by reference): the callback can overtake
    /// InsertCart's answer, and the checkout holds it until then.
    public func callbackReceived(_ response: CartResponse) async -> Bool {
        let named = response.paymentInfo?.transactionId?.lowercased()
        let reference = response.paymentInfo?.referenceNumber
        let handle =
            active.values.first { named != nil && $0.record.transactionId?.lowercased() == named }
            ?? active.values.first { reference != nil && $0.record.phase == .inserting && $0.reference == reference }
        guard let handle else {
            logger.info("ServerCallback for a cart no running payment holds: refused, so Netgíró cancels it")
            return false
        }
        return await handle.answerCallback(response)
    }

    /// Payments running now.
    public var running: [PaymentHandle] { Array(active.values) }

    private func launch(
        _ checkout: Checkout, shown: PaymentRecord? = nil, terminal: any CustomerTerminal, observer: PaymentObserver? = nil,
        onEnd: @escaping @Sendable (PaymentRecord) async -> Void,
        first: @escaping @Sendable (inout Checkout, Date) -> [Checkout.Action]
    ) -> PaymentHandle {
        let id = checkout.record.id
        let handle = PaymentExecution.launch(
            checkout: checkout, shown: shown, first: first, gateway: gateway, journal: journal, terminal: terminal, clock: clock,
            logger: logger, observer: observer
        ) { [weak self] record in
            await self?.ended(id)
            await onEnd(record)
        }
        active[id] = handle
        return handle
    }

    private func ended(_ id: String) {
        active[id] = nil
    }
}
