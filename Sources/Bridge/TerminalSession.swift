import Checkout
import PinpadProtocol

/// The application session with one PIN pad (PROTOCOL.md §5–§7) as a pure state machine:
/// events in (link up/down with the pad's HELLO_REPLY, messages from the pad, the payment's
/// requests to show and ask, time passing), actions out (messages to send, entries to report,
/// link reports, the next timer). It reads no clock, starts no task and holds no lock: the
/// shell (`PadTerminal`) passes the time in with every event and carries the actions out in order.
///
/// The rules it keeps:
/// - the pad's capabilities come from its HELLO_REPLY; a PROMPT goes out only for a prompt id the
///   pad announced (D4) — an ask for another is answered `.promptUnsupported` — with `payment.entry-timeout` as its timeout (D16);
/// - every PROMPT has a new token, the previous + 1, wrapping 65535 → 1 and never 0, continuing
///   across re-links and — through `persistToken`, written before the PROMPT leaves — across
///   restarts (D3, §7.1);
/// - at most one PROMPT is open on the pad; a SHOW_SCREEN or another PROMPT waits until the open
///   one has ended: CANCEL_PROMPT first, then its ENTRY_RESULT or the link going down (D12);
/// - the pad shows the current payment's screen after a reboot or re-link, never an earlier
///   payment's, and the open question is asked again with a new token within the reconnect
///   grace (D17); after the grace the entry is `.terminalUnavailable`;
/// - a PROMPT with no KEY_EVENT, BUSY or ENTRY_RESULT for `promptWatch` while linked is
///   cancelled and the entry is `.terminalUnavailable` (BUSY comes every 5 s, D11);
/// - the host's own deadline for an entry is the PROMPT's timeout plus `entryGrace`; after it the
///   prompt is cancelled, the entry is `.timedOut`, and a late entry is never taken (D16);
/// - the idle screen goes out only while no payment is in progress and no prompt is open (D14);
/// - at shutdown an open prompt is cancelled (its ENTRY_RESULT awaited up to `shutdownWait`),
///   then the out-of-service screen goes out (D14).
public struct TerminalSession: Sendable {
    /// A point in time: how long after the shell's own origin (a monotonic clock).
    public typealias Instant = Duration
    /// The shell's name for one `ask`, to match the entry to it.
    public typealias AskID = Int

    public struct Configuration: Sendable, Equatable {
        /// How long a pad may be away mid-prompt before the entry is `.terminalUnavailable`.
        public var reconnectGrace: Duration = .seconds(30)
        /// How long an open PROMPT may go without KEY_EVENT, BUSY or ENTRY_RESULT.
        public var promptWatch: Duration = .seconds(15)
        /// `payment.entry-timeout`: seconds the customer has for one entry, carried in PROMPT
        /// (clamped to 5–600); nil sends 0, the pad's own default from its prompt table.
        public var entryTimeout: Duration?
        /// Added to the entry timeout for the host's own deadline (the pad's clock and the line).
        public var entryGrace: Duration = .seconds(3)
        /// At shutdown, how long an open prompt's ENTRY_RESULT is awaited.
        public var shutdownWait: Duration = .seconds(1)

        public init(
            reconnectGrace: Duration = .seconds(30), promptWatch: Duration = .seconds(15), entryTimeout: Duration? = nil,
            entryGrace: Duration = .seconds(3), shutdownWait: Duration = .seconds(1)
        ) {
            self.reconnectGrace = reconnectGrace
            self.promptWatch = promptWatch
            self.entryTimeout = entryTimeout
            self.entryGrace = entryGrace
            self.shutdownWait = shutdownWait
        }

        /// PROMPT's timeout field: the entry timeout in whole seconds within 5–600, or 0.
        var promptTimeoutSeconds: UInt16 {
            guard let entryTimeout else { return 0 }
            let seconds = entryTimeout.components.seconds + (entryTimeout.components.attoseconds > 0 ? 1 : 0)
            return UInt16(min(max(seconds, 5), 600))
        }
    }

    public enum Event: Sendable, Equatable {
        /// The link came up; the pad's HELLO_REPLY.
        case linkUp(DeviceInfo)
        /// The link went down (or the line closed): whatever was open on the pad is gone.
        case linkDown
        /// The pad answered HELLO with no version this host speaks.
        case incompatible(DeviceInfo)
        /// A message the pad sent.
        case message(Message)
        /// A data frame from the pad whose payload is no valid message (already acknowledged).
        case invalidMessage(type: UInt8, sequence: UInt8, error: MessageError)
        /// A payment takes the terminal: from now on its screens are the ones to restore.
        case paymentStarted
        /// The payment is over; its last screen stays until `show(.idle)`.
        case paymentEnded
        case show(CustomerScreen)
        case ask(CustomerPrompt, id: AskID)
        /// The asker no longer wants the entry (its task was cancelled).
        case cancelAsk(id: AskID)
        /// Time passed (a timer armed with `armTimer` went off).
        case timePassed
        /// The daemon is stopping: end an open prompt, then the out-of-service screen.
        case shutdown
    }

    public enum Action: Sendable, Equatable {
        case send(Message)
        /// Keep this token durably before the PROMPT that carries it goes out.
        case persistToken(UInt16)
        /// The entry for an `ask`.
        case answer(id: AskID, CustomerEntry)
        case reportLinkUp(DeviceInfo)
        case reportLinkDown
        case reportIncompatible(DeviceInfo)
        /// Pass `.timePassed` at this instant (replaces any earlier timer).
        case armTimer(at: Instant)
        /// The shutdown screen went out (or could not): the shell may close the line.
        case shutdownDone
    }

    /// What the terminal is for right now, which decides the screen a re-linked pad gets.
    enum Activity: Sendable, Equatable {
        /// No payment: the idle screen (or the pad's own, before the first `show`).
        case idle(showing: CustomerScreen?)
        /// A payment in progress and the last screen it showed (nil: none yet).
        case payment(showing: CustomerScreen?)
        /// Stopping: the out-of-service screen goes out once no prompt is open.
        case stopping(deadline: Instant)
        case stopped
    }

    /// The entry the payment waits for.
    struct Ask: Sendable, Equatable {
        var id: AskID
        var prompt: CustomerPrompt
        /// While the pad is away: when the entry becomes `.terminalUnavailable`.
        var giveUpAt: Instant?
    }

    /// A PROMPT on the pad.
    struct OpenPrompt: Sendable, Equatable {
        var token: UInt16
        var prompt: PromptID
        /// The ask it serves (nil: orphaned, being cancelled).
        var ask: AskID?
        /// The host's deadline for the entry (D16).
        var entryDeadline: Instant
        /// The last sign of life (PROMPT sent, KEY_EVENT, BUSY).
        var lastSignOfLife: Instant
        /// CANCEL_PROMPT went out; its ENTRY_RESULT (or a crossing one) ends the prompt.
        var cancelling: Bool
    }

    enum Link: Sendable, Equatable {
        case down
        case incompatible(DeviceInfo)
        /// Linked with the pad described by its HELLO_REPLY; `prompt` is what it has open;
        /// `screenSent` is the screen it was last sent in this link (nil: its own idle screen).
        case up(DeviceInfo, prompt: OpenPrompt?, screenSent: CustomerScreen?)
    }

    public let configuration: Configuration
    private(set) var link: Link = .down
    private(set) var activity: Activity = .idle(showing: nil)
    private(set) var ask: Ask?
    /// The last token used (0: none yet).
    private(set) var lastToken: UInt16
    private var armed: Instant?

    /// `lastToken`: the last token this host used with this pad (kept across restarts), 0 if none.
    public init(configuration: Configuration = Configuration(), lastToken: UInt16 = 0) {
        self.configuration = configuration
        self.lastToken = lastToken
    }

    /// The pad, while linked.
    public var deviceInfo: DeviceInfo? {
        if case .up(let info, _, _) = link { return info }
        return nil
    }

    public var isLinked: Bool { deviceInfo != nil }

    /// The prompt ids this pad announced; empty when unlinked.
    public var announcedPrompts: [PromptID] { deviceInfo?.prompts.map(\.id) ?? [] }

    // MARK: - Events

    public mutating func handle(_ event: Event, now: Instant) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .linkUp(let info):
            if case .up = link { preconditionFailure("TerminalSession: link up while already up (the link layer reports link down first)") }
            link = .up(info, prompt: nil, screenSent: nil)
            actions.append(.reportLinkUp(info))
            if var a = ask {
                a.giveUpAt = nil
                ask = a
            }
        case .linkDown:
            switch link {
            case .down, .incompatible:
                break  // a line closing while unlinked
            case .up:
                actions.append(.reportLinkDown)
                if var a = ask {
                    a.giveUpAt = now + configuration.reconnectGrace
                    ask = a
                }
            }
            link = .down
        case .incompatible(let info):
            link = .incompatible(info)
            actions.append(.reportIncompatible(info))
        case .message(let message):
            received(message, now: now, actions: &actions)
        case .invalidMessage(let type, let sequence, let error):
            // D1: 1 for a type this version does not define, 3 for a defined type travelling the
            // wrong way, 2 for a malformed payload (PROTOCOL.md §4).
            let code = error.reportCode
            if isLinked {
                actions.append(.send(.errorReport(ErrorReport(code: code, referenceType: type, referenceSequence: sequence))))
            }
        case .paymentStarted:
            switch activity {
            case .idle: activity = .payment(showing: nil)
            case .payment: activity = .payment(showing: nil)  // the previous one ended without saying so
            case .stopping, .stopped: break
            }
        case .paymentEnded:
            if case .payment(let showing) = activity { activity = .idle(showing: showing) }
        case .show(let screen):
            switch activity {
            case .idle:
                activity = .idle(showing: screen)
            case .payment:
                // D14: the idle screen only while no payment is in progress (an earlier
                // payment's "back to idle" comes late).
                if screen != .idle { activity = .payment(showing: screen) }
            case .stopping, .stopped:
                break
            }
        case .ask(let prompt, let id):
            if let open = ask, open.id != id {
                // The earlier ask is replaced: its entry is no longer wanted.
                actions.append(.answer(id: open.id, .terminalUnavailable))
            }
            ask = Ask(id: id, prompt: prompt, giveUpAt: isLinked ? nil : now + configuration.reconnectGrace)
            if case .stopping = activity { ask?.giveUpAt = nil }
        case .cancelAsk(let id):
            if ask?.id == id { ask = nil }
        case .timePassed:
            expire(now: now, actions: &actions)
        case .shutdown:
            switch activity {
            case .stopping, .stopped: break
            default: activity = .stopping(deadline: now + configuration.shutdownWait)
            }
        }
        settle(now: now, actions: &actions)
        return actions
    }

    // MARK: - Messages from the pad

    private mutating func received(_ message: Message, now: Instant, actions: inout [Action]) {
        guard case .up(let info, let open, let screenSent) = link else { return }
        switch message {
        case .entryResult(let result):
            guard let prompt = open, prompt.token == result.token else { return }  // an earlier prompt's
            link = .up(info, prompt: nil, screenSent: screenSent)
            // An entry that crossed CANCEL_PROMPT, or came after the host's deadline, is not taken.
            if !prompt.cancelling, let askID = prompt.ask, ask?.id == askID {
                ask = nil
                actions.append(.answer(id: askID, Self.entry(from: result)))
            }
        case .keyEvent(let key):
            guard var prompt = open, prompt.token == key.token else { return }
            prompt.lastSignOfLife = now
            link = .up(info, prompt: prompt, screenSent: screenSent)
        case .busy(let busy):
            guard var prompt = open, prompt.token == busy.token else { return }
            prompt.lastSignOfLife = now
            link = .up(info, prompt: prompt, screenSent: screenSent)
        case .status, .ping, .errorReport:
            break
        case .showScreen, .prompt, .cancelPrompt, .indicate, .reset, .statusRequest:
            // A pad-bound type reaching the host. D1 wants ERROR_REPORT code 3 with the frame's
            // sequence number, which the link layer does not pass up with the message: ignored.
            break
        }
    }

    static func entry(from result: EntryResult) -> CustomerEntry {
        switch result.outcome {
        case .entered: return .entered(String(decoding: result.digits, as: UTF8.self))
        case .cancelledByCustomer: return .cancelledByCustomer
        case .timedOut: return .timedOut
        case .cancelledByHost, .refused, .aborted: return .terminalUnavailable
        }
    }

    // MARK: - Time

    private mutating func expire(now: Instant, actions: inout [Action]) {
        if let a = ask, let giveUp = a.giveUpAt, now >= giveUp {
            ask = nil
            actions.append(.answer(id: a.id, .terminalUnavailable))
        }
        if case .up(let info, var prompt?, let screenSent) = link, !prompt.cancelling, let askID = prompt.ask {
            var entry: CustomerEntry?
            if now >= prompt.entryDeadline {
                entry = .timedOut  // D16: no entry is taken after this
            } else if now >= prompt.lastSignOfLife + configuration.promptWatch {
                entry = .terminalUnavailable  // the pad stopped answering for this prompt
            }
            if let entry {
                prompt.ask = nil
                link = .up(info, prompt: prompt, screenSent: screenSent)
                if ask?.id == askID {
                    ask = nil
                    actions.append(.answer(id: askID, entry))
                }
            }
        }
        if case .stopping(let deadline) = activity, now >= deadline {
            // The prompt did not end in time: the screen goes out regardless (the pad ends the
            // prompt on SHOW_SCREEN as in v1).
            if case .up(let info, _, _) = link {
                actions.append(.send(.showScreen(PadScreens.screen(for: .outOfService))))
                link = .up(info, prompt: nil, screenSent: .outOfService)
            }
            activity = .stopped
            actions.append(.shutdownDone)
        }
    }

    // MARK: - Bringing the pad to what it should show

    /// Does whatever is due now that the state changed: cancels a prompt nobody wants, sends the
    /// screen that is owed once no prompt is open, asks what is asked, arms the next timer.
    private mutating func settle(now: Instant, actions: inout [Action]) {
        defer { armTimer(actions: &actions) }
        guard case .up(let info, var open, var screenSent) = link else {
            if case .stopping = activity {
                activity = .stopped
                actions.append(.shutdownDone)
            }
            return
        }
        // 1. A prompt whose ask is gone, or that stands in the way of the shutdown screen, is
        //    cancelled (once).
        if var prompt = open, !prompt.cancelling {
            let stopping: Bool
            if case .stopping = activity { stopping = true } else { stopping = false }
            if prompt.ask == nil || prompt.ask != ask?.id || stopping {
                prompt.cancelling = true
                prompt.ask = nil
                open = prompt
                actions.append(.send(.cancelPrompt(token: prompt.token)))
            }
        }
        // 2. With no prompt open, the screen that is owed.
        if open == nil {
            let wanted: CustomerScreen?
            switch activity {
            case .idle(let showing): wanted = showing
            case .payment(let showing): wanted = showing
            case .stopping: wanted = .outOfService
            case .stopped: wanted = nil
            }
            if let wanted, wanted != screenSent {
                actions.append(.send(.showScreen(PadScreens.screen(for: wanted))))
                screenSent = wanted
            }
            if case .stopping = activity {
                activity = .stopped
                actions.append(.shutdownDone)
            }
        }
        // 3. With no prompt open, the question asked (unless stopping).
        if open == nil, let a = ask, case .payment = activity {
            open = startPrompt(a, info: info, now: now, actions: &actions)
        } else if open == nil, let a = ask, case .idle = activity {
            open = startPrompt(a, info: info, now: now, actions: &actions)
        }
        link = .up(info, prompt: open, screenSent: screenSent)
    }

    private mutating func startPrompt(_ a: Ask, info: DeviceInfo, now: Instant, actions: inout [Action]) -> OpenPrompt? {
        let id = PadScreens.promptID(a.prompt.kind)
        guard let spec = info.prompts.first(where: { $0.id == id }) else {
            // D4: never a prompt the pad did not announce; the payment decides what that means.
            ask = nil
            actions.append(.answer(id: a.id, .promptUnsupported))
            return nil
        }
        lastToken = lastToken == UInt16.max ? 1 : lastToken + 1
        let timeout = configuration.promptTimeoutSeconds
        let seconds = timeout != 0 ? Int64(timeout) : Int64(spec.defaultTimeoutSeconds == 0 ? 60 : spec.defaultTimeoutSeconds)
        actions.append(.persistToken(lastToken))
        actions.append(
            .send(
                .prompt(
                    PromptRequest(
                        token: lastToken, prompt: id, timeoutSeconds: timeout, amount: UInt32(clamping: a.prompt.amount),
                        notice: PadScreens.notice(a.prompt.hint)))))
        return OpenPrompt(
            token: lastToken, prompt: id, ask: a.id, entryDeadline: now + .seconds(seconds) + configuration.entryGrace,
            lastSignOfLife: now, cancelling: false)
    }

    /// The earliest instant something is due.
    var nextDeadline: Instant? {
        var deadline: Instant?
        func consider(_ t: Instant?) {
            guard let t else { return }
            deadline = deadline.map { min($0, t) } ?? t
        }
        consider(ask?.giveUpAt)
        if case .up(_, let prompt?, _) = link, !prompt.cancelling, prompt.ask != nil {
            consider(prompt.entryDeadline)
            consider(prompt.lastSignOfLife + configuration.promptWatch)
        }
        if case .stopping(let d) = activity { consider(d) }
        return deadline
    }

    private mutating func armTimer(actions: inout [Action]) {
        let next = nextDeadline
        guard next != armed else { return }
        armed = next
        if let next { actions.append(.armTimer(at: next)) }
    }
}
