// Admission: whether a till's request starts a payment, on which terminal, or is answered with
// an earlier payment or a refusal the till can act on. A pure core: no I/O, no clock, no
// randomness — the shell (`DaemonPaymentService` in Bridge) reads the terminals and the journal,
// passes in what it read and the time, and carries out the decision.
import Checkout
import Foundation
import NetgiroModels
import TillAPIContract

/// The till-facing rules around the payments:
/// - **terminal choice** — the named terminal, or the only one linked; a pad that is away is
///   waited for within a short grace, then refused as retryable (409 `terminal-offline` with
///   Retry-After) whether or not the till named it; a pad that did not announce the
///   customer-id prompt cannot take payments (409 `terminal-cannot-pay`, naming the prompt);
/// - **busy table** — one payment per terminal, reserved when admitted (before the journal is
///   written, so two requests at once cannot both take the pad);
/// - **idempotency** — a key seen before answers with its payment when the whole request is the
///   same (amount, reference, description, every field of every line, confirmation, terminal),
///   and is refused as reused otherwise;
/// - **reference reuse** — a new payment for a reference that is in flight, paid, or ended
///   `unknown` (money may have moved) is refused naming that payment, unless the till says it is
///   a deliberate repeat (`"repeat": true`; never while one is in flight);
/// - **cancel requested** — read from the checkout's own record (`cancelReason`), not kept twice.
public struct Admission: Sendable {
    public struct Settings: Sendable, Hashable {
        public var defaultConfirmation: ConfirmationType
        /// Netgíró's `CallbackUrl` for ServerCallback; nil when no callback listener is configured.
        public var callbackURL: String?
        /// How long a request waits for its pad when the pad is known but not linked (line noise,
        /// a replug) before it is refused as `terminal-offline`.
        public var terminalGrace: Duration
        /// What a refusal for a pad that is away tells the till to wait before it tries again.
        public var retryAfterSeconds: Int

        public init(
            defaultConfirmation: ConfirmationType = .manual, callbackURL: String? = nil, terminalGrace: Duration = .seconds(2),
            retryAfterSeconds: Int = 2
        ) {
            self.defaultConfirmation = defaultConfirmation
            self.callbackURL = callbackURL
            self.terminalGrace = terminalGrace
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// The terminals as the shell sees them at the moment of the decision.
    public struct Terminals: Sendable, Hashable {
        /// Every terminal the bridge knows (linked or not).
        public var known: Set<String>
        /// The terminals linked now.
        public var online: Set<String>
        /// The prompts each linked pad announced (the till API's names, `customer-id` …); a
        /// terminal not in here is not checked.
        public var prompts: [String: [String]]

        public init(known: some Sequence<String>, online: some Sequence<String>, prompts: [String: [String]] = [:]) {
            self.online = Set(online)
            self.known = Set(known).union(self.online)
            self.prompts = prompts
        }
    }

    /// What the journal knows that bears on one request.
    public struct History: Sendable, Hashable {
        /// The payment the request's Idempotency-Key started, when the key was seen before.
        public var keyed: PaymentRecord?
        /// Every payment for the request's reference (any order).
        public var sameReference: [PaymentRecord]

        public init(keyed: PaymentRecord? = nil, sameReference: [PaymentRecord] = []) {
            self.keyed = keyed
            self.sameReference = sameReference
        }
    }

    /// One POST from the till.
    public struct Attempt: Sendable, Hashable {
        public var request: TillPaymentRequest
        public var idempotencyKey: String?
        /// The id the payment gets if it is started (the shell draws it).
        public var paymentID: String
        /// When the request arrived: the grace for an absent pad counts from here.
        public var arrivedAt: Date

        public init(request: TillPaymentRequest, idempotencyKey: String?, paymentID: String, arrivedAt: Date) {
            self.request = request
            self.idempotencyKey = idempotencyKey
            self.paymentID = paymentID
            self.arrivedAt = arrivedAt
        }
    }

    public enum Decision: Sendable, Hashable {
        /// The key started this payment before, with the same request: answer it (replayed).
        case replay(PaymentRecord)
        /// Start this payment. Its terminal is reserved for it: report ``startFailed(_:)`` if it
        /// does not start, ``ended(_:)`` when it ends.
        case start(PaymentRequest)
        /// The pad is known but not linked: decide again with fresh terminals, at the latest at
        /// `until` (then the answer is a refusal).
        case waitForTerminal(String?, until: Date)
        /// A request with the same Idempotency-Key is being started (a till's retry overtook it):
        /// decide again once it has started or failed to — then the key's payment is in the journal.
        case waitForSameKey(paymentID: String)
        /// Decided without the journal's history, the answer would not be a start: read the
        /// history (the payments under the key and the reference) and decide again with it.
        case readHistory
        case refuse(PaymentServiceError)
    }

    public enum CancelDecision: Sendable, Hashable {
        /// Pass the cancel to the payment's checkout.
        case ask
        /// Already cancelled: answer it as it is.
        case answer(TillPayment)
        case refuse(PaymentServiceError)
    }

    public let settings: Settings
    /// Terminal → the payment running on it (or being started).
    public private(set) var busy: [String: String] = [:]
    /// Idempotency-Key → the payment being started with it (admitted, not yet in the journal).
    public private(set) var starting: [String: String] = [:]
    public private(set) var takingPayments = true

    public init(settings: Settings) {
        self.settings = settings
    }

    // MARK: - Events

    /// Decides on a request, given the terminals and the journal as they are `now`.
    ///
    /// `history` nil: the journal was not read. Only a start is decided then — everything else
    /// is ``Decision/readHistory`` — and the shell passes ``historyPermitsStart(_:_:)`` to the
    /// journal, which checks it in the transaction that writes the payment; if the history
    /// forbids the start there, nothing is written and the request is decided again with that
    /// history. A new payment so costs the journal one trip (the write), not two.
    public mutating func admit(_ attempt: Attempt, terminals: Terminals, history: History?, now: Date) -> Decision {
        guard takingPayments else { return .refuse(.shuttingDown) }

        // A key seen before: that payment, whatever the pads are doing now.
        if let key = attempt.idempotencyKey, history?.keyed == nil, let other = starting[key] {
            return .waitForSameKey(paymentID: other)
        }
        guard let history else {
            let decision = admitToTerminal(attempt, terminals: terminals, now: now)
            if case .start = decision { return decision }
            return .readHistory
        }
        if attempt.idempotencyKey != nil, let earlier = history.keyed {
            guard Self.sameRequest(earlier.request, attempt.request, defaultConfirmation: settings.defaultConfirmation) else {
                return .refuse(.idempotencyKeyReused)
            }
            return .replay(earlier)
        }

        // Before the terminal: a second sale for the same reference is refused whatever the pads do.
        if let holder = Self.holderRefusing(attempt, history) { return .refuse(.referenceInUse(Self.view(holder))) }
        return admitToTerminal(attempt, terminals: terminals, now: now)
    }

    /// Whether the journal's `history` lets `attempt` start: no payment under its key yet, and
    /// its reference neither in flight nor paid (or unknown) unless the request says `repeat`.
    /// The same rules as ``admit(_:terminals:history:now:)``'s, for the journal to check in the
    /// transaction that writes the new payment.
    public static func historyPermitsStart(_ attempt: Attempt, _ history: History) -> Bool {
        if attempt.idempotencyKey != nil, history.keyed != nil { return false }
        return holderRefusing(attempt, history) == nil
    }

    /// The payment holding the request's reference, when it refuses the request: one in flight,
    /// or one paid (or unknown) when the request is not a deliberate repeat.
    private static func holderRefusing(_ attempt: Attempt, _ history: History) -> PaymentRecord? {
        guard let holder = referenceHolder(history.sameReference), !holder.isFinished || attempt.request.repeat != true else { return nil }
        return holder
    }

    /// The rest of a decision, once the history allows the request: the terminal, and the
    /// request as the checkout runs it.
    private mutating func admitToTerminal(_ attempt: Attempt, terminals: Terminals, now: Date) -> Decision {
        let request = attempt.request
        let terminalID: String
        switch chooseTerminal(named: request.terminal, terminals) {
        case .chosen(let id): terminalID = id
        case .refused(let error): return .refuse(error)
        case .away(let id):
            let until = attempt.arrivedAt.addingTimeInterval(settings.terminalGrace.seconds)
            if now < until { return .waitForTerminal(id, until: until) }
            if let id { return .refuse(.terminalOffline(id, retryAfter: settings.retryAfterSeconds)) }
            return .refuse(.noTerminalOnline(retryAfter: settings.retryAfterSeconds))
        }
        if let announced = terminals.prompts[terminalID], let missing = Self.neededPrompts.first(where: { !announced.contains($0) }) {
            return .refuse(.terminalCannotPay(terminal: terminalID, missingPrompt: missing))
        }
        if let other = busy[terminalID] { return .refuse(.terminalBusy(terminal: terminalID, payment: other)) }

        let confirmation = request.confirmation?.netgiro ?? settings.defaultConfirmation
        if confirmation == .serverCallback, settings.callbackURL == nil {
            return .refuse(.confirmationUnavailable(.serverCallback, reason: "no callback listener is configured (callback.listen, callback.public-url)"))
        }
        let checkoutRequest = PaymentRequest(
            amount: request.amount, reference: request.reference, description: request.description, lines: Self.lines(request.items),
            confirmationType: confirmation, terminalID: terminalID,
            callbackUrl: confirmation == .serverCallback ? settings.callbackURL : nil)
        if let problem = checkoutRequest.problem { return .refuse(Self.refusal(for: problem)) }

        busy[terminalID] = attempt.paymentID
        if let key = attempt.idempotencyKey { starting[key] = attempt.paymentID }
        return .start(checkoutRequest)
    }

    /// The payment admitted with this id is in the journal and running.
    public mutating func started(_ paymentID: String) {
        starting = starting.filter { $0.value != paymentID }
    }

    /// The payment admitted with this id did not start (the journal refused it, or a request
    /// with the same key won the race): its terminal is free again.
    public mutating func startFailed(_ paymentID: String) {
        started(paymentID)
        free(paymentID)
    }

    /// A payment resumed from the journal at start holds its terminal.
    public mutating func recovered(_ record: PaymentRecord) {
        busy[record.request.terminalID] = record.id
    }

    /// The payment stopped (with an outcome, or stopped unfinished at shutdown): its terminal is free.
    public mutating func ended(_ paymentID: String) { free(paymentID) }

    /// No new payments from now on (SIGTERM).
    public mutating func stopTakingPayments() { takingPayments = false }

    /// Decides on a till's cancel of the payment `record` (nil: no such payment).
    public func cancel(_ id: String, record: PaymentRecord?) -> CancelDecision {
        guard let record else { return .refuse(.noSuchPayment(id)) }
        guard record.isFinished else { return .ask }
        if record.phase == .cancelled { return .answer(Self.view(record)) }
        return .refuse(.alreadyFinal(Self.view(record)))
    }

    /// Whether the checkout has taken a till's cancel: it records the reason (or has ended).
    public static func cancelTaken(_ record: PaymentRecord) -> Bool {
        record.isFinished || record.cancelReason != nil
    }

    /// Why payments cannot be taken now, if they cannot (for `/healthz`).
    public func readiness(online: Int) -> String? {
        if !takingPayments { return "shutting down" }
        if online == 0 { return "no PIN pad is linked" }
        return nil
    }

    private mutating func free(_ paymentID: String) {
        busy = busy.filter { $0.value != paymentID }
    }

    // MARK: - Rules

    enum TerminalChoice: Equatable {
        case chosen(String)
        /// Known but not linked now (nil: no terminal linked and none to name).
        case away(String?)
        case refused(PaymentServiceError)
    }

    /// The named terminal, or the only one linked. With none linked, the only one known counts
    /// as named: a pad briefly away gives the same answer named or not.
    func chooseTerminal(named: String?, _ terminals: Terminals) -> TerminalChoice {
        if let named {
            guard terminals.known.contains(named) else { return .refused(.noSuchTerminal(named)) }
            return terminals.online.contains(named) ? .chosen(named) : .away(named)
        }
        switch terminals.online.count {
        case 1: return .chosen(terminals.online.first!)
        case 0: return .away(terminals.known.count == 1 ? terminals.known.first! : nil)
        default: return .refused(.terminalRequired(available: terminals.online.sorted()))
        }
    }

    /// The payment that keeps a reference from a new one: one in flight, else the latest that
    /// was paid or may have been (`unknown`). Declined, cancelled and failed ones do not: the
    /// till may simply try again.
    /// The prompts every payment needs on its pad (PROTOCOL.md §5.2, D4): without the customer
    /// id nothing can be asked of Netgíró. (The SMS code only some payments need: a payment that
    /// needs it on a pad without it ends `failed`, `prompt-unsupported`.)
    public static let neededPrompts = ["customer-id"]

    public static func referenceHolder(_ payments: [PaymentRecord]) -> PaymentRecord? {
        if let inFlight = payments.first(where: { !$0.isFinished }) { return inFlight }
        return payments.filter { $0.phase == .paid || $0.phase == .unknown }.max { $0.createdAt < $1.createdAt }
    }

    /// The till's items as cart lines (quantities in thousandths, line totals in ISK).
    public static func lines(_ items: [TillPaymentItem]?) -> [PaymentLine] {
        (items ?? []).map { item in
            PaymentLine(
                productNo: item.productNo ?? "", name: item.name, unitPrice: item.unitPrice, amount: item.unitPrice * item.quantity,
                quantity: item.quantity * 1000)
        }
    }

    /// Whether `now` asks for the payment `earlier` was started for: every field, every line.
    /// A terminal left out matches the one chosen then; a confirmation left out is the default.
    public static func sameRequest(_ earlier: PaymentRequest, _ now: TillPaymentRequest, defaultConfirmation: ConfirmationType) -> Bool {
        earlier.amount == now.amount && earlier.reference == now.reference && earlier.description == now.description
            && earlier.confirmationType == (now.confirmation?.netgiro ?? defaultConfirmation)
            && (now.terminal == nil || now.terminal == earlier.terminalID)
            && earlier.lines == lines(now.items)
    }

    public static func refusal(for problem: PaymentRequestError) -> PaymentServiceError {
        switch problem {
        case .amountNotPositive: return .invalidRequest(field: "amount", rule: "positive", detail: problem.description)
        case .belowMinimum(_, let minimum):
            return .invalidRequest(field: "amount", rule: "minimum \(minimum)", detail: problem.description)
        case .emptyReference: return .invalidRequest(field: "reference", rule: "non-empty", detail: problem.description)
        case .referenceTooLong: return .invalidRequest(field: "reference", rule: "max-length 64", detail: problem.description)
        case .noTerminal: return .invalidRequest(field: "terminal", rule: "required", detail: problem.description)
        case .callbackURLMissing: return .confirmationUnavailable(.serverCallback, reason: problem.description)
        case .linesDoNotAddUp: return .invalidRequest(field: "items", rule: "sum-equals-amount", detail: problem.description)
        }
    }

    // MARK: - The till's view of a payment

    public static func view(_ record: PaymentRecord) -> TillPayment {
        TillPayment(
            id: record.id, state: state(record), amount: record.amount, reference: record.reference,
            description: record.request.description, confirmation: TillConfirmation(record.request.confirmationType),
            terminal: record.request.terminalID, createdAt: record.createdAt, updatedAt: record.updatedAt,
            transactionId: record.transactionId, invoiceNumber: record.invoiceNumber.map(String.init),
            message: record.isFinished ? record.lastMessage : nil, reason: record.failureReason?.rawValue,
            retryable: record.retryable,
            resolution: record.resolution.map {
                TillResolution(outcome: $0.outcome == .paid ? .paid : .notPaid, transactionId: $0.transactionId, note: $0.note, resolvedAt: $0.at)
            })
    }

    /// The state the till sees: the checkout's phase, and `cancel-requested` from the moment the
    /// checkout has taken a cancel (the till's, or the deadline's while a call is in flight) until
    /// the outcome — as for a cart being cancelled.
    public static func state(_ record: PaymentRecord) -> TillPaymentState {
        if !record.isFinished, record.cancelReason != nil { return .cancelRequested }
        return state(record.phase)
    }

    /// The answer to a till's cancel once passed to the checkout: the payment as it stands, and
    /// `cancel-requested` until its outcome (the checkout takes the cancel in its turn).
    public static func cancelAnswer(_ record: PaymentRecord) -> TillPayment {
        var payment = view(record)
        if !payment.final { payment.state = .cancelRequested }
        return payment
    }

    public static func state(_ phase: PaymentPhase) -> TillPaymentState {
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
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
