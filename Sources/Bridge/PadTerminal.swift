import Checkout
import PinpadProtocol
import SerialLine

/// Where the last prompt token used with each pad is kept, so a restarted daemon goes on from
/// it rather than from 1 (PROTOCOL.md §7.1, D3).
public protocol PromptTokenStore: Sendable {
    /// The last token used with the terminal, 0 if none is known.
    func lastToken(terminal: String) -> UInt16
    /// Keeps `token` durably (called before the PROMPT that carries it goes out).
    func save(_ token: UInt16, terminal: String)
}

/// A PIN pad as the payment runner's `CustomerTerminal`: the I/O shell around `TerminalSession`,
/// which holds every rule (tokens, one prompt at a time, cancel before replace, what a re-linked
/// pad is shown, the reconnect grace, the entry deadline, the idle policy). This actor only turns
/// the line's events, the payment's calls and the clock into the session's events, and carries
/// out its actions in order: messages to the pad, entries to the prompt's reply, link reports,
/// one timer.
///
/// One ordered inbox per terminal, read by one loop: the line's events (straight from the line's
/// thread), cancelled prompts and the timer's alarm, which it feeds to the session, and the
/// payment on the pad — its start, and then its entries, Netgíró answers, alarms, till cancels
/// and callbacks — which it feeds to the payment's `Checkout` (``PaymentHosting``). One input at
/// a time, in the order they arrived, with its actions carried out before the next is read.
/// The session's timer is a value (when it is due); one alarm sleeps until it, as a child of that
/// loop, and is replaced only when the deadline moves earlier. A payment's Netgíró calls are
/// children of the loop, started as soon as the step that made them returns; its alarm runs in
/// one child of the loop per payment.
public actor PadTerminal: CustomerTerminal, PaymentHosting {
    public nonisolated let terminalID: String
    /// A payment on this pad runs its loop on this actor (see ``CustomerTerminal/owner``).
    public nonisolated var owner: (any Actor)? { self }
    public nonisolated let configuration: TerminalSession.Configuration

    /// What the terminal knows of the pad right now.
    public private(set) var deviceInfo: DeviceInfo?
    public var isLinked: Bool { session.isLinked }
    /// The pad that answered HELLO with no version in common, while it is the one on the line.
    public private(set) var incompatiblePad: DeviceInfo?

    private var session: TerminalSession
    private let tokenStore: (any PromptTokenStore)?
    private let origin = ContinuousClock.now
    private var link: PadLink?
    /// The counters of the lines this terminal had before the current one.
    private var retiredStatistics = LinkStatistics()
    private var linkGeneration = 0
    private var nextAskID = 0
    /// The prompts under way: where each one's entry goes, and the caller's name for it.
    private var asks: [TerminalSession.AskID: (reply: @Sendable (CustomerEntry) -> Void, promptID: Int?)] = [:]
    /// The session's ask for each prompt put with ``prompt(_:id:reply:)``, by the caller's id.
    private var askForPrompt: [Int: TerminalSession.AskID] = [:]
    /// What reaches the terminal's loop, in order.
    enum Input: Sendable {
        case line(PadLink.Event, generation: Int)
        case cancelAsk(TerminalSession.AskID)
        /// The alarm for the session's timer rang.
        case alarm(generation: Int)
        /// The session's timer moved earlier than the alarm sleeping for it.
        case rearm
        /// A payment on this terminal starts (``host(_:)``).
        case startPayment(PaymentExecution.Start)
        /// An input of the payment `id`.
        case payment(PaymentExecution.Input, id: String)
        /// A finished payment's last screen has stayed its time.
        case backToIdle
    }
    /// The payments on this terminal (one at a time, as admission keeps it), by id.
    private var payments: [String: PaymentExecution.Driver] = [:]
    /// The ids of the payments this terminal's loop drives now.
    var hostedPayments: [String] { Array(payments.keys) }
    private nonisolated let inbox: AsyncStream<Input>.Continuation
    /// When the session's timer is due (time since `origin`), and the alarm sleeping for it.
    private var timerDue: Duration?
    private var alarmAt: Duration?
    private var alarmGeneration = 0
    private var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
    /// Delivery reports and frame errors that reached the loop (for tests: none should).
    var linkReportsReachingTheLoop = 0
    private var stopped = false
    /// Who hears each link status change, synchronously and in order: the sink given at init,
    /// then each ``statusUpdates()`` stream.
    private var statusListeners: [@Sendable (TerminalStatus) -> Void]

    /// The link layer's counters summed over every line this terminal had (for metrics).
    public var linkStatistics: LinkStatistics { retiredStatistics.adding(link?.statistics ?? LinkStatistics()) }

    /// What a link status listener hears.
    public enum TerminalStatus: Sendable, Equatable {
        case linkUp(DeviceInfo)
        case linkDown(LinkDownReason)
        case lineClosed
        /// The pad speaks no protocol version this host speaks (HELLO_REPLY version 0 or out of range).
        case incompatible(DeviceInfo)
    }

    public init(
        terminalID: String, reconnectGrace: Duration = .seconds(30), promptWatch: Duration = .seconds(15),
        entryTimeout: Duration? = nil, tokenStore: (any PromptTokenStore)? = nil
    ) {
        self.init(
            terminalID: terminalID,
            configuration: TerminalSession.Configuration(reconnectGrace: reconnectGrace, promptWatch: promptWatch, entryTimeout: entryTimeout),
            tokenStore: tokenStore)
    }

    /// `statusSink` hears every link status change synchronously, on the terminal's loop, in order
    /// (for an owner that keeps the terminal's state in its own inbox, like `DaemonTerminals`).
    public init(
        terminalID: String, configuration: TerminalSession.Configuration, tokenStore: (any PromptTokenStore)? = nil,
        statusSink: (@Sendable (TerminalStatus) -> Void)? = nil
    ) {
        self.terminalID = terminalID
        self.configuration = configuration
        self.tokenStore = tokenStore
        statusListeners = statusSink.map { [$0] } ?? []
        session = TerminalSession(configuration: configuration, lastToken: tokenStore?.lastToken(terminal: terminalID) ?? 0)
        let (inputs, inbox) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
        self.inbox = inbox
        // The terminal's one loop, for as long as the terminal exists (it ends when the inbox
        // is finished, in deinit). Unstructured because a terminal outlives whoever made it —
        // a line, a payment, a hotplug event; the alarm sleeps as its child.
        Task { [weak self] in
            await withDiscardingTaskGroup { children in
                for await input in inputs {
                    guard let started = await self?.receive(input) else { continue }
                    for child in started { children.addTask(operation: child) }
                }
                children.cancelAll()
            }
        }
    }

    deinit {
        inbox.finish()
    }

    /// Link status changes, for logs and the till's terminal list.
    public func statusUpdates() -> AsyncStream<TerminalStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: TerminalStatus.self)
        statusListeners.append { continuation.yield($0) }
        return stream
    }

    /// Takes a pad line into service: consumes its events until the line closes. Call `run()` on
    /// the link yourself (or use `PadLine.keepOpen`).
    public func attach(_ newLink: PadLink) {
        if let old = link { retiredStatistics = retiredStatistics.adding(old.statistics) }
        if link != nil, session.isLinked { feed(.linkDown) }  // the old line is replaced
        link = newLink
        linkGeneration += 1
        let generation = linkGeneration
        let inbox = self.inbox
        newLink.deliver { event in
            // Called on the line's thread. An acknowledgement is the link layer's business, done
            // there; the loop is woken only for what it acts on (every message the bridge sends
            // is acknowledged, and each ACK used to wake the loop for nothing).
            guard Self.concernsTheLoop(event) else { return }
            inbox.yield(.line(event, generation: generation))
        }
    }

    /// Whether a link event is one the terminal's loop acts on. Exhaustive on purpose: a new kind
    /// of event is decided here, not dropped by a default.
    static func concernsTheLoop(_ event: PadLink.Event) -> Bool {
        switch event {
        case .linkUp, .linkDown, .lineClosed, .message, .invalidMessage, .incompatiblePad: true
        // The session acts on no delivery report (a link that gives up on a frame goes down,
        // and that is reported); damaged frames are NAKed by the link layer and counted in its
        // statistics, which the metrics read.
        case .delivered, .sendFailed, .frameError: false
        }
    }

    // MARK: - CustomerTerminal

    public func paymentStarted() { feed(.paymentStarted) }

    public func paymentEnded() { feed(.paymentEnded) }

    public func show(_ screen: CustomerScreen) { feed(.show(screen)) }

    public func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) {
        nextAskID += 1
        asks[nextAskID] = (reply, id)
        askForPrompt[id] = nextAskID
        feed(.ask(prompt, id: nextAskID))
    }

    public func withdrawPrompt(_ id: Int) {
        guard let ask = askForPrompt.removeValue(forKey: id), asks.removeValue(forKey: ask) != nil else { return }
        feed(.cancelAsk(id: ask))
    }

    /// Asks the customer for one entry and waits for it (``prompt(_:id:reply:)`` as one call).
    /// Cancelling the calling task ends the prompt; the value returned then is to be ignored.
    public func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        nextAskID += 1
        let id = nextAskID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                asks[id] = ({ continuation.resume(returning: $0) }, nil)
                feed(.ask(prompt, id: id))
            }
        } onCancel: {
            // The handler runs outside the actor: the cancel goes through the inbox.
            inbox.yield(.cancelAsk(id))
        }
    }

    /// At shutdown: ends an open prompt (waiting up to a second for its ENTRY_RESULT), then shows
    /// the out-of-service screen. Returns once that went out, or at once when the pad is away.
    public func shutDown() async {
        guard !stopped else { return }
        await withCheckedContinuation { continuation in
            shutdownWaiters.append(continuation)
            feed(.shutdown)
        }
    }

    // MARK: - The shell

    /// A cancelled ``ask``: the prompt ends, and the waiting caller gets a value it ignores.
    private func cancelAsk(_ id: Int) {
        guard let ask = asks.removeValue(forKey: id) else { return }
        feed(.cancelAsk(id: id))
        ask.reply(.terminalUnavailable)
    }

    /// Handles one input of the loop; returns what is to run beside it: the alarm, if the
    /// session's timer needs a new one, a new payment's calls and alarms, the idle screen's wait.
    private func receive(_ input: Input) async -> [@Sendable () async -> Void] {
        var started: [@Sendable () async -> Void] = []
        switch input {
        case .line(let event, let generation):
            handle(event, generation: generation)
        case .cancelAsk(let id):
            cancelAsk(id)
        case .alarm(let generation):
            guard generation == alarmGeneration else { break }  // a replaced alarm
            alarmAt = nil
            if let due = timerDue, due <= now {
                timerDue = nil
                feed(.timePassed)
            }
        case .rearm:
            break
        case .startPayment(let start):
            let (alarms, setAlarm) = AsyncStream.makeStream(of: PaymentExecution.Child.self, bufferingPolicy: .unbounded)
            started.append { await PaymentExecution.runAlarms(alarms) }
            var driver = PaymentExecution.Driver(start, inbox: paymentInbox(start.id), alarms: setAlarm)
            await driver.begin()
            await settle(driver, &started)
        case .payment(let input, let id):
            guard var driver = payments.removeValue(forKey: id) else { break }  // an ended payment's late input
            await driver.receive(input)
            await settle(driver, &started)
        case .backToIdle:
            // Dropped by the session if another payment has taken the pad since.
            feed(.show(.idle))
        }
        // An alarm until the timer, unless one sleeps until then or earlier (one that rings
        // early finds the timer not yet due, and the next is started here).
        if let due = timerDue, alarmAt.map({ due < $0 }) ?? true {
            alarmAt = due
            alarmGeneration += 1
            let (generation, delay, inbox) = (alarmGeneration, due - now, self.inbox)
            started.append {
                guard (try? await Task.sleep(for: delay)) != nil else { return }
                inbox.yield(.alarm(generation: generation))
            }
        }
        return started
    }

    /// Keeps a payment that goes on, or finishes one that is over: its outcome stays on the pad
    /// for a while, then the idle screen.
    private func settle(_ driver: PaymentExecution.Driver, _ started: inout [@Sendable () async -> Void]) async {
        var driver = driver
        started += driver.takeCalls()  // its Netgíró calls start as soon as this step returns
        guard driver.isOver else {
            payments[driver.start.id] = driver
            return
        }
        guard let idleAfter = await driver.finish() else { return }
        let (clock, inbox) = (driver.start.execution.clock, self.inbox)
        started.append {
            guard (try? await clock.sleep(for: idleAfter)) != nil else { return }
            inbox.yield(.backToIdle)
        }
    }

    // MARK: - PaymentHosting

    nonisolated func paymentInbox(_ id: String) -> PaymentInbox {
        let inbox = self.inbox
        return PaymentInbox(
            post: { if case .terminated = inbox.yield(.payment($0, id: id)) { false } else { true } },
            close: {})  // the terminal's inbox stays open; later inputs for `id` are dropped
    }

    nonisolated func host(_ payment: PaymentExecution.Start) {
        inbox.yield(.startPayment(payment))
    }

    private var now: Duration { ContinuousClock.now - origin }

    private func feed(_ event: TerminalSession.Event) {
        for action in session.handle(event, now: now) {
            switch action {
            case .send(let message):
                link?.enqueue(message)
            case .persistToken(let token):
                tokenStore?.save(token, terminal: terminalID)
            case .answer(let id, let entry):
                guard let ask = asks.removeValue(forKey: id) else { break }
                if let prompt = ask.promptID { askForPrompt[prompt] = nil }
                ask.reply(entry)
            case .reportLinkUp(let info):
                deviceInfo = info
                incompatiblePad = nil
                broadcast(.linkUp(info))
            case .reportLinkDown:
                break  // the link's own event says why; reported in `handle`
            case .reportIncompatible(let info):
                incompatiblePad = info
                broadcast(.incompatible(info))
            case .armTimer(let at):
                timerDue = at
                if alarmAt.map({ at < $0 }) ?? true { inbox.yield(.rearm) }
            case .shutdownDone:
                stopped = true
                let waiting = shutdownWaiters
                shutdownWaiters.removeAll()
                for w in waiting { w.resume() }
            }
        }
    }

    private func handle(_ event: PadLink.Event, generation: Int) {
        guard generation == linkGeneration else { return }  // a replaced line
        switch event {
        case .linkUp(let info):
            feed(.linkUp(info))
        case .linkDown(let reason):
            let wasLinked = session.isLinked
            feed(.linkDown)
            if wasLinked { broadcast(.linkDown(reason)) }
        case .lineClosed:
            if let old = link { retiredStatistics = retiredStatistics.adding(old.statistics) }
            feed(.linkDown)
            link = nil
            broadcast(.lineClosed)
        case .message(let message):
            feed(.message(message))
        case .invalidMessage(let type, let sequence, let error):
            feed(.invalidMessage(type: type, sequence: sequence, error: error))
        case .incompatiblePad(let info):
            feed(.incompatible(info))
        case .delivered, .sendFailed, .frameError:
            linkReportsReachingTheLoop += 1  // filtered out in `attach` (`concernsTheLoop`)
        }
    }

    private func broadcast(_ status: TerminalStatus) {
        for listener in statusListeners { listener(status) }
    }
}

/// Keeps a pad line at an explicit path open: opens it, runs its link, and after the device goes
/// away opens it again (every `retryInterval`) — like gpsd — until cancelled. For a path from
/// configuration or a simulator; hotplugged USB pads come through `DeviceWatch`.
public enum PadLine {
    public static func keepOpen(
        path: String, terminal: PadTerminal, hello: HostHello, retryInterval: Duration = .seconds(1),
        configuration: SerialConfiguration = SerialConfiguration(),
        onError: @escaping @Sendable (SerialLineError) -> Void = { _ in }
    ) async {
        var lastError: SerialLineError?
        while !Task.isCancelled {
            do {
                let port = try SerialPort.open(path, configuration: configuration)
                lastError = nil
                await serve(port, terminal: terminal, hello: hello)
            } catch {
                if error != lastError { onError(error) }  // report each new problem once
                lastError = error
            }
            try? await Task.sleep(for: retryInterval)
        }
    }

    /// Runs one opened line for `terminal` until the line ends (unplug) or the calling task is
    /// cancelled (then the line is closed).
    public static func serve(_ port: SerialPort, terminal: PadTerminal, hello: HostHello) async {
        let link = PadLink(port: port, hello: hello)
        await terminal.attach(link)
        await withTaskCancellationHandler {
            await link.run()
        } onCancel: {
            link.beginClose()
        }
    }
}

extension LinkStatistics {
    func adding(_ o: LinkStatistics) -> LinkStatistics {
        var s = self
        s.framesWritten += o.framesWritten
        s.validFramesReceived += o.validFramesReceived
        s.dataFramesDelivered += o.dataFramesDelivered
        s.retransmissions += o.retransmissions
        s.duplicatesDropped += o.duplicatesDropped
        s.frameErrors += o.frameErrors
        s.naksSent += o.naksSent
        s.naksReceived += o.naksReceived
        s.heartbeatsSent += o.heartbeatsSent
        s.linkDowns += o.linkDowns
        return s
    }
}
