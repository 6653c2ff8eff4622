import Checkout
import Common
import Foundation
import Journal
import Logging
import NetgiroAPI

/// One payment as the till sees it: its state as it changes, a way to cancel it, its outcome.
public final class PaymentHandle: Sendable {
    public let id: String
    public let reference: String

    struct Shared {
        var record: PaymentRecord
        var observers: [UUID: AsyncStream<PaymentRecord>.Continuation] = [:]
        var waiters: [CheckedContinuation<PaymentRecord, Never>] = []
        var ended = false
        /// ServerCallbacks waiting for the checkout's answer, by the id the checkout sees.
        var callbackReplies: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextCallbackID = 1
    }

    /// Lock: read synchronously by till requests and callbacks (any task) while the payment's
    /// loop writes it; nothing waits under it.
    let shared: Locked<Shared>
    /// Where till cancels and callbacks go (nil for a payment that was already over).
    let inbox: AsyncStream<PaymentExecution.Input>.Continuation?
    /// Told of every change synchronously, on the payment's own loop, in order with what the
    /// loop does at the terminal (so a till's stream can keep states and prompts in order).
    let observer: PaymentObserver?

    init(record: PaymentRecord, inbox: AsyncStream<PaymentExecution.Input>.Continuation?, observer: PaymentObserver? = nil) {
        id = record.id
        reference = record.reference
        shared = Locked(Shared(record: record, ended: inbox == nil))
        self.inbox = inbox
        self.observer = observer
    }

    /// The payment as it stands.
    public var record: PaymentRecord { shared.withLock { $0.record } }

    /// Every change of the payment from now on, starting with how it stands; finishes after the
    /// final state.
    public func updates() -> AsyncStream<PaymentRecord> {
        let (stream, continuation) = AsyncStream.makeStream(of: PaymentRecord.self, bufferingPolicy: .unbounded)
        let key = UUID()
        shared.withLock { s in
            continuation.yield(s.record)
            if s.ended {
                continuation.finish()
            } else {
                s.observers[key] = continuation
            }
        }
        return stream
    }

    /// Asks for the payment to be cancelled. The outcome says what happened: `cancelled`, or
    /// `paid` if the customer won the race.
    public func cancel() {
        inbox?.yield(.tillCancel)
    }

    /// Hands a verified ServerCallback for this payment's cart to its checkout and waits for the
    /// checkout's answer: true (answer 200, which makes the sale) or false (refuse it, so that
    /// Netgíró cancels the cart). A payment that has ended, or ends before answering, refuses.
    func answerCallback(_ response: CartResponse) async -> Bool {
        await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let handed = shared.withLock { s -> Bool in
                guard !s.ended, let inbox else { return false }
                let id = s.nextCallbackID
                s.nextCallbackID += 1
                s.callbackReplies[id] = c
                if case .terminated = inbox.yield(.callback(response, id: id)) {
                    s.callbackReplies[id] = nil
                    return false
                }
                return true
            }
            if !handed { c.resume(returning: false) }
        }
    }

    func callbackAnswered(_ id: Int, accept: Bool) {
        shared.withLock { $0.callbackReplies.removeValue(forKey: id) }?.resume(returning: accept)
    }

    /// Waits for the final state. A payment stopped because its journal failed ends in whatever
    /// state was last recorded (not final): check ``PaymentRecord/isFinished``.
    public func finalRecord() async -> PaymentRecord {
        await withCheckedContinuation { (c: CheckedContinuation<PaymentRecord, Never>) in
            let done: PaymentRecord? = shared.withLock { s in
                if s.ended { return s.record }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// Waits for the outcome (nil only when the payment was stopped without one — journal failure).
    public func outcome() async -> PaymentOutcome? {
        await finalRecord().outcome
    }

    func publish(_ record: PaymentRecord) {
        observer?(record, false)
        shared.withLock { s in
            s.record = record
            for o in s.observers.values { o.yield(record) }
        }
    }

    func end(_ record: PaymentRecord) {
        observer?(record, true)
        let (observers, waiters, replies) = shared.withLock { s in
            s.record = record
            s.ended = true
            let o = Array(s.observers.values)
            let w = s.waiters
            let r = Array(s.callbackReplies.values)
            s.observers.removeAll()
            s.waiters.removeAll()
            s.callbackReplies.removeAll()
            return (o, w, r)
        }
        // Callbacks the ended payment never answered: refused (the payment no longer holds a cart).
        for r in replies { r.resume(returning: false) }
        for o in observers {
            o.yield(record)
            o.finish()
        }
        for w in waiters { w.resume(returning: record) }
        inbox?.finish()
    }
}

/// A synchronous observer of one payment: each record as it changes; `true` with the last one.
public typealias PaymentObserver = @Sendable (PaymentRecord, _ ended: Bool) -> Void

/// Runs one ``Checkout``: carries out its actions with the gateway, the journal, the terminal and
/// the clock, and feeds what comes back into it as events. Holds no business rule.
struct PaymentExecution: Sendable {
    enum Input: Sendable {
        case inserted(Result<InsertCartResponse, NetgiroClientError>)
        case checked(Result<CartResponse, NetgiroClientError>)
        case confirmed(Result<CartResponse, NetgiroClientError>)
        case cancelled(Result<CartResponse, NetgiroClientError>)
        case entry(CustomerEntry, prompt: Int)
        /// The alarm for the nearest timer rang (the loop works out which timers are due).
        case alarm(generation: Int)
        /// A ServerCallback; the checkout's answer goes to ``PaymentHandle/callbackAnswered(_:accept:)``.
        case callback(CartResponse, id: Int)
        case tillCancel
    }

    let gateway: any PaymentGateway
    let journal: PaymentJournal
    let terminal: any CustomerTerminal
    let clock: any PaymentClock
    let logger: Logger

    /// Starts the loop; returns the handle at once.
    static func launch(
        checkout: Checkout, shown: PaymentRecord? = nil, first: @escaping @Sendable (inout Checkout, Date) -> [Checkout.Action],
        gateway: any PaymentGateway, journal: PaymentJournal, terminal: any CustomerTerminal, clock: any PaymentClock,
        logger: Logger, observer: PaymentObserver? = nil, onEnd: @escaping @Sendable (PaymentRecord) async -> Void
    ) -> PaymentHandle {
        let (inputs, inbox) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        // `shown`: what the till sees until the loop publishes (a checkout already started by
        // the runner shows its record from before the start, which the loop then publishes).
        let handle = PaymentHandle(record: shown ?? checkout.record, inbox: inbox, observer: observer)
        let execution = PaymentExecution(gateway: gateway, journal: journal, terminal: terminal, clock: clock, logger: logger)
        // The payment's one task: it outlives the till request that started it (the till API
        // answers 201 at once) and is the root of everything the payment does. Its Netgíró
        // calls and its alarm are child tasks of it, so none outlives the payment. It runs on
        // its terminal's executor (a pad's actor): the terminal and the payment on it are one
        // serial owner, and the payment's calls to its terminal need no hop.
        let owner = terminal.owner
        Task {
            await execution.main(
                checkout, first: first, inputs: inputs, inbox: inbox, handle: handle, onEnd: onEnd, isolation: owner)
        }
        return handle
    }

    /// The payment's task, on `isolation` (its terminal's actor, or none). The groups' bodies
    /// name `isolation`, which keeps them on it too (a closure runs on an isolated parameter
    /// only if it captures it).
    private func main(
        _ checkout: Checkout, first: @escaping @Sendable (inout Checkout, Date) -> [Checkout.Action], inputs: AsyncStream<Input>,
        inbox: AsyncStream<Input>.Continuation, handle: PaymentHandle, onEnd: @escaping @Sendable (PaymentRecord) async -> Void,
        isolation: isolated (any Actor)?
    ) async {
        await terminal.paymentStarted()
        await withDiscardingTaskGroup { calls in
            _ = isolation
            let (record, idleAfter) = await withDiscardingTaskGroup { alarms in
                _ = isolation
                let ended = await run(
                    checkout, first: first, inputs: inputs, inbox: inbox, handle: handle, calls: &calls, alarms: &alarms)
                alarms.cancelAll()
                return ended
            }
            await terminal.paymentEnded()
            handle.end(record)
            await onEnd(record)
            // The outcome stays on the pad for a while, then the idle screen (which the
            // terminal session drops if another payment has taken the pad since).
            if let idleAfter {
                try? await clock.sleep(for: idleAfter)
                await terminal.show(.idle)
            }
            // Leaving the group waits for a Netgíró call still in flight (its answer is no
            // longer read): a request that went out is never cut off half-way.
        }
    }

    /// The loop: one event at a time, its actions in order. Timers are values here (when each
    /// is due); one child task sleeps until the nearest and then posts an alarm to the inbox.
    private nonisolated(nonsending) func run(
        _ initial: Checkout, first: (inout Checkout, Date) -> [Checkout.Action], inputs: AsyncStream<Input>,
        inbox: AsyncStream<Input>.Continuation, handle: PaymentHandle, calls: inout DiscardingTaskGroup,
        alarms: inout DiscardingTaskGroup
    ) async -> (PaymentRecord, idleAfter: Duration?) {
        var loop = LoopState()
        let ended = await run(
            initial, first: first, inputs: inputs, inbox: inbox, handle: handle, loop: &loop, calls: &calls, alarms: &alarms)
        // A prompt still open when the payment stops (its journal failed) is ended on the terminal.
        if let open = loop.promptID { await terminal.withdrawPrompt(open) }
        return ended
    }

    private nonisolated(nonsending) func run(
        _ initial: Checkout, first: (inout Checkout, Date) -> [Checkout.Action], inputs: AsyncStream<Input>,
        inbox: AsyncStream<Input>.Continuation, handle: PaymentHandle, loop: inout LoopState,
        calls: inout DiscardingTaskGroup, alarms: inout DiscardingTaskGroup
    ) async -> (PaymentRecord, idleAfter: Duration?) {
        var checkout = initial
        var logger = self.logger
        logger[metadataKey: "payment"] = "\(checkout.record.id)"
        logger[metadataKey: "reference"] = "\(checkout.record.reference)"
        var actions = first(&checkout, clock.now())
        var iterator = inputs.makeAsyncIterator()
        while true {
            guard await execute(actions, loop: &loop, inbox: inbox, handle: handle, calls: &calls, logger: logger) else {
                logger.error("payment stopped: the journal could not record it; no further calls were made")
                await terminal.show(.outOfService)
                return (checkout.record, nil)
            }
            if checkout.isFinished { return (checkout.record, loop.idleAfter) }
            // Timers that were due at the alarm's deadline fire one at a time, earliest first
            // (each one's actions may cancel or move the others).
            if let due = loop.timers.takeDue() {
                actions = checkout.timerFired(due.kind, id: due.id, now: clock.now())
                continue
            }
            loop.timers.armAlarm(clock: clock, inbox: inbox, in: &alarms)
            guard let input = await iterator.next() else { return (checkout.record, nil) }
            let now = clock.now()
            switch input {
            case .inserted(let r): actions = checkout.insertCartCompleted(r, now: now)
            case .checked(let r): actions = checkout.checkCartCompleted(r, now: now)
            case .confirmed(let r): actions = checkout.confirmCartCompleted(r, now: now)
            case .cancelled(let r): actions = checkout.cancelCartCompleted(r, now: now)
            case .entry(let entry, let prompt):
                guard loop.promptID == prompt else { actions = []; continue }  // a withdrawn prompt's answer
                loop.promptID = nil
                actions = checkout.customerEntered(entry, prompt: prompt, now: now)
            case .alarm(let generation):
                loop.timers.alarmRang(generation)
                actions = []
            case .callback(let response, let id): actions = checkout.callbackReceived(response, id: id, now: now)
            case .tillCancel: actions = checkout.tillCancelled(now: now)
            }
        }
    }

    /// What the loop keeps besides the checkout: the prompt under way and the timers.
    struct LoopState {
        /// The prompt under way on the terminal.
        var promptID: Int?
        var timers = Timers()
        /// When the final screen goes back to idle (set by the last actions).
        var idleAfter: Duration?
    }

    /// The checkout's timers as values: when each is due, in the clock's time. One alarm at a
    /// time sleeps until the nearest; when it rings, every timer due by its deadline fires.
    struct Timers {
        private var due: [Checkout.TimerKind: (at: Date, id: Int)] = [:]
        /// The deadline the alarm sleeps until, and its generation (an older alarm's ring is stale).
        private var alarm: Date?
        private var generation = 0
        /// Timers due by this instant fire now (the deadline of the alarm that rang).
        private var rang: Date?

        mutating func start(_ kind: Checkout.TimerKind, at: Date, id: Int) { due[kind] = (at, id) }

        mutating func cancel(_ kind: Checkout.TimerKind) { due[kind] = nil }

        /// The earliest timer due by the alarm that rang, taken off the list.
        mutating func takeDue() -> (kind: Checkout.TimerKind, id: Int)? {
            guard let rang, let next = due.min(by: { $0.value.at < $1.value.at }), next.value.at <= rang else {
                self.rang = nil
                return nil
            }
            due[next.key] = nil
            return (next.key, next.value.id)
        }

        mutating func alarmRang(_ generation: Int) {
            guard generation == self.generation, let alarm else { return }  // a replaced alarm
            rang = alarm
            self.alarm = nil
        }

        /// Makes sure an alarm sleeps until the nearest timer: a new one only when there is none
        /// or the nearest moved earlier (one that rings early finds nothing due and re-arms).
        mutating func armAlarm(clock: any PaymentClock, inbox: AsyncStream<Input>.Continuation, in group: inout DiscardingTaskGroup) {
            guard let nearest = due.values.map(\.at).min() else { return }
            if let alarm, alarm <= nearest { return }
            alarm = nearest
            generation += 1
            let generation = self.generation
            let wait = Duration.milliseconds(Int64((nearest.timeIntervalSince(clock.now()) * 1000).rounded(.up)))
            group.addTask {
                do {
                    if wait > .zero { try await clock.sleep(for: wait) }
                    inbox.yield(.alarm(generation: generation))
                } catch {}  // cancelled: the payment is over
            }
        }
    }

    /// Carries out actions in order. Returns false when a journal write failed (then nothing
    /// after it was done).
    private nonisolated(nonsending) func execute(
        _ actions: [Checkout.Action], loop: inout LoopState, inbox: AsyncStream<Input>.Continuation,
        handle: PaymentHandle, calls: inout DiscardingTaskGroup, logger: Logger
    ) async -> Bool {
        for action in actions {
            switch action {
            case .persist(let transition):
                do {
                    try await journal.record(transition)
                } catch {
                    logger.error("\(error)")
                    return false
                }
            case .show(let screen):
                await terminal.show(screen)
            case .prompt(let prompt, let id):
                // One prompt at a time: an open one is withdrawn before the next is put. The
                // entry comes back as a message to this loop's inbox.
                if let open = loop.promptID { await terminal.withdrawPrompt(open) }
                loop.promptID = id
                await terminal.prompt(prompt, id: id) { entry in inbox.yield(.entry(entry, prompt: id)) }
            case .cancelPrompt:
                if let open = loop.promptID { await terminal.withdrawPrompt(open) }
                loop.promptID = nil
            case .call(let request):
                logger.debug("Netgíró \(request)")
                let gateway = self.gateway
                calls.addTask {
                    switch request {
                    case .insertCart(let r):
                        inbox.yield(.inserted(await Self.result { () async throws(NetgiroClientError) in try await gateway.insertCart(r) }))
                    case .checkCart(let id):
                        inbox.yield(.checked(await Self.result { () async throws(NetgiroClientError) in try await gateway.checkCart(transactionId: id) }))
                    case .confirmCart(let id, let identifier):
                        inbox.yield(.confirmed(await Self.result { () async throws(NetgiroClientError) in
                            try await gateway.confirmCart(transactionId: id, identifier: identifier)
                        }))
                    case .cancelCart(let id):
                        inbox.yield(.cancelled(await Self.result { () async throws(NetgiroClientError) in try await gateway.cancelCart(transactionId: id) }))
                    }
                }
            case .startTimer(let kind, let after, let id):
                loop.timers.start(kind, at: clock.now().addingTimeInterval(Self.seconds(after)), id: id)
            case .cancelTimer(let kind):
                loop.timers.cancel(kind)
            case .notifyTill(let record):
                handle.publish(record)
            case .returnToIdle(let after):
                loop.idleAfter = after
            case .answerCallback(let id, let accept):
                handle.callbackAnswered(id, accept: accept)
            case .log(let line):
                logger.info("\(line)")
            case .impossibleEvent(let what):
                logger.error("checkout ignored an impossible event (a bug — please report it): \(what)")
            }
        }
        return true
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    private static func result<T>(
        _ body: () async throws(NetgiroClientError) -> T
    ) async -> Result<T, NetgiroClientError> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }
}
