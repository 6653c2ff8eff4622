import Foundation
import NetgiroAPI

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
/// An InsertCart without an answer ends in ``PaymentPhase/unknown`` and is never sent again.
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
        /// A line for the log (no personal data in clear).
        case log(String)

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
            case .log(let line): return "log(\(line))"
            }
        }
    }

    enum Confirmation: Hashable, Sendable {
        /// ConfirmCart with the SMS payment code; `wrongCodes` so far.
        case smsCode(wrongCodes: Int)
        /// ConfirmCart with the TransactionId only: captures a reservation (10426).
        case capture
    }

    enum State: Hashable, Sendable {
        /// Not started.
        case created
        /// The customer-id prompt `prompt` is on the pad.
        case identifying(prompt: Int, refused: Int)
        /// InsertCart in flight.
        case inserting
        /// The cart exists; the poll timer is armed.
        case waiting
        /// CheckCart in flight.
        case checking
        /// The SMS-code prompt `prompt` is on the pad.
        case enteringSMSCode(prompt: Int, wrongCodes: Int)
        /// ConfirmCart in flight.
        case confirming(Confirmation)
        /// CancelCart in flight (`attempt` counts from 1).
        case cancelling(CancelReason, attempt: Int)
        /// A CancelCart failed; the next attempt waits for the poll timer.
        case cancelRetryWait(CancelReason, attempt: Int)
        /// CancelCart answered "already confirmed": CheckCart in flight to learn whether it was paid.
        case verifyingCancel(CancelReason, attempt: Int)
        case finished
    }

    public let configuration: Configuration
    public private(set) var record: PaymentRecord
    private(set) var state: State
    /// A cancel asked for while a call was in flight; carried out when it returns.
    private var pendingCancel: CancelReason?
    private var nextID = 1
    private var pollTimerID: Int?
    private var deadlineTimerID: Int?
    private var promptID: Int?
    private var screen: CustomerScreen?

    /// A new payment (phase `created`). Throws when the request cannot be run.
    public init(id: String, request: PaymentRequest, now: Date, configuration: Configuration = Configuration())
        throws(PaymentRequestError)
    {
        if let problem = request.problem { throw problem }
        self.configuration = configuration
        self.record = PaymentRecord(
            id: id, request: request, createdAt: now, deadline: now.addingTimeInterval(configuration.deadline.seconds))
        self.state = .created
    }

    /// A payment rebuilt from the journal after a restart; `resume(now:)` continues it.
    public init(restoring record: PaymentRecord, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.record = record
        self.state = record.phase.isFinal ? .finished : .created
        self.pendingCancel = record.cancelReason
    }

    public var phase: PaymentPhase { record.phase }
    public var isFinished: Bool { state == .finished }
    public var outcome: PaymentOutcome? { record.outcome }

    // MARK: Events

    /// Starts a new payment: arm the deadline, ask for the customer's identifier.
    public mutating func start(now: Date) -> [Action] {
        switch state {
        case .created where record.phase == .created:
            var actions = moveTo(.awaitingCustomerID, cause: "started", now: now)
            actions += armDeadline(now: now)
            actions += promptCustomerID(hint: .none, refused: 0)
            return actions
        default:
            return []
        }
    }

    /// Continues a payment rebuilt from the journal (``init(restoring:configuration:)``).
    public mutating func resume(now: Date) -> [Action] {
        guard state == .created else { return [] }
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
            actions += armDeadline(now: now)
            actions += promptCustomerID(hint: .none, refused: 0)
            return actions
        case .inserting:
            // The one window: InsertCart may have created a cart whose TransactionId we never
            // learnt. Never insert again; the till and staff must check the reference.
            return finish(
                .unknown,
                message: "the bridge stopped while InsertCart for reference \(record.reference) was in flight; "
                    + "check Netgíró for this reference before taking the payment again",
                cause: "recovered: InsertCart outcome unknown", now: now)
        case .awaitingCustomer, .awaitingSMSCode, .confirming, .cancelling:
            guard let transactionId = record.transactionId else {
                return finish(.unknown, message: "no TransactionId recorded for reference \(record.reference)",
                    cause: "recovered without TransactionId", now: now)
            }
            var actions: [Action] = [.log("resuming payment \(record.id) (\(record.phase.rawValue)) after a restart")]
            actions += armDeadline(now: now)
            let reason = pendingCancel ?? (record.phase == .cancelling ? .till : nil)
            if now >= record.deadline {
                actions += sendCancel(pendingCancel ?? .deadline, attempt: 1, now: now)
            } else if let reason {
                actions += sendCancel(reason, attempt: 1, now: now)
            } else {
                // CheckCart decides where the cart is (a ConfirmCart may have gone through).
                actions += moveTo(.awaitingCustomer, cause: "recovered: asking CheckCart", now: now)
                actions += showing(.working(amount: record.amount))
                state = .checking
                actions.append(.call(.checkCart(transactionId: transactionId)))
            }
            return actions
        }
    }

    /// A prompt ended on the pad.
    public mutating func customerEntered(_ entry: CustomerEntry, prompt: Int, now: Date) -> [Action] {
        guard prompt == promptID else { return [] }
        switch state {
        case .identifying(let id, let refused) where id == prompt:
            promptID = nil
            switch entry {
            case .entered(let text):
                guard let customer = CustomerIdentifier.classify(text) else {
                    let refusedNow = refused + 1
                    if refusedNow >= configuration.customerIDTries {
                        return finish(.cancelled, message: "no valid customer identifier was entered",
                            cause: "customer id refused \(refusedNow) times", now: now)
                    }
                    return [.log("entry refused: not a phone number, kennitala or app code")]
                        + promptCustomerID(hint: .invalidEntry, refused: refusedNow)
                }
                return insert(customer, now: now)
            case .cancelledByCustomer:
                return finish(.cancelled, message: CancelReason.customer.explanation, cause: "customer cancelled", now: now)
            case .timedOut:
                return finish(.cancelled, message: "the customer did not enter an identifier in time",
                    cause: "customer id prompt timed out", now: now)
            case .terminalUnavailable:
                return finish(.failed, message: "the PIN pad \(record.request.terminalID) is unavailable",
                    cause: "terminal unavailable", now: now)
            }

        case .enteringSMSCode(let id, let wrongCodes) where id == prompt:
            promptID = nil
            guard let transactionId = record.transactionId else { return [] }
            switch entry {
            case .entered(let code):
                let code = code.filter { $0 != " " }
                guard !code.isEmpty, code.count <= 12, code.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isLetter) })
                else {
                    return promptSMSCode(hint: .invalidEntry, wrongCodes: wrongCodes)
                }
                var actions = moveTo(.confirming, cause: "SMS payment code entered", now: now)
                actions += showing(.working(amount: record.amount))
                state = .confirming(.smsCode(wrongCodes: wrongCodes))
                actions.append(.call(.confirmCart(transactionId: transactionId, identifier: code)))
                return actions
            case .cancelledByCustomer, .timedOut:
                return sendCancel(.customer, attempt: 1, now: now)
            case .terminalUnavailable:
                return sendCancel(.terminal, attempt: 1, now: now)
            }

        default:
            return []
        }
    }

    public mutating func insertCartCompleted(_ result: Result<InsertCartResponse, NetgiroClientError>, now: Date) -> [Action] {
        guard state == .inserting else { return [] }
        switch result {
        case .failure(let error):
            switch error {
            case .notSent, .invalidRequest:
                return finish(.failed, message: "InsertCart was not sent: \(error)", cause: "InsertCart not sent", now: now)
            default:
                return finish(
                    .unknown,
                    message: "InsertCart for reference \(record.reference) got no usable answer (\(error)); "
                        + "a cart may exist — check Netgíró for this reference before taking the payment again",
                    cause: "InsertCart outcome unknown", now: now)
            }
        case .success(let response):
            note(message: response.message, code: response.resultCode)
            guard let transactionId = response.transactionId, !transactionId.isEmpty else {
                switch response.resultCode {
                case .customerDeclined, .paymentCancelled, .customerDoesNotExist, .belowMinimumAmount, .cartNotValid,
                    .invalidConfirmationType, .alreadyCancelled:
                    return finish(.declined, message: response.message ?? response.resultCode.description,
                        cause: "InsertCart refused (\(response.resultCode.code))", now: now)
                default:
                    if response.success {
                        return finish(.unknown,
                            message: "InsertCart answered success without a TransactionId for reference \(record.reference)",
                            cause: "InsertCart without TransactionId", now: now)
                    }
                    return finish(.failed, message: response.message ?? response.resultCode.description,
                        cause: "InsertCart refused (\(response.resultCode.code))", now: now)
                }
            }
            record.transactionId = transactionId
            let interval = (response.processCartCheckInterval ?? configuration.defaultPollInterval)
                .clamped(to: configuration.pollIntervalBounds)
            record.pollIntervalMilliseconds = Int(interval.milliseconds)
            // 10428: the customer's next step is the SMS code, and the till sees that state
            // before the prompt (not `processing` until a wrong code).
            let next: PaymentPhase = response.resultCode == .smsCodeRequired && pendingCancel == nil ? .awaitingSMSCode : .awaitingCustomer
            var actions = moveTo(next, cause: "cart \(transactionId) inserted (\(response.resultCode.code))", now: now)
            if let reason = pendingCancel {
                return actions + sendCancel(reason, attempt: 1, now: now)
            }
            switch response.resultCode {
            case .smsCodeRequired:
                actions += promptSMSCode(hint: .none, wrongCodes: 0)
            case .reservationAwaitingConfirmCart:
                actions += capture(transactionId, now: now)
            case .paymentCompleted:
                // InsertCart's answer carries no PaymentSuccessful: CheckCart confirms it.
                state = .checking
                actions.append(.call(.checkCart(transactionId: transactionId)))
            case .customerDeclined, .paymentCancelled, .alreadyCancelled, .customerDoesNotExist:
                actions += finish(.declined, message: response.message ?? response.resultCode.description,
                    cause: "InsertCart declined (\(response.resultCode.code))", now: now)
            default:
                actions += showing(.confirmInApp(amount: record.amount))
                actions += schedulePoll()
            }
            return actions
        }
    }

    public mutating func checkCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        switch state {
        case .checking:
            switch result {
            case .failure(let error):
                if let reason = pendingCancel { return sendCancel(reason, attempt: 1, now: now) }
                return [.log("CheckCart failed: \(error); polling again")] + schedulePoll()
            case .success(let response):
                return react(to: response, now: now)
            }
        case .verifyingCancel(let reason, let attempt):
            switch result {
            case .success(let response):
                note(message: response.message, code: response.resultCode)
                if response.paymentSuccessful {
                    return finish(.paid, message: response.message, cause: "paid before the cancel arrived", now: now, info: response.paymentInfo)
                }
                if Self.endsTheCart(response.resultCode) {
                    return finish(reason.finalPhase, message: reason.explanation, cause: "cart ended (\(response.resultCode.code))", now: now)
                }
                return retryCancel(reason, after: attempt, now: now)
            case .failure:
                return retryCancel(reason, after: attempt, now: now)
            }
        default:
            return []
        }
    }

    public mutating func confirmCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        guard case .confirming(let confirmation) = state, let transactionId = record.transactionId else { return [] }
        switch result {
        case .failure(let error):
            // The ConfirmCart may or may not have taken effect: CheckCart decides.
            state = .checking
            return [.log("ConfirmCart got no usable answer (\(error)); asking CheckCart"),
                .call(.checkCart(transactionId: transactionId))]
        case .success(let response):
            if case .smsCode(let wrongCodes) = confirmation, !response.paymentSuccessful,
                response.resultCode == .smsCodeRequired
            {
                note(message: response.message, code: response.resultCode)
                let wrong = wrongCodes + 1
                if wrong >= configuration.smsCodeTries || pendingCancel != nil {
                    return sendCancel(pendingCancel ?? .smsCodeTries, attempt: 1, now: now)
                }
                return moveTo(.awaitingSMSCode, cause: "wrong SMS payment code (\(wrong))", now: now)
                    + promptSMSCode(hint: .wrongCode, wrongCodes: wrong)
            }
            if confirmation == .capture, !response.paymentSuccessful {
                switch response.resultCode {
                case .alreadyConfirmed:
                    note(message: response.message, code: response.resultCode)
                    state = .checking
                    return [.call(.checkCart(transactionId: transactionId))]
                case .reservationAwaitingConfirmCart:
                    // Not taken yet: try again after a poll, not in a tight loop.
                    note(message: response.message, code: response.resultCode)
                    if let reason = pendingCancel { return sendCancel(reason, attempt: 1, now: now) }
                    return moveTo(.awaitingCustomer, cause: "capture not taken yet", now: now) + schedulePoll()
                default: break
                }
            }
            return react(to: response, now: now)
        }
    }

    public mutating func cancelCartCompleted(_ result: Result<CartResponse, NetgiroClientError>, now: Date) -> [Action] {
        guard case .cancelling(let reason, let attempt) = state, let transactionId = record.transactionId else { return [] }
        switch result {
        case .failure(let error):
            return [.log("CancelCart failed: \(error)")] + retryCancel(reason, after: attempt, now: now)
        case .success(let response):
            note(message: response.message, code: response.resultCode)
            if response.paymentSuccessful {
                return finish(.paid, message: response.message,
                    cause: "CancelCart answered paid: the customer won the race", now: now, info: response.paymentInfo)
            }
            switch response.resultCode {
            case .paymentCancelled, .alreadyCancelled, .cartNotFound, .customerDeclined:
                return finish(reason.finalPhase, message: reason.explanation, cause: "cart cancelled (\(response.resultCode.code))", now: now)
            case .alreadyConfirmed, .paymentCompleted:
                state = .verifyingCancel(reason, attempt: attempt)
                return [.call(.checkCart(transactionId: transactionId))]
            default:
                return retryCancel(reason, after: attempt, now: now)
            }
        }
    }

    /// A verified ServerCallback for this payment's cart. Polling goes on as a fallback; a
    /// callback before the cart is known, for another cart, or after the end is ignored.
    public mutating func callbackReceived(_ response: CartResponse, now: Date) -> [Action] {
        guard let transactionId = record.transactionId,
            response.paymentInfo?.transactionId.map({ $0.lowercased() == transactionId.lowercased() }) ?? true
        else {
            return [.log("callback ignored: not for this payment's cart")]
        }
        switch state {
        case .finished, .created, .identifying, .inserting:
            return [.log("callback for cart \(transactionId) ignored (payment \(record.phase.rawValue))")]
        case .waiting:
            return [.cancelTimer(.poll)] + reactCancellingPoll(to: response, now: now)
        case .checking, .confirming, .cancelling, .verifyingCancel, .cancelRetryWait, .enteringSMSCode:
            // A call is in flight (or a prompt is up): only a payment is news the call cannot
            // change; anything else waits for the call's own answer.
            if response.paymentSuccessful {
                note(message: response.message, code: response.resultCode)
                return finish(.paid, message: response.message, cause: "callback: paid", now: now, info: response.paymentInfo)
            }
            return [.log("callback for cart \(transactionId) (\(response.resultCode.code)) noted; waiting for the call under way")]
        }
    }

    /// The till cancels. Before a cart exists the payment just ends; with a cart, CancelCart
    /// (an answer of paid means the customer won the race).
    public mutating func tillCancelled(now: Date) -> [Action] {
        requestCancel(.till, now: now)
    }

    public mutating func timerFired(_ kind: TimerKind, id: Int, now: Date) -> [Action] {
        switch kind {
        case .deadline:
            guard id == deadlineTimerID else { return [] }
            deadlineTimerID = nil
            return requestCancel(.deadline, now: now)
        case .poll:
            guard id == pollTimerID, let transactionId = record.transactionId else { return [] }
            pollTimerID = nil
            switch state {
            case .waiting:
                state = .checking
                return [.call(.checkCart(transactionId: transactionId))]
            case .cancelRetryWait(let reason, let attempt):
                return sendCancel(reason, attempt: attempt, now: now)
            default:
                return []
            }
        }
    }

    // MARK: Reactions

    /// What a cart's state (CheckCart, ConfirmCart, callback) means for the payment.
    private mutating func react(to response: CartResponse, now: Date) -> [Action] {
        note(message: response.message, code: response.resultCode)
        if let invoice = response.paymentInfo?.invoiceNumber { record.invoiceNumber = invoice }
        guard let transactionId = record.transactionId else { return [] }
        if response.paymentSuccessful {
            return finish(.paid, message: response.message, cause: "payment successful (\(response.resultCode.code))",
                now: now, info: response.paymentInfo)
        }
        if Self.endsTheCart(response.resultCode) {
            if let reason = pendingCancel {
                return finish(reason.finalPhase, message: reason.explanation, cause: "cart ended (\(response.resultCode.code))", now: now)
            }
            return finish(.declined, message: response.message ?? response.resultCode.description,
                cause: "declined (\(response.resultCode.code))", now: now)
        }
        if let reason = pendingCancel {
            return sendCancel(reason, attempt: 1, now: now)
        }
        switch response.resultCode {
        case .reservationAwaitingConfirmCart:
            return capture(transactionId, now: now)
        case .smsCodeRequired:
            return moveTo(.awaitingSMSCode, cause: "SMS payment code needed", now: now)
                + promptSMSCode(hint: .none, wrongCodes: 0)
        case .awaitingCallbackResponse, .pendingCustomerConfirmation:
            return moveTo(.awaitingCustomer, cause: "waiting (\(response.resultCode.code))", now: now)
                + showing(.confirmInApp(amount: record.amount)) + schedulePoll()
        default:
            // 200, 400, 500, 10200 without PaymentSuccessful, unknown codes: look again later.
            return moveTo(.awaitingCustomer, cause: "no decision yet (\(response.resultCode.code))", now: now)
                + schedulePoll()
        }
    }

    private mutating func reactCancellingPoll(to response: CartResponse, now: Date) -> [Action] {
        pollTimerID = nil
        return react(to: response, now: now)
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
            guard pendingCancel == nil else { return [] }
            pendingCancel = reason
            record.cancelReason = reason
            return persistOnly(cause: "\(reason.rawValue) cancel asked while a call is in flight", now: now)
        case .waiting, .enteringSMSCode:
            return sendCancel(reason, attempt: 1, now: now)
        case .cancelling, .cancelRetryWait, .verifyingCancel, .finished:
            return []
        }
    }

    // MARK: Steps

    private mutating func insert(_ customer: CustomerIdentifier, now: Date) -> [Action] {
        record.customerKind = customer.kind
        record.customerMasked = customer.masked
        let request = record.request
        var actions: [Action] = []
        if customer.kind == .kennitalaOrAppCode, !customer.passesKennitalaCheck {
            actions.append(.log("\(customer.masked): no kennitala check digit (an app code or a new kennitala); sent unchanged"))
        }
        // Write-ahead intent: "about to InsertCart reference R".
        actions += moveTo(.inserting, cause: "about to InsertCart reference \(request.reference) for \(customer)", now: now)
        actions += showing(.working(amount: request.amount))
        state = .inserting
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

    private mutating func capture(_ transactionId: String, now: Date) -> [Action] {
        var actions = moveTo(.confirming, cause: "reservation made: ConfirmCart to capture", now: now)
        actions += showing(.working(amount: record.amount))
        state = .confirming(.capture)
        actions.append(.call(.confirmCart(transactionId: transactionId, identifier: nil)))
        return actions
    }

    /// Ends an open prompt and the poll timer, as every cancel and every final state does.
    private mutating func stopPromptAndPolling() -> [Action] {
        var actions: [Action] = []
        if promptID != nil {
            promptID = nil
            actions.append(.cancelPrompt)
        }
        if pollTimerID != nil {
            pollTimerID = nil
            actions.append(.cancelTimer(.poll))
        }
        return actions
    }

    private mutating func sendCancel(_ reason: CancelReason, attempt: Int, now: Date) -> [Action] {
        guard let transactionId = record.transactionId else {
            return finish(.cancelled, message: reason.explanation, cause: "\(reason.rawValue) cancel, no cart", now: now)
        }
        var actions = stopPromptAndPolling()
        pendingCancel = reason
        record.cancelReason = reason
        actions += moveTo(.cancelling, cause: "CancelCart (\(reason.rawValue), attempt \(attempt))", now: now)
        actions += showing(.working(amount: record.amount))
        state = .cancelling(reason, attempt: attempt)
        actions.append(.call(.cancelCart(transactionId: transactionId)))
        return actions
    }

    private mutating func retryCancel(_ reason: CancelReason, after attempt: Int, now: Date) -> [Action] {
        guard attempt < configuration.cancelAttempts else {
            return finish(
                .unknown,
                message: "CancelCart for reference \(record.reference) failed \(attempt) times; "
                    + "check Netgíró whether the sale was paid",
                cause: "cancel not confirmed", now: now)
        }
        state = .cancelRetryWait(reason, attempt: attempt + 1)
        return startPollTimer()
    }

    private mutating func schedulePoll() -> [Action] {
        state = .waiting
        return startPollTimer()
    }

    private mutating func startPollTimer() -> [Action] {
        let id = takeID()
        pollTimerID = id
        let interval = record.pollIntervalMilliseconds.map { Duration.milliseconds($0) } ?? configuration.defaultPollInterval
        return [.startTimer(.poll, after: interval, id: id)]
    }

    private mutating func armDeadline(now: Date) -> [Action] {
        let id = takeID()
        deadlineTimerID = id
        let remaining = max(0, record.deadline.timeIntervalSince(now))
        return [.startTimer(.deadline, after: .milliseconds(Int((remaining * 1000).rounded(.up))), id: id)]
    }

    private mutating func promptCustomerID(hint: CustomerPromptHint, refused: Int) -> [Action] {
        let id = takeID()
        promptID = id
        state = .identifying(prompt: id, refused: refused)
        return [.prompt(CustomerPrompt(kind: .customerID, amount: record.amount, hint: hint), id: id)]
    }

    private mutating func promptSMSCode(hint: CustomerPromptHint, wrongCodes: Int) -> [Action] {
        let id = takeID()
        promptID = id
        state = .enteringSMSCode(prompt: id, wrongCodes: wrongCodes)
        screen = nil
        return [.prompt(CustomerPrompt(kind: .smsCode, amount: record.amount, hint: hint), id: id)]
    }

    private mutating func showing(_ next: CustomerScreen) -> [Action] {
        guard screen != next else { return [] }
        screen = next
        return [.show(next)]
    }

    private mutating func finish(
        _ phase: PaymentPhase, message: String?, cause: String, now: Date, info: PaymentInfo? = nil
    ) -> [Action] {
        precondition(phase.isFinal)
        guard state != .finished else { return [] }
        var actions = stopPromptAndPolling()
        if deadlineTimerID != nil {
            deadlineTimerID = nil
            actions.append(.cancelTimer(.deadline))
        }
        if let invoice = info?.invoiceNumber { record.invoiceNumber = invoice }
        if let message { record.lastMessage = message }
        record.finishedAt = now
        state = .finished
        actions += moveTo(phase, cause: cause, now: now)
        let screen: CustomerScreen
        switch phase {
        case .paid: screen = .paid(amount: record.amount)
        case .declined: screen = .declined(message: message)
        case .cancelled: screen = .cancelled
        case .failed: screen = .outOfService
        default: screen = .outcomeUnknown
        }
        actions += showing(screen)
        actions.append(.returnToIdle(after: configuration.outcomeDisplay))
        return actions
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

    private mutating func takeID() -> Int {
        defer { nextID += 1 }
        return nextID
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
