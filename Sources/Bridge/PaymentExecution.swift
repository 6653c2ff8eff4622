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
    let inbox: PaymentInbox?
    /// Told of every change synchronously, on the payment's own loop, in order with what the
    /// loop does at the terminal (so a till's stream can keep states and prompts in order).
    let observer: PaymentObserver?

    init(record: PaymentRecord, inbox: PaymentInbox?, observer: PaymentObserver? = nil) {
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
        _ = inbox?.post(.tillCancel)
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
                if !inbox.post(.callback(response, id: id)) {
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
        inbox?.close()
    }
}

/// A synchronous observer of one payment: each record as it changes; `true` with the last one.
public typealias PaymentObserver = @Sendable (PaymentRecord, _ ended: Bool) -> Void

/// Where a payment's inputs go: into its terminal's one inbox (a pad drives its payment from the
/// same loop as its session), or into an inbox of the payment's own (any other terminal).
struct PaymentInbox: Sendable {
    /// Posts one input; false when the loop that reads it is gone.
    let post: @Sendable (PaymentExecution.Input) -> Bool
    /// The payment has ended: no input is read any more.
    let close: @Sendable () -> Void

    /// An inbox of the payment's own.
    init(_ continuation: AsyncStream<PaymentExecution.Input>.Continuation) {
        post = { if case .terminated = continuation.yield($0) { false } else { true } }
        close = { continuation.finish() }
    }

    init(post: @escaping @Sendable (PaymentExecution.Input) -> Bool, close: @escaping @Sendable () -> Void) {
        self.post = post
        self.close = close
    }
}

/// A terminal whose one ordered inbox also carries the payments on it, and whose one loop drives
/// them (`PadTerminal`): the line's events, the session's alarm and the payment's Netgíró answers,
/// entries, alarms, till cancels and callbacks are read in the order they arrived, one at a time.
protocol PaymentHosting: Actor {
    /// Where the inputs of the payment `id` go, once it is hosted.
    nonisolated func paymentInbox(_ id: String) -> PaymentInbox
    /// Takes the payment into the terminal's loop: it starts when the loop reads it.
    nonisolated func host(_ payment: PaymentExecution.Start)
}

/// Runs one ``Checkout``: carries out its actions with the gateway, the journal, the terminal and
/// the clock, and feeds what comes back into it as events. Holds no business rule.
///
/// A payment is a ``Driver`` — the checkout and what its loop keeps beside it — fed one input at
/// a time by whichever loop reads the payment's inbox: its pad's loop (``PaymentHosting``), or,
/// on any other terminal, a task of the payment's own. Its Netgíró calls run beside that loop as
/// its children, started as soon as the step that made them returns (``Driver/takeCalls()``);
/// its alarm runs in one child per payment (``runAlarms(_:)``). Both come back as inputs.
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

    /// What a payment's loop starts from.
    struct Start: Sendable {
        let execution: PaymentExecution
        let checkout: Checkout
        let first: @Sendable (inout Checkout, Date) -> [Checkout.Action]
        let handle: PaymentHandle
        let onEnd: @Sendable (PaymentRecord) async -> Void
        var id: String { checkout.record.id }
    }

    /// Work a payment leaves to run beside its loop: a Netgíró call (once sent it runs to its
    /// end, even if the payment ends first), or an alarm (stopped when the payment ends).
    typealias Child = @Sendable () async -> Void

    /// Starts the payment; returns the handle at once.
    static func launch(
        checkout: Checkout, shown: PaymentRecord? = nil, first: @escaping @Sendable (inout Checkout, Date) -> [Checkout.Action],
        gateway: any PaymentGateway, journal: PaymentJournal, terminal: any CustomerTerminal, clock: any PaymentClock,
        logger: Logger, observer: PaymentObserver? = nil, onEnd: @escaping @Sendable (PaymentRecord) async -> Void
    ) -> PaymentHandle {
        let execution = PaymentExecution(gateway: gateway, journal: journal, terminal: terminal, clock: clock, logger: logger)
        // `shown`: what the till sees until the loop publishes (a checkout already started by
        // the runner shows its record from before the start, which the loop then publishes).
        let shown = shown ?? checkout.record
        if let host = terminal.owner as? any PaymentHosting {
            let handle = PaymentHandle(record: shown, inbox: host.paymentInbox(checkout.record.id), observer: observer)
            host.host(Start(execution: execution, checkout: checkout, first: first, handle: handle, onEnd: onEnd))
            return handle
        }
        let (inputs, continuation) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        let inbox = PaymentInbox(continuation)
        let handle = PaymentHandle(record: shown, inbox: inbox, observer: observer)
        let start = Start(execution: execution, checkout: checkout, first: first, handle: handle, onEnd: onEnd)
        // The payment's own task, on a terminal that does not host it: it outlives the till
        // request that started it (the till API answers 201 at once) and is the root of
        // everything the payment does. It runs on the terminal's executor if it has one, so the
        // terminal and its payment are one serial owner.
        let owner = terminal.owner
        Task {
            await start.runAlone(inputs, inbox: inbox, isolation: owner)
        }
        return handle
    }

    /// Runs the alarms a payment hands over on `alarms` until the payment ends (the stream
    /// finishes); then the one still sleeping stops.
    static func runAlarms(_ alarms: AsyncStream<Child>) async {
        await withDiscardingTaskGroup { group in
            for await alarm in alarms { group.addTask(operation: alarm) }
            group.cancelAll()
        }
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

extension PaymentExecution.Start {
    /// The payment's own loop, on `isolation` (its terminal's actor, or none). The group's body
    /// names `isolation`, which keeps it there too (a closure runs on an isolated parameter only
    /// if it captures it).
    func runAlone(_ inputs: AsyncStream<PaymentExecution.Input>, inbox: PaymentInbox, isolation: isolated (any Actor)?) async {
        let (alarms, setAlarm) = AsyncStream.makeStream(of: PaymentExecution.Child.self, bufferingPolicy: .unbounded)
        // Leaving the group waits for a Netgíró call still in flight (its answer is no longer
        // read): a request that went out is never cut off half-way.
        await withDiscardingTaskGroup { group in
            _ = isolation
            group.addTask { await PaymentExecution.runAlarms(alarms) }
            var driver = PaymentExecution.Driver(self, inbox: inbox, alarms: setAlarm)
            await driver.begin()
            for call in driver.takeCalls() { group.addTask(operation: call) }
            var iterator = inputs.makeAsyncIterator()
            while !driver.isOver {
                guard let input = await iterator.next() else { break }
                await driver.receive(input)
                for call in driver.takeCalls() { group.addTask(operation: call) }
            }
            if let idleAfter = await driver.finish() {
                try? await execution.clock.sleep(for: idleAfter)
                await execution.terminal.show(.idle)
            }
        }
    }
}

extension PaymentExecution {
    /// One payment between its inputs: the checkout, the prompt under way and the timers. The
    /// loop that reads the payment's inbox calls ``begin()``, then ``receive(_:)`` for each input
    /// until ``isOver``, then ``finish()``. Every call runs where it is called (the terminal's
    /// executor), and its actions are carried out in order before it returns.
    struct Driver {
        let start: Start
        private var checkout: Checkout
        private var loop = LoopState()
        private let logger: Logger
        private let inbox: PaymentInbox
        private let alarms: AsyncStream<Child>.Continuation
        /// Netgíró calls made by the last step, for the loop to start.
        private var calls: [Child] = []
        /// How the payment ended, once it has: its record, and when the idle screen is due.
        private var ended: (record: PaymentRecord, idleAfter: Duration?)?

        init(_ start: Start, inbox: PaymentInbox, alarms: AsyncStream<Child>.Continuation) {
            self.start = start
            checkout = start.checkout
            var logger = start.execution.logger
            logger[metadataKey: "payment"] = "\(start.checkout.record.id)"
            logger[metadataKey: "reference"] = "\(start.checkout.record.reference)"
            self.logger = logger
            self.inbox = inbox
            self.alarms = alarms
        }

        var isOver: Bool { ended != nil }

        /// The Netgíró calls the last step made, in order: the loop starts each as its child task
        /// at once (each one's answer comes back as an input).
        mutating func takeCalls() -> [Child] {
            defer { calls.removeAll() }
            return calls
        }

        private var execution: PaymentExecution { start.execution }

        /// The payment takes its terminal, and its first actions run.
        nonisolated(nonsending) mutating func begin() async {
            await execution.terminal.paymentStarted()
            let actions = start.first(&checkout, execution.clock.now())
            await settle(actions)
        }

        /// One input, and every action it leads to.
        nonisolated(nonsending) mutating func receive(_ input: Input) async {
            guard ended == nil else { return }
            let now = execution.clock.now()
            let actions: [Checkout.Action]
            switch input {
            case .inserted(let r): actions = checkout.insertCartCompleted(r, now: now)
            case .checked(let r): actions = checkout.checkCartCompleted(r, now: now)
            case .confirmed(let r): actions = checkout.confirmCartCompleted(r, now: now)
            case .cancelled(let r): actions = checkout.cancelCartCompleted(r, now: now)
            case .entry(let entry, let prompt):
                guard loop.promptID == prompt else { return }  // a withdrawn prompt's answer
                loop.promptID = nil
                actions = checkout.customerEntered(entry, prompt: prompt, now: now)
            case .alarm(let generation):
                loop.timers.alarmRang(generation)
                actions = []
            case .callback(let response, let id): actions = checkout.callbackReceived(response, id: id, now: now)
            case .tillCancel: actions = checkout.tillCancelled(now: now)
            }
            await settle(actions)
        }

        /// Carries out `actions`; then timers that were due at the alarm's deadline fire one at
        /// a time, earliest first (each one's actions may cancel or move the others), until the
        /// payment waits for its next input, with an alarm for its nearest timer.
        private nonisolated(nonsending) mutating func settle(_ first: [Checkout.Action]) async {
            var actions = first
            while true {
                guard await execute(actions) else {
                    logger.error("payment stopped: the journal could not record it; no further calls were made")
                    await execution.terminal.show(.outOfService)
                    ended = (checkout.record, nil)
                    return
                }
                if checkout.isFinished {
                    ended = (checkout.record, loop.idleAfter)
                    return
                }
                guard let due = loop.timers.takeDue() else { break }
                actions = checkout.timerFired(due.kind, id: due.id, now: execution.clock.now())
            }
            loop.timers.armAlarm(clock: execution.clock, inbox: inbox, alarms: alarms)
        }

        /// After the payment is over (or its inbox closed): an open prompt is withdrawn, its
        /// alarms stop, the terminal is released, the till and the owner are told. Returns how
        /// long the last screen stays before the idle screen (nil: it stays).
        nonisolated(nonsending) mutating func finish() async -> Duration? {
            let (record, idleAfter) = ended ?? (checkout.record, nil)
            // A prompt still open when the payment stops (its journal failed) is ended on the terminal.
            if let open = loop.promptID { await execution.terminal.withdrawPrompt(open) }
            loop.promptID = nil
            alarms.finish()
            await execution.terminal.paymentEnded()
            start.handle.end(record)
            await start.onEnd(record)
            return idleAfter
        }

        /// Carries out actions in order. Returns false when a journal write failed (then nothing
        /// after it was done).
        private nonisolated(nonsending) mutating func execute(_ actions: [Checkout.Action]) async -> Bool {
            let terminal = execution.terminal
            for action in actions {
                switch action {
                case .persist(let transition):
                    do {
                        try await execution.journal.record(transition)
                    } catch {
                        logger.error("\(error)")
                        return false
                    }
                case .show(let screen):
                    await terminal.show(screen)
                case .prompt(let prompt, let id):
                    // One prompt at a time: an open one is withdrawn before the next is put. The
                    // entry comes back as a message to the payment's inbox.
                    if let open = loop.promptID { await terminal.withdrawPrompt(open) }
                    loop.promptID = id
                    let inbox = self.inbox
                    await terminal.prompt(prompt, id: id) { entry in _ = inbox.post(.entry(entry, prompt: id)) }
                case .cancelPrompt:
                    if let open = loop.promptID { await terminal.withdrawPrompt(open) }
                    loop.promptID = nil
                case .call(let request):
                    logger.debug("Netgíró \(request)")
                    calls.append(Self.call(request, gateway: execution.gateway, inbox: inbox))
                case .startTimer(let kind, let after, let id):
                    loop.timers.start(kind, at: execution.clock.now().addingTimeInterval(PaymentExecution.seconds(after)), id: id)
                case .cancelTimer(let kind):
                    loop.timers.cancel(kind)
                case .notifyTill(let record):
                    start.handle.publish(record)
                case .returnToIdle(let after):
                    loop.idleAfter = after
                case .answerCallback(let id, let accept):
                    start.handle.callbackAnswered(id, accept: accept)
                case .log(let line):
                    logger.info("\(line)")
                case .impossibleEvent(let what):
                    logger.error("checkout ignored an impossible event (a bug — please report it): \(what)")
                }
            }
            return true
        }

        /// One Netgíró call, whose answer goes to the payment's inbox.
        private static func call(_ request: Checkout.NetgiroRequest, gateway: any PaymentGateway, inbox: PaymentInbox) -> @Sendable () async -> Void {
            {
                switch request {
                case .insertCart(let r):
                    _ = inbox.post(.inserted(await result { () async throws(NetgiroClientError) in try await gateway.insertCart(r) }))
                case .checkCart(let id):
                    _ = inbox.post(.checked(await result { () async throws(NetgiroClientError) in try await gateway.checkCart(transactionId: id) }))
                case .confirmCart(let id, let identifier):
                    _ = inbox.post(.confirmed(await result { () async throws(NetgiroClientError) in
                        try await gateway.confirmCart(transactionId: id, identifier: identifier)
                    }))
                case .cancelCart(let id):
                    _ = inbox.post(.cancelled(await result { () async throws(NetgiroClientError) in try await gateway.cancelCart(transactionId: id) }))
                }
            }
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
        mutating func armAlarm(clock: any PaymentClock, inbox: PaymentInbox, alarms: AsyncStream<Child>.Continuation) {
            guard let nearest = due.values.map(\.at).min() else { return }
            if let alarm, alarm <= nearest { return }
            alarm = nearest
            generation += 1
            let generation = self.generation
            let wait = Duration.milliseconds(Int64((nearest.timeIntervalSince(clock.now()) * 1000).rounded(.up)))
            alarms.yield({
                do {
                    if wait > .zero { try await clock.sleep(for: wait) }
                    _ = inbox.post(.alarm(generation: generation))
                } catch {}  // cancelled: the payment is over
            })
        }
    }
}
