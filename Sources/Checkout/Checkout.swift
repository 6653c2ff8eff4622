import Foundation
import NetgiroModels

/// One payment, from the till's request to a definite outcome, as a pure state machine.
///
/// Events go in (one method each, the time passed in as a value), ordered ``Action``s come out:
/// the shell (`PaymentRunner` in Bridge) carries them out in order and feeds the results back.
/// No clocks, no sockets, no sleeping here. Every ``Action/persist(_:)`` comes before the side
/// effects it precedes, so the journal always knows at least as much as the world.
///
/// The flow follows Netgíró's result codes (`netgiro-v1-checkout.md`): 10425 keep waiting,
/// 10426 ConfirmCart to capture, 10428 ask for the SMS code, 10429 wait for the callback,
/// PaymentSuccessful → paid, declines and 10201 → declined. A cancel (till, deadline, customer)
/// answered with a payment means the customer won the race: the sale is paid.
///
/// An InsertCart without an answer is never sent again as if nothing happened. What the payment
/// then is depends on whether money could have moved (DESIGN.md, "the one window"):
/// - **Automatic**: the customer's acceptance is the sale, so a cart we never learnt of can be
///   paid: the payment ends ``PaymentPhase/unknown`` with its reference, for a person to check.
/// - **Manual**: acceptance only makes a reservation; money moves when *we* call ConfirmCart with
///   the TransactionId — which we never learnt. Nothing can move: ``PaymentPhase/failed``,
///   ``PaymentFailureReason/insertUnanswered``, retryable (optionally one fresh cart at once,
///   ``Configuration/retryUnansweredInsertOnce``).
/// - **ServerCallback**: the sale is made only when our listener answers Netgíró's callback with
///   200, and the checkout accepts a callback only for the cart it holds (``callbackReceived(_:id:now:)``):
///   the orphan's callback is refused, Netgíró cancels it. Also `failed`, `insert-unanswered`.
/// The same reasoning holds after a cart is known: under Manual and ServerCallback money can move
/// only after the bridge's own go-ahead (``PaymentRecord/goAheadGiven``).
///
/// CheckCart goes out only when the poll timer fires, at Netgíró's interval
/// (`ProcessCartCheckIntervalMiliseconds`, bounded) — after InsertCart, after a ConfirmCart
/// without an answer, after a cancel that must be verified, and after a restart alike.
///
/// Every event is handled by one `switch` over ``State`` with every case named. An event that
/// cannot happen in a state (a call's answer when that call is not in flight, `start` twice) is a
/// programming error: it traps in debug builds; in release it is counted
/// (``impossibleEvents``), reported (``Action/impossibleEvent(_:)``) and changes nothing.
public struct Checkout: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Overall time limit; then the cart is cancelled (the race rule applies).
        public var deadline: Duration = .seconds(120)
        /// Poll interval used when InsertCart names none.
        public var defaultPollInterval: Duration = .seconds(2)
        /// Bounds for the server's `ProcessCartCheckIntervalMiliseconds`.
        public var pollIntervalBounds: ClosedRange<Duration> = .milliseconds(500) ... .seconds(5)
        /// Entries refused as no customer identifier before the payment is given up.
        public var customerIDTries: Int = 3
        /// Wrong SMS payment codes before the cart is cancelled.
        public var smsCodeTries: Int = 3
        /// CancelCart attempts (after failures) before the outcome is declared unknown.
        public var cancelAttempts: Int = 5
        /// How long the pad shows the outcome before it returns to idle.
        public var outcomeDisplay: Duration = .seconds(5)
        /// Manual and ServerCallback only: after an InsertCart without an answer, try once more with
        /// a fresh cart while the customer is still at the pad (before the deadline). Off by
        /// default: the customer may then see two requests on their phone, which can confuse.
        public var retryUnansweredInsertOnce = false
        /// Debug builds trap on an impossible event (`assertionFailure`); tests that provoke one
        /// turn this off to see the release behaviour. No effect in release builds.
        public var trapsOnImpossibleEvent = true

        public init() {}
    }

    /// The four calls, with what they need. The customer id and SMS code are in clear here
    /// (they must reach Netgíró); `description` masks them.
    public enum NetgiroRequest: Sendable, Hashable, CustomStringConvertible {
        case insertCart(InsertCartRequest)
        case checkCart(transactionId: String)
        case confirmCart(transactionId: String, identifier: String?)
        case cancelCart(transactionId: String)

        public var call: NetgiroCall {
            switch self {
            case .insertCart: return .insertCart
            case .checkCart: return .checkCart
            case .confirmCart: return .confirmCart
            case .cancelCart: return .cancelCart
            }
        }

        public var description: String {
            switch self {
            case .insertCart(let r): return r.description
            case .checkCart(let id): return "CheckCart(\(id))"
            case .confirmCart(let id, let identifier):
                return "ConfirmCart(\(id)\(identifier.map { ", Identifier: \(PersonalData.mask($0))" } ?? ""))"
            case .cancelCart(let id): return "CancelCart(\(id))"
            }
        }
    }

    public enum TimerKind: String, Sendable, Hashable {
        /// Next CheckCart (or the next CancelCart attempt).
        case poll
        /// The overall deadline.
        case deadline
    }

    /// What the shell must do, in order.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        /// Write the transition durably; only then carry out the actions after it. If it fails,
        /// carry out nothing more.
        case persist(PaymentTransition)
        case show(CustomerScreen)
        /// Ask the customer; report with `customerEntered(_:prompt:now:)` quoting `id`.
        case prompt(CustomerPrompt, id: Int)
        /// End the prompt under way (its result is then ignored).
        case cancelPrompt
        /// Send the request; report with the matching `…Completed` event.
        case call(NetgiroRequest)
        /// (Re)start the timer of that kind; report with `timerFired(_:id:now:)` quoting `id`.
        case startTimer(TimerKind, after: Duration, id: Int)
        case cancelTimer(TimerKind)
        /// Tell the till (and any observer) about the payment as it now stands.
        case notifyTill(PaymentRecord)
        /// After this long, put the pad back to ``CustomerScreen/idle``.
        case returnToIdle(after: Duration)
        /// Answer the ServerCallback reported as `id`: HTTP 200 when `accept` (that makes the
        /// sale), a refusal otherwise (Netgíró then cancels the cart).
        case answerCallback(id: Int, accept: Bool)
        /// A line for the log (no personal data in clear).
        case log(String)
        /// An event that cannot happen in this state reached the checkout (a programming error):
        /// log it as an error and count it. The checkout did nothing else.
        case impossibleEvent(String)

        public var description: String {
            switch self {
            case .persist(let t): return "persist(\(t.from.rawValue) → \(t.record.phase.rawValue): \(t.cause))"
            case .show(let s): return "show(\(s))"
            case .prompt(let p, let id): return "prompt(\(p.kind.rawValue), \(p.hint.rawValue), #\(id))"
            case .cancelPrompt: return "cancelPrompt"
            case .call(let r): return "call(\(r))"
            case .startTimer(let k, let d, let id): return "startTimer(\(k.rawValue), \(d), #\(id))"
            case .cancelTimer(let k): return "cancelTimer(\(k.rawValue))"
            case .notifyTill(let r): return "notifyTill(\(r.phase.rawValue))"
            case .returnToIdle(let d): return "returnToIdle(after: \(d))"
            case .answerCallback(let id, let accept): return "answerCallback(#\(id), \(accept ? "accept" : "refuse"))"
            case .log(let line): return "log(\(line))"
            case .impossibleEvent(let what): return "impossibleEvent(\(what))"
            }
        }
    }

    enum Confirmation: Hashable, Sendable {
        /// ConfirmCart with the SMS payment code; `wrongCodes` so far.
        case smsCode(wrongCodes: Int)
        /// ConfirmCart with the TransactionId only: captures a reservation (10426).
        case capture
    }

    /// What the poll timer starts when it fires.
    enum Next: Hashable, Sendable {
        /// CheckCart: where is the cart?
        case checkCart
        /// The next CancelCart attempt (`attempt` counts from 1).
        case cancelCart(CancelReason, attempt: Int)
        /// CheckCart after CancelCart answered "already confirmed": was it paid?
        case verifyCancel(CancelReason, attempt: Int)
    }

    /// What every state before the end carries.
    struct Live: Hashable, Sendable {
        /// The next prompt or timer id.
        var nextID = 1
        /// The deadline timer, while armed.
        var deadlineTimer: Int?
        /// What the pad shows now (so a screen is sent only when it changes).
        var screen: CustomerScreen?

        mutating func takeID() -> Int {
            defer { nextID += 1 }
            return nextID
        }
    }

    /// A ServerCallback that came while InsertCart was in flight: answered once InsertCart has.
    struct HeldCallback: Hashable, Sendable {
        var id: Int
        /// The cart it names (lowercased).
        var transactionId: String?
    }

    /// InsertCart in flight.
    struct Inserting: Hashable, Sendable {
        /// In clear, in memory only (never persisted): what a retry would send again.
        var customer: CustomerIdentifier
        /// 1, or 2 for the one retry ``Configuration/retryUnansweredInsertOnce`` allows.
        var attempt: Int
        var heldCallbacks: [HeldCallback] = []
    }

    enum State: Hashable, Sendable {
        /// Not started (or rebuilt from the journal, not resumed yet).
        case created(Live)
        /// The customer-id prompt `prompt` is on the pad.
        case identifying(Live, prompt: Int, refused: Int)
        /// InsertCart in flight.
        case inserting(Live, Inserting)
        /// The cart exists; the poll timer `timer` is armed and starts `next`.
        case waiting(Live, timer: Int, next: Next)
        /// CheckCart in flight.
        case checking(Live)
        /// The SMS-code prompt `prompt` is on the pad.
        case enteringSMSCode(Live, prompt: Int, wrongCodes: Int)
        /// ConfirmCart in flight.
        case confirming(Live, Confirmation)
        /// CancelCart in flight (`attempt` counts from 1).
        case cancelling(Live, CancelReason, attempt: Int)
        /// CheckCart in flight after CancelCart answered "already confirmed".
        case verifyingCancel(Live, CancelReason, attempt: Int)
        case finished

        var live: Live? {
            switch self {
            case .created(let l), .identifying(let l, _, _), .inserting(let l, _), .waiting(let l, _, _), .checking(let l),
                .enteringSMSCode(let l, _, _), .confirming(let l, _), .cancelling(let l, _, _), .verifyingCancel(let l, _, _):
                return l
            case .finished:
                return nil
            }
        }

        /// The same state with its ``Live`` changed.
        func with(_ change: (inout Live) -> Void) -> State {
            switch self {
            case .created(var l): change(&l); return .created(l)
            case .identifying(var l, let p, let r): change(&l); return .identifying(l, prompt: p, refused: r)
            case .inserting(var l, let i): change(&l); return .inserting(l, i)
            case .waiting(var l, let t, let n): change(&l); return .waiting(l, timer: t, next: n)
            case .checking(var l): change(&l); return .checking(l)
            case .enteringSMSCode(var l, let p, let w): change(&l); return .enteringSMSCode(l, prompt: p, wrongCodes: w)
            case .confirming(var l, let c): change(&l); return .confirming(l, c)
            case .cancelling(var l, let r, let a): change(&l); return .cancelling(l, r, attempt: a)
            case .verifyingCancel(var l, let r, let a): change(&l); return .verifyingCancel(l, r, attempt: a)
            case .finished: return .finished
            }
        }

        var name: String {
            switch self {
            case .created: return "created"
            case .identifying: return "identifying"
            case .inserting: return "inserting"
            case .waiting: return "waiting"
            case .checking: return "checking"
            case .enteringSMSCode: return "enteringSMSCode"
            case .confirming: return "confirming"
            case .cancelling: return "cancelling"
            case .verifyingCancel: return "verifyingCancel"
            case .finished: return "finished"
            }
        }
    }

    public let configuration: Configuration
    public private(set) var record: PaymentRecord
    private(set) var state: State
    /// Impossible events seen (programming errors; each also reported as ``Action/impossibleEvent(_:)``).
    public private(set) var impossibleEvents = 0

    /// A new payment (phase `created`). Throws when the request cannot be run.
    public init(id: String, request: PaymentRequest, now: Date, configuration: Configuration = Configuration())
        throws(PaymentRequestError)
    {
        if let problem = request.problem { throw problem }
        self.configuration = configuration
        self.record = PaymentRecord(
            id: id, request: request, createdAt: now, deadline: now.addingTimeInterval(configuration.deadline.seconds))
        self.state = .created(Live())
    }

    /// A payment rebuilt from the journal after a restart; `resume(now:)` continues it.
    public init(restoring record: PaymentRecord, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.record = record
        self.state = record.phase.isFinal ? .finished : .created(Live())
    }

    public var phase: PaymentPhase { record.phase }
    public var isFinished: Bool { state == .finished }
    public var outcome: PaymentOutcome? { record.outcome }

    // MARK: Events

    /// Starts a new payment: arm the deadline, ask for the customer's identifier.
    public mutating func start(now: Date) -> [Action] {
        switch state {
        case .created(var live):
            guard record.phase == .created else {
                return impossible("start of a payment rebuilt from the journal (use resume)")
            }
            var actions = moveTo(.awaitingCustomerID, cause: "started", now: now)
            actions += armDeadline(now: now, &live)
            actions += promptCustomerID(hint: .none, refused: 0, live)
            return actions
        case .identifying, .inserting, .waiting, .checking, .enteringSMSCode, .confirming, .cancelling, .verifyingCancel,
            .finished:
            return impossible("start while \(state.name)")
        }
    }

    /// Continues a payment rebuilt from the journal (``init(restoring:configuration:)``).
    public mutating func resume(now: Date) -> [Action] {
        switch state {
        case .finished:
            return []  // rebuilt from a final record: nothing to do
        case .identifying, .inserting, .waiting, .checking, .enteringSMSCode, .confirming, .cancelling, .verifyingCancel:
            return impossible("resume while \(state.name)")
        case .created(var live):
            switch record.phase {
            case .paid, .declined, .cancelled, .failed, .unknown:
                state = .finished
                return []
            case .created, .awaitingCustomerID:
                // Nothing was sent to Netgíró: ask the customer again, within the same deadline.
                guard now < record.deadline else {
                    return finish(.cancelled, message: CancelReason.deadline.explanation,
                        cause: "recovered past the deadline before InsertCart", now: now)
                }
                var actions = moveTo(.awaitingCustomerID, cause: "recovered: asking the customer again", now: now)
                actions += armDeadline(now: now, &live)
                actions += promptCustomerID(hint: .none, refused: 0, live)
                return actions
            case .inserting:
                // The one window: InsertCart may have created a cart whose TransactionId we never
                // learnt. Never insert again on our own after a restart (the customer may be gone).
                return insertUnanswered(detail: "the bridge stopped while it was in flight", cause: "recovered: InsertCart unanswered", now: now)
            case .awaitingCustomer, .awaitingSMSCode, .confirming, .cancelling:
                guard record.transactionId != nil else {
                    return insertUnanswered(detail: "no TransactionId was recorded", cause: "recovered without TransactionId", now: now)
                }
                var actions: [Action] = [.log("resuming payment \(record.id) (\(record.phase.rawValue)) after a restart")]
                actions += armDeadline(now: now, &live)
                state = .created(live)
                if now >= record.deadline {
                    actions += sendCancel(record.cancelReason ?? .deadline, attempt: 1, now: now)
                } else if let reason = record.cancelReason ?? (record.phase == .cancelling ? .till : nil) {
                    actions += sendCancel(reason, attempt: 1, now: now)
                } else {
                    // CheckCart decides where the cart is (a ConfirmCart may have gone through) —
                    // after one poll interval: the last CheckCart may have gone out just before the stop.
                    actions += moveTo(.awaitingCustomer, cause: "recovered: CheckCart after one poll interval", now: now)
                    actions += showing(.working(amount: record.amount), &live)
                    actions += schedule(.checkCart, live)
                }
                return actions
            }
        }
    }

    /// A prompt ended on the pad. The answer to a prompt that was since cancelled or replaced is
    /// ignored.
    public mutating func customerEntered(_ entry: CustomerEntry, prompt: Int, now: Date) -> [Action] {
        switch state {
        case .identifying(let live, let id, let refused) where id == prompt:
            switch entry {
            case .entered(let text):
                guard let customer = CustomerIdentifier.classify(text) else {
                    let refusedNow = refused + 1
                    if refusedNow >= configuration.customerIDTries {
                        state = .created(live)  // the prompt has ended
                        return finish(.cancelled, message: "no valid customer identifier was entered",
                            cause: "customer id refused \(refusedNow) times", now: now)
                    }
                    return [.log("entry refused: not a phone number, kennitala or app code")]
                        + promptCustomerID(hint: .invalidEntry, refused: refusedNow, live)
                }
                return insert(Inserting(customer: customer, attempt: 1), live, now: now)
            case .cancelledByCustomer:
                state = .created(live)
                return finish(.cancelled, message: CancelReason.customer.explanation, cause: "customer cancelled", now: now)
            case .timedOut:
                state = .created(live)
                return finish(.cancelled, message: "the customer did not enter an identifier in time",
                    cause: "customer id prompt timed out", now: now)
            case .terminalUnavailable:
                state = .created(live)
                return finish(.failed, message: "the PIN pad \(record.request.terminalID) is unavailable — check it and start the payment again",
                    cause: "terminal unavailable", now: now, reason: .terminalUnavailable)
            case .promptUnsupported:
                // Nothing was sent to Netgíró: no cart to cancel.
                state = .created(live)
                return finish(.failed,
                    message: "the PIN pad \(record.request.terminalID) has no customer-id prompt (CUSTOMER_ID), so it cannot take "
                        + "payments — take the payment on another terminal",
                    cause: "customer id prompt unsupported by the pad", now: now, reason: .promptUnsupported)
            }

        case .enteringSMSCode(var live, let id, let wrongCodes) where id == prompt:
            guard let transactionId = record.transactionId else { return impossible("SMS code entered without a cart") }
            switch entry {
            case .entered(let code):
                let code = code.filter { $0 != " " }
                guard !code.isEmpty, code.count <= 12, code.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter) })
                else {
                    return promptSMSCode(hint: .invalidEntry, wrongCodes: wrongCodes, live)
                }
                var actions = moveTo(.confirming, cause: "SMS payment code entered", now: now)
                actions += showing(.working(amount: record.amount), &live)
                state = .confirming(live, .smsCode(wrongCodes: wrongCodes))
                actions.append(.call(.confirmCart(transactionId: transactionId, identifier: code)))
                return actions
            case .cancelledByCustomer, .timedOut:
                state = .checking(live)  // the prompt has ended
                return sendCancel(.customer, attempt: 1, now: now)
            case .terminalUnavailable:
                state = .checking(live)
                return sendCancel(.terminal, attempt: 1, now: now)
            case .promptUnsupported:
                // The cart exists and waits for a code this pad cannot ask for: cancel it, then fail.
                state = .checking(live)
                return sendCancel(.promptUnsupported, attempt: 1, now: now)
            }

        case .identifying, .enteringSMSCode, .created, .inserting, .waiting, .checking, .confirming, .cancelling,
            .verifyingCancel, .finished:
            return []  // a prompt that was cancelled or replaced: its answer means nothing
        }
    }

    public mutating func insertCartCompleted(_ result: Result<InsertCartResponse, NetgiroClientError>, now: Date) -> [Action] {
        switch state {
        case .inserting(let live, let inserting):
            var actions: [Action]
            switch result {
            case .failure(let error):
                switch error {
                case .notSent, .invalidRequest:
                    actions = finish(.failed, message: "InsertCart was not sent: \(error) — the payment can be started again",
                        cause: "InsertCart not sent", now: now, reason: .insertNotSent)
                default:
                    actions = insertUnanswered(inserting, live, detail: "\(error)", cause: "InsertCart unanswered", now: now)
                }
            case .success(let response):
                note(message: response.message, code: response.resultCode)
                if let transactionId = response.transactionId, !transactionId.isEmpty {
                    actions = inserted(transactionId, response, live, now: now)
                } else {
                    switch response.resultCode {
                    case .customerDeclined, .paymentCancelled, .customerDoesNotExist, .belowMinimumAmount, .cartNotValid,
                        .invalidConfirmationType, .alreadyCancelled:
                        actions = finish(.declined, message: response.message ?? response.resultCode.description,
                            cause: "InsertCart refused (\(response.resultCode.code))", now: now)
                    default:
                        if response.success {
                            actions = insertUnanswered(inserting, live, detail: "it answered success without a TransactionId",
                                cause: "InsertCart without TransactionId", now: now)
                        } else {
                            actions = finish(.failed, message: response.message ?? response.resultCode.description,
                                cause: "InsertCart refused (\(response.resultCode.code))", now: now, reason: .insertRefused)
                        }
                    }
                }
            }
            // Callbacks that overtook the answer: accepted only for the cart now held live.
            for held in inserting.heldCallbacks {
                actions += callbackAnswer(transactionId: held.transactionId, id: held.id, holdWhileInserting: false, now: now)
            }
            return actions
        case .created, .identifying, .waiting, .checking, .enteringSMSCode, .confirming, .cancelling, .verifyingCancel,
            .finished:
            return impossible("InsertCart answer while \(state.name)")
        }
    }

    public mutating func checkCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        switch state {
        case .checking(let live):
            switch result {
            case .failure(let error):
                if let reason = record.cancelReason { return sendCancel(reason, attempt: 1, now: now) }
                return [.log("CheckCart failed: \(error); polling again")] + schedule(.checkCart, live)
            case .success(let response):
                return react(to: response, live, now: now)
            }
        case .verifyingCancel(let live, let reason, let attempt):
            switch result {
            case .success(let response):
                note(message: response.message, code: response.resultCode)
                if response.paymentSuccessful {
                    return finish(.paid, message: response.message, cause: "paid before the cancel arrived", now: now, info: response.paymentInfo)
                }
                if Self.endsTheCart(response.resultCode) {
                    return finish(reason.finalPhase, message: reason.explanation, cause: "cart ended (\(response.resultCode.code))", now: now,
                        reason: reason.failureReason)
                }
                return retryCancel(reason, after: attempt, live, now: now)
            case .failure:
                return retryCancel(reason, after: attempt, live, now: now)
            }
        case .created, .identifying, .inserting, .waiting, .enteringSMSCode, .confirming, .cancelling, .finished:
            return impossible("CheckCart answer while \(state.name)")
        }
    }

    public mutating func confirmCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        switch state {
        case .confirming(let live, let confirmation):
            switch result {
            case .failure(let error):
                // The ConfirmCart may or may not have taken effect: CheckCart decides, at the
                // server's interval (or CancelCart, when a cancel is waiting: its answer tells).
                if let reason = record.cancelReason { return sendCancel(reason, attempt: 1, now: now) }
                return [.log("ConfirmCart got no usable answer (\(error)); CheckCart after the poll interval")]
                    + schedule(.checkCart, live)
            case .success(let response):
                switch confirmation {
                case .smsCode(let wrongCodes) where !response.paymentSuccessful && response.resultCode == .smsCodeRequired:
                    note(message: response.message, code: response.resultCode)
                    let wrong = wrongCodes + 1
                    if wrong >= configuration.smsCodeTries || record.cancelReason != nil {
                        return sendCancel(record.cancelReason ?? .smsCodeTries, attempt: 1, now: now)
                    }
                    return moveTo(.awaitingSMSCode, cause: "wrong SMS payment code (\(wrong))", now: now)
                        + promptSMSCode(hint: .wrongCode, wrongCodes: wrong, live)
                case .capture where !response.paymentSuccessful && response.resultCode == .alreadyConfirmed:
                    note(message: response.message, code: response.resultCode)
                    return schedule(.checkCart, live)
                case .capture where !response.paymentSuccessful && response.resultCode == .reservationAwaitingConfirmCart:
                    // Not taken yet: try again after a poll, not in a tight loop.
                    note(message: response.message, code: response.resultCode)
                    if let reason = record.cancelReason { return sendCancel(reason, attempt: 1, now: now) }
                    return moveTo(.awaitingCustomer, cause: "capture not taken yet", now: now) + schedule(.checkCart, live)
                case .smsCode, .capture:
                    return react(to: response, live, now: now)
                }
            }
        case .created, .identifying, .inserting, .waiting, .checking, .enteringSMSCode, .cancelling, .verifyingCancel,
            .finished:
            return impossible("ConfirmCart answer while \(state.name)")
        }
    }

    public mutating func cancelCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        switch state {
        case .cancelling(let live, let reason, let attempt):
            switch result {
            case .failure(let error):
                return [.log("CancelCart failed: \(error)")] + retryCancel(reason, after: attempt, live, now: now)
            case .success(let response):
                note(message: response.message, code: response.resultCode)
                if response.paymentSuccessful {
                    return finish(.paid, message: response.message,
                        cause: "CancelCart answered paid: the customer won the race", now: now, info: response.paymentInfo)
                }
                switch response.resultCode {
                case .paymentCancelled, .alreadyCancelled, .cartNotFound, .customerDeclined:
                    return finish(reason.finalPhase, message: reason.explanation, cause: "cart cancelled (\(response.resultCode.code))", now: now,
                        reason: reason.failureReason)
                case .alreadyConfirmed, .paymentCompleted:
                    return schedule(.verifyCancel(reason, attempt: attempt), live)
                default:
                    return retryCancel(reason, after: attempt, live, now: now)
                }
            }
        case .created, .identifying, .inserting, .waiting, .checking, .enteringSMSCode, .confirming, .verifyingCancel,
            .finished:
            return impossible("CancelCart answer while \(state.name)")
        }
    }

    /// A verified ServerCallback for this payment's cart, reported by the shell as `id`. The
    /// actions answer it with ``Action/answerCallback(id:accept:)``: accepted (HTTP 200, which
    /// makes the sale) only while the payment holds that cart live and no cancel is under way;
    /// refused otherwise, so that Netgíró cancels it — a cart the bridge does not hold is never
    /// paid. While InsertCart is in flight the callback is held and answered once InsertCart has
    /// (the callback may overtake InsertCart's answer). An accepted callback does not end the
    /// payment: CheckCart, at the poll interval, sees the payment made.
    public mutating func callbackReceived(_ response: CartResponse, id: Int, now: Date) -> [Action] {
        callbackAnswer(transactionId: response.paymentInfo?.transactionId?.lowercased(), id: id, holdWhileInserting: true, now: now)
    }

    /// The till cancels. Before a cart exists the payment just ends; with a cart, CancelCart
    /// (an answer of paid means the customer won the race).
    public mutating func tillCancelled(now: Date) -> [Action] {
        requestCancel(.till, now: now)
    }

    /// A timer fired. A timer since cancelled or replaced (its id is not the armed one) is ignored.
    public mutating func timerFired(_ kind: TimerKind, id: Int, now: Date) -> [Action] {
        switch kind {
        case .deadline:
            // No live state (finished) or another id: a timer since cancelled or replaced.
            guard let live = state.live, live.deadlineTimer == id else { return [] }
            state = state.with { $0.deadlineTimer = nil }
            return requestCancel(.deadline, now: now)
        case .poll:
            switch state {
            case .waiting(let live, let timer, let next) where timer == id:
                guard let transactionId = record.transactionId else { return impossible("poll timer without a cart") }
                switch next {
                case .checkCart:
                    state = .checking(live)
                    return [.call(.checkCart(transactionId: transactionId))]
                case .cancelCart(let reason, let attempt):
                    state = .checking(live)  // the timer has fired: nothing to stop
                    return sendCancel(reason, attempt: attempt, now: now)
                case .verifyCancel(let reason, let attempt):
                    state = .verifyingCancel(live, reason, attempt: attempt)
                    return [.call(.checkCart(transactionId: transactionId))]
                }
            case .waiting, .created, .identifying, .inserting, .checking, .enteringSMSCode, .confirming, .cancelling,
                .verifyingCancel, .finished:
                return []
            }
        }
    }

    // MARK: Reactions

    /// What a cart's state (CheckCart, ConfirmCart) means for the payment.
    private mutating func react(to response: CartResponse, _ live: Live, now: Date) -> [Action] {
        var live = live
        note(message: response.message, code: response.resultCode)
        if let invoice = response.paymentInfo?.invoiceNumber { record.invoiceNumber = invoice }
        guard let transactionId = record.transactionId else { return impossible("a cart's answer without a cart") }
        if response.paymentSuccessful {
            return finish(.paid, message: response.message, cause: "payment successful (\(response.resultCode.code))",
                now: now, info: response.paymentInfo)
        }
        if Self.endsTheCart(response.resultCode) {
            if let reason = record.cancelReason {
                return finish(reason.finalPhase, message: reason.explanation, cause: "cart ended (\(response.resultCode.code))", now: now,
                    reason: reason.failureReason)
            }
            return finish(.declined, message: response.message ?? response.resultCode.description,
                cause: "declined (\(response.resultCode.code))", now: now)
        }
        if let reason = record.cancelReason {
            return sendCancel(reason, attempt: 1, now: now)
        }
        switch response.resultCode {
        case .reservationAwaitingConfirmCart:
            return capture(transactionId, live, now: now)
        case .smsCodeRequired:
            return moveTo(.awaitingSMSCode, cause: "SMS payment code needed", now: now)
                + promptSMSCode(hint: .none, wrongCodes: 0, live)
        case .awaitingCallbackResponse, .pendingCustomerConfirmation:
            var actions = moveTo(.awaitingCustomer, cause: "waiting (\(response.resultCode.code))", now: now)
            actions += showing(.confirmInApp(amount: record.amount), &live)
            return actions + schedule(.checkCart, live)
        default:
            // 200, 400, 500, 10200 without PaymentSuccessful, unknown codes: look again later.
            return moveTo(.awaitingCustomer, cause: "no decision yet (\(response.resultCode.code))", now: now)
                + schedule(.checkCart, live)
        }
    }

    /// The answer to a callback naming `transactionId`, in the state the payment is in.
    private mutating func callbackAnswer(transactionId named: String?, id: Int, holdWhileInserting: Bool, now: Date) -> [Action] {
        let ours = named != nil && named == record.transactionId?.lowercased()
        func refuse(_ why: String) -> [Action] {
            [.log("ServerCallback refused: \(why)"), .answerCallback(id: id, accept: false)]
        }
        switch state {
        case .created, .identifying:
            return refuse("no cart was inserted yet")
        case .inserting(let live, var inserting):
            guard holdWhileInserting else { return refuse("InsertCart is being sent again; that cart is not held") }
            inserting.heldCallbacks.append(HeldCallback(id: id, transactionId: named))
            state = .inserting(live, inserting)
            return [.log("ServerCallback held until InsertCart answers")]
        case .finished:
            // Netgíró repeats a callback only when the first failed; for a sale already seen paid
            // the answer changes nothing, and 200 is the truth.
            if ours, record.phase == .paid { return [.answerCallback(id: id, accept: true)] }
            return refuse("the payment has ended (\(record.phase.rawValue))")
        case .waiting(_, _, .cancelCart), .waiting(_, _, .verifyCancel), .cancelling, .verifyingCancel:
            return refuse("the cart is being cancelled")
        case .waiting(_, _, .checkCart), .checking, .enteringSMSCode, .confirming:
            guard ours else { return refuse("not this payment's cart") }
            if record.cancelReason != nil { return refuse("a cancel is under way") }
            var actions: [Action] = []
            if record.goAheadGiven != true {
                // Written before the 200 that makes the sale: from here on money can have moved.
                record.goAheadGiven = true
                actions += persistOnly(cause: "ServerCallback accepted: the sale is made when Netgíró has the 200", now: now)
            }
            return actions + [.answerCallback(id: id, accept: true)]
        }
    }

    /// Result codes after which the cart can never be paid.
    static func endsTheCart(_ code: ResultCode) -> Bool {
        switch code {
        case .paymentCancelled, .alreadyCancelled, .customerDeclined, .cartNotValid, .belowMinimumAmount,
            .customerDoesNotExist, .cartNotFound, .invalidConfirmationType:
            return true
        default:
            return false
        }
    }

    private mutating func requestCancel(_ reason: CancelReason, now: Date) -> [Action] {
        switch state {
        case .created:
            return finish(.cancelled, message: reason.explanation, cause: "cancelled before start", now: now)
        case .identifying:
            return finish(.cancelled, message: reason.explanation, cause: "\(reason.rawValue) cancel before InsertCart", now: now)
        case .inserting, .checking, .confirming:
            guard record.cancelReason == nil else { return [] }
            record.cancelReason = reason
            return persistOnly(cause: "\(reason.rawValue) cancel asked while a call is in flight", now: now)
        case .waiting(_, _, .checkCart), .enteringSMSCode:
            return sendCancel(reason, attempt: 1, now: now)
        case .waiting(_, _, .cancelCart), .waiting(_, _, .verifyCancel), .cancelling, .verifyingCancel, .finished:
            return []
        }
    }

    // MARK: Steps

    private mutating func insert(_ inserting: Inserting, _ live: Live, now: Date) -> [Action] {
        var live = live
        let customer = inserting.customer
        record.customerKind = customer.kind
        record.customerMasked = customer.masked
        let request = record.request
        var actions: [Action] = []
        if inserting.attempt == 1, customer.kind == .kennitalaOrAppCode, !customer.passesKennitalaCheck {
            actions.append(.log("\(customer.masked): no kennitala check digit (an app code or a new kennitala); sent unchanged"))
        }
        // Write-ahead intent: "about to InsertCart reference R".
        if inserting.attempt == 1 {
            actions += moveTo(.inserting, cause: "about to InsertCart reference \(request.reference) for \(customer)", now: now)
        } else {
            actions += persistOnly(
                cause: "about to InsertCart reference \(request.reference) again (attempt \(inserting.attempt)): the first got no answer",
                now: now)
        }
        actions += showing(.working(amount: request.amount), &live)
        state = .inserting(live, Inserting(customer: customer, attempt: inserting.attempt))
        actions.append(
            .call(
                .insertCart(
                    InsertCartRequest(
                        amount: request.amount, reference: request.reference, customerId: customer.value,
                        confirmationType: request.confirmationType, callbackUrl: request.callbackUrl,
                        callbackCancelUrl: request.callbackCancelUrl, cartDescription: request.description,
                        items: request.lines.map(\.cartItem)))))
        return actions
    }

    /// InsertCart answered with a TransactionId.
    private mutating func inserted(_ transactionId: String, _ response: InsertCartResponse, _ live: Live, now: Date) -> [Action] {
        var live = live
        record.transactionId = transactionId
        let interval = (response.processCartCheckInterval ?? configuration.defaultPollInterval)
            .clamped(to: configuration.pollIntervalBounds)
        record.pollIntervalMilliseconds = Int(interval.milliseconds)
        // 10428: the customer's next step is the SMS code, and the till sees that state before
        // the prompt (not `processing` until a wrong code).
        let next: PaymentPhase = response.resultCode == .smsCodeRequired && record.cancelReason == nil ? .awaitingSMSCode : .awaitingCustomer
        var actions = moveTo(next, cause: "cart \(transactionId) inserted (\(response.resultCode.code))", now: now)
        state = .checking(live)  // nothing to stop; the steps below set the state
        if let reason = record.cancelReason {
            return actions + sendCancel(reason, attempt: 1, now: now)
        }
        switch response.resultCode {
        case .smsCodeRequired:
            actions += promptSMSCode(hint: .none, wrongCodes: 0, live)
        case .reservationAwaitingConfirmCart:
            actions += capture(transactionId, live, now: now)
        case .customerDeclined, .paymentCancelled, .alreadyCancelled, .customerDoesNotExist:
            actions += finish(.declined, message: response.message ?? response.resultCode.description,
                cause: "InsertCart declined (\(response.resultCode.code))", now: now)
        case .paymentCompleted:
            // InsertCart's answer carries no PaymentSuccessful: CheckCart confirms it, at the interval.
            actions += schedule(.checkCart, live)
        default:
            actions += showing(.confirmInApp(amount: record.amount), &live)
            actions += schedule(.checkCart, live)
        }
        return actions
    }

    /// InsertCart was sent and no usable answer came: the one window (see the type's notes).
    private mutating func insertUnanswered(
        _ inserting: Inserting, _ live: Live, detail: String, cause: String, now: Date
    ) -> [Action] {
        if configuration.retryUnansweredInsertOnce, inserting.attempt == 1, !record.moneyCanHaveMoved,
            record.cancelReason == nil, now < record.deadline
        {
            // Callbacks held for the first cart are refused (insertCartCompleted answers them).
            let actions: [Action] = [.log("InsertCart got no answer (\(detail)); trying once more with a fresh cart")]
            return actions + insert(Inserting(customer: inserting.customer, attempt: 2), live, now: now)
        }
        return insertUnanswered(detail: detail, cause: cause, now: now)
    }

    private mutating func insertUnanswered(detail: String, cause: String, now: Date) -> [Action] {
        let reference = record.reference
        switch record.request.confirmationType {
        case .automatic:
            return finish(.unknown,
                message: "InsertCart for reference \(reference) got no usable answer (\(detail)); with Automatic confirmation "
                    + "the customer can still accept that cart — check Netgíró for this reference before taking the payment again",
                cause: "\(cause): outcome unknown", now: now)
        case .manual:
            return finish(.failed,
                message: "InsertCart for reference \(reference) got no usable answer (\(detail)); with Manual confirmation no money "
                    + "moves without the bridge's ConfirmCart, which it cannot send for that cart — start the payment again "
                    + "(the customer may see a reservation that expires)",
                cause: "\(cause): nothing can be captured", now: now, reason: .insertUnanswered)
        case .serverCallback:
            return finish(.failed,
                message: "InsertCart for reference \(reference) got no usable answer (\(detail)); the bridge refuses Netgíró's "
                    + "callback for that cart, so it is cancelled, never paid — start the payment again",
                cause: "\(cause): its callback will be refused", now: now, reason: .insertUnanswered)
        }
    }

    private mutating func capture(_ transactionId: String, _ live: Live, now: Date) -> [Action] {
        var live = live
        let firstGoAhead = record.goAheadGiven != true
        record.goAheadGiven = true
        var actions = moveTo(.confirming, cause: "reservation made: ConfirmCart to capture", now: now)
        if actions.isEmpty, firstGoAhead {
            actions += persistOnly(cause: "reservation made: ConfirmCart to capture", now: now)
        }
        actions += showing(.working(amount: record.amount), &live)
        state = .confirming(live, .capture)
        actions.append(.call(.confirmCart(transactionId: transactionId, identifier: nil)))
        return actions
    }

    /// Ends an open prompt and the poll timer, as every cancel and every final state does.
    private func stopPromptAndPolling() -> [Action] {
        switch state {
        case .identifying, .enteringSMSCode: return [.cancelPrompt]
        case .waiting: return [.cancelTimer(.poll)]
        case .created, .inserting, .checking, .confirming, .cancelling, .verifyingCancel, .finished: return []
        }
    }

    private mutating func sendCancel(_ reason: CancelReason, attempt: Int, now: Date) -> [Action] {
        guard let transactionId = record.transactionId else {
            return finish(.cancelled, message: reason.explanation, cause: "\(reason.rawValue) cancel, no cart", now: now)
        }
        guard var live = state.live else { return impossible("cancel after the end") }
        var actions = stopPromptAndPolling()
        record.cancelReason = reason
        actions += moveTo(.cancelling, cause: "CancelCart (\(reason.rawValue), attempt \(attempt))", now: now)
        actions += showing(.working(amount: record.amount), &live)
        state = .cancelling(live, reason, attempt: attempt)
        actions.append(.call(.cancelCart(transactionId: transactionId)))
        return actions
    }

    private mutating func retryCancel(_ reason: CancelReason, after attempt: Int, _ live: Live, now: Date) -> [Action] {
        guard attempt < configuration.cancelAttempts else {
            if !record.moneyCanHaveMoved {
                // Manual / ServerCallback without our go-ahead: the cart can never be paid.
                return finish(reason.finalPhase,
                    message: "\(reason.explanation); CancelCart was not confirmed after \(attempt) attempts, but no money can move "
                        + "on the cart without the bridge's go-ahead, which it never gave",
                    cause: "cancel not confirmed; nothing can be captured", now: now, reason: reason.failureReason)
            }
            return finish(
                .unknown,
                message: "CancelCart for reference \(record.reference) failed \(attempt) times; "
                    + "check Netgíró whether the sale was paid",
                cause: "cancel not confirmed", now: now)
        }
        return schedule(.cancelCart(reason, attempt: attempt + 1), live)
    }

    /// Arms the poll timer for `next`, at the server's interval.
    private mutating func schedule(_ next: Next, _ live: Live) -> [Action] {
        var live = live
        let id = live.takeID()
        state = .waiting(live, timer: id, next: next)
        return [.startTimer(.poll, after: pollInterval, id: id)]
    }

    /// Netgíró's `ProcessCartCheckIntervalMiliseconds` as bounded at InsertCart (or the default).
    var pollInterval: Duration {
        record.pollIntervalMilliseconds.map { Duration.milliseconds($0) }
            ?? configuration.defaultPollInterval.clamped(to: configuration.pollIntervalBounds)
    }

    private func armDeadline(now: Date, _ live: inout Live) -> [Action] {
        let id = live.takeID()
        live.deadlineTimer = id
        let remaining = max(0, record.deadline.timeIntervalSince(now))
        return [.startTimer(.deadline, after: .milliseconds(Int((remaining * 1000).rounded(.up))), id: id)]
    }

    private mutating func promptCustomerID(hint: CustomerPromptHint, refused: Int, _ live: Live) -> [Action] {
        var live = live
        let id = live.takeID()
        state = .identifying(live, prompt: id, refused: refused)
        return [.prompt(CustomerPrompt(kind: .customerID, amount: record.amount, hint: hint), id: id)]
    }

    private mutating func promptSMSCode(hint: CustomerPromptHint, wrongCodes: Int, _ live: Live) -> [Action] {
        var live = live
        let id = live.takeID()
        live.screen = nil
        state = .enteringSMSCode(live, prompt: id, wrongCodes: wrongCodes)
        return [.prompt(CustomerPrompt(kind: .smsCode, amount: record.amount, hint: hint), id: id)]
    }

    private func showing(_ next: CustomerScreen, _ live: inout Live) -> [Action] {
        guard live.screen != next else { return [] }
        live.screen = next
        return [.show(next)]
    }

    private mutating func finish(
        _ phase: PaymentPhase, message: String?, cause: String, now: Date, info: PaymentInfo? = nil,
        reason: PaymentFailureReason? = nil
    ) -> [Action] {
        precondition(phase.isFinal)
        guard var live = state.live else { return impossible("a second outcome (\(phase.rawValue))") }
        var actions = stopPromptAndPolling()
        if live.deadlineTimer != nil {
            live.deadlineTimer = nil
            actions.append(.cancelTimer(.deadline))
        }
        if let invoice = info?.invoiceNumber { record.invoiceNumber = invoice }
        if let message { record.lastMessage = message }
        record.failureReason = reason
        record.finishedAt = now
        state = .finished
        actions += moveTo(phase, cause: cause, now: now)
        let screen: CustomerScreen
        switch phase {
        case .paid: screen = .paid(amount: record.amount)
        case .declined: screen = .declined(message: message)
        case .cancelled: screen = .cancelled
        case .failed: screen = .outOfService
        case .unknown: screen = .outcomeUnknown
        case .created, .awaitingCustomerID, .inserting, .awaitingCustomer, .awaitingSMSCode, .confirming, .cancelling:
            preconditionFailure("not final")
        }
        actions += showing(screen, &live)
        actions.append(.returnToIdle(after: configuration.outcomeDisplay))
        return actions
    }

    /// An event that cannot happen in the state the checkout is in: a bug in the shell or here.
    /// Traps in debug builds (unless the configuration says not to); counted and reported
    /// otherwise, and nothing changes — no call goes out on an event the checkout did not expect.
    private mutating func impossible(_ what: String) -> [Action] {
        impossibleEvents += 1
        if configuration.trapsOnImpossibleEvent {
            assertionFailure("Checkout \(record.id): impossible event: \(what)")
        }
        return [.impossibleEvent("payment \(record.id): \(what)")]
    }

    /// Records a phase change: persist first, then tell the till.
    /// Only a change of phase is written (repeated 10425 polls are not).
    private mutating func moveTo(_ phase: PaymentPhase, cause: String, now: Date) -> [Action] {
        let from = record.phase
        guard from != phase else { return [] }
        record.phase = phase
        record.updatedAt = now
        return [.persist(PaymentTransition(from: from, record: record, cause: cause, at: now)), .notifyTill(record)]
    }

    private mutating func persistOnly(cause: String, now: Date) -> [Action] {
        record.updatedAt = now
        return [.persist(PaymentTransition(from: record.phase, record: record, cause: cause, at: now)), .notifyTill(record)]
    }

    private mutating func note(message: String?, code: ResultCode) {
        if let message, !message.isEmpty { record.lastMessage = message }
        record.lastResultCode = code.code
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }

    func clamped(to range: ClosedRange<Duration>) -> Duration {
        min(max(self, range.lowerBound), range.upperBound)
    }
}
