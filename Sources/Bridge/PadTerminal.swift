import Checkout
import PinpadProtocol
import SerialLine

/// A PIN pad as the payment runner's `CustomerTerminal`: maps the checkout's screens and prompts
/// onto protocol v1 (SHOW_SCREEN, PROMPT from the pad's prompt table, CANCEL_PROMPT) and follows
/// the pad through link loss, reboot and replug.
///
/// Rules it carries out (PROTOCOL.md §7): every PROMPT has a fresh token and exactly one
/// ENTRY_RESULT ends it; when the link goes down during a prompt, the prompt is lost and is asked
/// again, with a new token, once the link is back (within `reconnectGrace`); a prompt that gets
/// no KEY_EVENT, BUSY or ENTRY_RESULT for `promptWatch` while the link is up is cancelled and
/// reported as `.terminalUnavailable`; after the task waiting in `ask` is cancelled, CANCEL_PROMPT
/// goes out and whatever crossed it on the line is discarded.
public actor PadTerminal: CustomerTerminal {
    public nonisolated let terminalID: String
    public let reconnectGrace: Duration
    public let promptWatch: Duration

    /// What the terminal knows of the pad right now.
    public private(set) var deviceInfo: DeviceInfo?
    public var isLinked: Bool { linked }

    private var link: PadLink?
    private var linked = false
    /// The counters of the lines this terminal had before the current one.
    private var retiredStatistics = LinkStatistics()
    private var linkGeneration = 0
    private var currentScreen: CustomerScreen = .idle
    private var nextToken: UInt16 = 1
    private var waiters: [UInt16: CheckedContinuation<PromptEnd, Never>] = [:]
    private var lastSignOfLife: [UInt16: ContinuousClock.Instant] = [:]
    private var linkWaiters: [CheckedContinuation<Void, Never>] = []
    private var statusListeners: [AsyncStream<TerminalStatus>.Continuation] = []

    /// The link layer's counters summed over every line this terminal had (for metrics).
    public var linkStatistics: LinkStatistics { retiredStatistics.adding(link?.statistics ?? LinkStatistics()) }

    /// What a link status listener hears.
    public enum TerminalStatus: Sendable, Equatable {
        case linkUp(DeviceInfo)
        case linkDown(LinkDownReason)
        case lineClosed
    }

    enum PromptEnd: Sendable {
        case result(EntryResult)
        case linkLost
        case watchExpired
    }

    public init(terminalID: String, reconnectGrace: Duration = .seconds(30), promptWatch: Duration = .seconds(15)) {
        self.terminalID = terminalID
        self.reconnectGrace = reconnectGrace
        self.promptWatch = promptWatch
    }

    /// Link status changes, for logs and the till's terminal list.
    public func statusUpdates() -> AsyncStream<TerminalStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: TerminalStatus.self)
        statusListeners.append(continuation)
        return stream
    }

    /// Takes a pad line into service: consumes its events until the line closes. Call `run()` on
    /// the link yourself (or use `PadLine.keepOpen`).
    public func attach(_ newLink: PadLink) {
        if let old = link { retiredStatistics = retiredStatistics.adding(old.statistics) }
        link = newLink
        linkGeneration += 1
        let generation = linkGeneration
        Task { [weak self] in
            for await event in newLink.events {
                await self?.handle(event, generation: generation)
            }
        }
    }

    // MARK: - CustomerTerminal

    public func show(_ screen: CustomerScreen) async {
        currentScreen = screen
        await link?.send(.showScreen(PadScreens.screen(for: screen)))
    }

    public func ask(_ prompt: CustomerPrompt) async -> CustomerEntry {
        let deadline = ContinuousClock.now + reconnectGrace
        while !Task.isCancelled {
            if !linked {
                guard await waitForLink(until: deadline) else { return .terminalUnavailable }
                continue
            }
            let token = takeToken()
            let request = PromptRequest(
                token: token, prompt: PadScreens.promptID(prompt.kind), amount: UInt32(clamping: prompt.amount),
                notice: PadScreens.notice(prompt.hint))
            let end = await withTaskCancellationHandler {
                await waitForEnd(of: request)
            } onCancel: {
                Task { await self.cancelPrompt(token) }
            }
            switch end {
            case .result(let result):
                return Self.entry(from: result)
            case .watchExpired:
                await link?.send(.cancelPrompt(token: token))
                return .terminalUnavailable
            case .linkLost:
                continue  // asked again, with a new token, when the link is back
            }
        }
        return .terminalUnavailable
    }

    static func entry(from result: EntryResult) -> CustomerEntry {
        switch result.outcome {
        case .entered: return .entered(String(decoding: result.digits, as: UTF8.self))
        case .cancelledByCustomer: return .cancelledByCustomer
        case .timedOut: return .timedOut
        case .cancelledByHost, .refused, .aborted: return .terminalUnavailable
        }
    }

    // MARK: - Internals

    private func takeToken() -> UInt16 {
        defer { nextToken = nextToken == UInt16.max ? 1 : nextToken + 1 }
        return nextToken
    }

    private func waitForEnd(of request: PromptRequest) async -> PromptEnd {
        lastSignOfLife[request.token] = .now
        let watch = Task { [promptWatch] in
            while !Task.isCancelled {
                try? await Task.sleep(for: promptWatch / 3)
                if Task.isCancelled { return }
                await self.checkWatch(request.token)
            }
        }
        defer { watch.cancel() }
        return await withCheckedContinuation { continuation in
            waiters[request.token] = continuation
            Task { await self.link?.send(.prompt(request)) }
        }
    }

    private func checkWatch(_ token: UInt16) {
        guard linked, let last = lastSignOfLife[token], ContinuousClock.now - last > promptWatch else { return }
        finish(token, .watchExpired)
    }

    private func cancelPrompt(_ token: UInt16) async {
        guard waiters[token] != nil else { return }
        await link?.send(.cancelPrompt(token: token))
        // The pad answers with ENTRY_RESULT (cancelled by host, or digits that crossed the
        // cancel); either ends the wait. Without a link there is nothing to wait for.
        if !linked { finish(token, .linkLost) }
    }

    private func finish(_ token: UInt16, _ end: PromptEnd) {
        lastSignOfLife[token] = nil
        waiters.removeValue(forKey: token)?.resume(returning: end)
    }

    private func waitForLink(until deadline: ContinuousClock.Instant) async -> Bool {
        if linked { return true }
        let timeout = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            await self.releaseLinkWaiters()
        }
        defer { timeout.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { linkWaiters.append($0) }
        } onCancel: {
            Task { await self.releaseLinkWaiters() }
        }
        return linked
    }

    private func releaseLinkWaiters() {
        let waiting = linkWaiters
        linkWaiters.removeAll()
        for w in waiting { w.resume() }
    }

    private func handle(_ event: PadLink.Event, generation: Int) async {
        guard generation == linkGeneration else { return }  // a replaced line
        switch event {
        case .linkUp(let info):
            deviceInfo = info
            linked = true
            broadcast(.linkUp(info))
            await link?.send(.showScreen(PadScreens.screen(for: currentScreen)))
            releaseLinkWaiters()
        case .linkDown(let reason):
            linked = false
            broadcast(.linkDown(reason))
            for token in Array(waiters.keys) { finish(token, .linkLost) }
        case .lineClosed:
            linked = false
            if let old = link { retiredStatistics = retiredStatistics.adding(old.statistics) }
            link = nil
            broadcast(.lineClosed)
            for token in Array(waiters.keys) { finish(token, .linkLost) }
        case .message(let message):
            switch message {
            case .entryResult(let result):
                finish(result.token, .result(result))
            case .keyEvent(let key):
                if waiters[key.token] != nil { lastSignOfLife[key.token] = .now }
            case .busy(let busy):
                if waiters[busy.token] != nil { lastSignOfLife[busy.token] = .now }
            default:
                break
            }
        case .invalidMessage(let type, let sequence, _):
            await link?.send(.errorReport(ErrorReport(code: .malformedPayload, referenceType: type, referenceSequence: sequence)))
        case .delivered, .sendFailed, .incompatiblePad, .frameError:
            break
        }
    }

    private func broadcast(_ status: TerminalStatus) {
        for listener in statusListeners { listener.yield(status) }
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
            Task { await link.close() }
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
