#if canImport(PinpadProtocol)
import PinpadProtocol
#endif

/// A key of the pad's keypad (`PROTOCOL.md` §5.1).
public enum PadKey: Sendable, Hashable {
    /// A digit key, 0–9.
    case digit(UInt8)
    case clear
    case ok
    case cancel
}

/// Something that happened to the pad.
public enum FirmwareEvent: Sendable, Hashable {
    /// The line to the host is open (power-on on real hardware): the pad starts announcing itself.
    case lineOpened
    /// Bytes from the host, in any chunking.
    case received([UInt8])
    /// The customer pressed a key.
    case key(PadKey)
    /// Time passed; call at `nextDeadline` (earlier is harmless).
    case tick
    /// The line went away (USB unplugged): the link is down until it is opened again.
    case lineClosed
}

/// What the pad's shell must do.
public enum FirmwareAction: Sendable, Hashable {
    /// Bytes to write to the line, in order.
    case write([UInt8])
    /// The display's new contents.
    case display(DisplayBuffer)
    /// Sound the buzzer and/or set the light (`light == .unchanged` leaves it).
    case indicate(Indication)
    /// A host said HELLO and the link is up; its name is for the service screen.
    case linkUp(hostName: [UInt8])
    case linkDown(LinkDownReason)
    /// A prompt from the table opened.
    case promptOpened(token: UInt16, prompt: PromptID)
    /// A prompt ended; `outcome` is nil when it ended without ENTRY_RESULT (the link went down).
    case promptEnded(token: UInt16, prompt: PromptID, outcome: EntryOutcome?)
}

/// The PIN pad's logic as a pure state machine: the device end of `PROTOCOL.md` — link layer in
/// the device role, the prompt table and keypad entry rules, the screen model. It does no I/O
/// and reads no clock: the shell feeds events with the time in milliseconds and carries out the
/// actions. The same code runs in the simulator and on the pad's microcontroller.
public struct PadFirmware: Sendable {
    /// The firmware version announced in HELLO_REPLY.
    public static var version: [UInt8] { PadText.bytes("1.1.0") }
    /// BUSY keep-alive interval while a prompt waits without keys (`PROTOCOL.md` §5.11).
    public static let busyInterval: UInt64 = 5_000

    /// What the display shows when no prompt is open.
    public enum Base: Sendable, Hashable {
        case notConnected
        case idle
        case screen(Screen)
    }

    /// An open prompt.
    public struct OpenPrompt: Sendable, Hashable {
        public var request: PromptRequest
        public var spec: PromptSpec
        /// The digits entered so far (ASCII).
        public internal(set) var entry: [UInt8]
        public var timeoutMillis: UInt64
        /// When the prompt times out (restarted by every key).
        public var deadline: UInt64
        /// When the next BUSY is due.
        public var busyDue: UInt64
        var noticeShown: Bool
        var tooShort: Bool
    }

    public let profile: DeviceProfile
    public private(set) var link: LinkLayer
    public private(set) var display: DisplayBuffer
    public private(set) var base: Base = .notConnected
    public private(set) var prompt: OpenPrompt?
    public private(set) var light: IndicatorLight = .off
    /// The linked host's name (UTF-8), empty while not linked.
    public private(set) var hostName: [UInt8] = []

    private var startedAt: UInt64?
    private var lastDisplay: DisplayBuffer?
    /// Kept between prompts so typing never allocates.
    private var entryStorage: [UInt8] = []

    public init(profile: DeviceProfile, timings: LinkTimings = LinkTimings()) {
        self.profile = profile
        self.link = LinkLayer(role: .device(profile.deviceInfo), timings: timings)
        self.display = DisplayBuffer(rows: Int(max(profile.rows, 1)), columns: Int(max(profile.columns, 1)))
        self.entryStorage.reserveCapacity(PadPromptTable.maxDigits)
        PadScreens.notConnected(&display)
    }

    public var isLinkUp: Bool { link.isUp }

    /// The state STATUS reports.
    public var padState: PadState {
        if prompt != nil { return .prompting }
        if case .screen = base { return .showingScreen }
        return .idle
    }

    /// When `handle(.tick, now:)` must next be called, or nil when nothing is timed.
    public var nextDeadline: UInt64? {
        var d = link.nextDeadline
        if let p = prompt {
            let t = min(p.deadline, p.busyDue)
            d = d.map { min($0, t) } ?? t
        }
        return d
    }

    @inline(never)
    public mutating func handle(_ event: FirmwareEvent, now: UInt64) -> [FirmwareAction] {
        var actions: [FirmwareAction] = []
        switch event {
        case .lineOpened:
            if startedAt == nil { startedAt = now }
            runLink(.start, now: now, &actions)
        case .received(let bytes):
            runLink(.received(bytes), now: now, &actions)
        case .tick:
            runLink(.tick, now: now, &actions)
            promptTimers(now: now, &actions)
        case .key(let key):
            handleKey(key, now: now, &actions)
        case .lineClosed:
            runLink(.stop, now: now, &actions)
            // A line closed while linking produces no link-down; the screen says so anyway.
            if link.isUp == false, base != .notConnected { linkWentDown(&actions) }
        }
        refreshDisplay(&actions)
        return actions
    }

    // MARK: - Link

    private mutating func runLink(_ event: LinkEvent, now: UInt64, _ actions: inout [FirmwareAction]) {
        let linkActions = link.handle(event, now: now)
        for action in linkActions {
            switch action {
            case .write(let bytes):
                actions.append(.write(bytes))
            case .linkUp(let peer):
                if case .host(let hello) = peer { hostName = hello.hostName }
                // A new link starts from a clean pad (§6.2 step 2): idle screen, no prompt.
                endPromptSilently(&actions)
                base = .idle
                actions.append(.linkUp(hostName: hostName))
            case .linkDown(let reason):
                linkWentDown(&actions)
                actions.append(.linkDown(reason))
            case .deliver(let message):
                handleMessage(message, now: now, &actions)
            case .deliverInvalid(let type, let sequence, let error, let payload):
                // Code 1 unknown type, 3 wrong direction, 2 malformed; ref_seq is the frame's (§4).
                send(.errorReport(ErrorReport(code: error.reportCode, referenceType: type, referenceSequence: sequence)), now: now, &actions)
                // A malformed PROMPT the host can identify still gets its one ENTRY_RESULT
                // (§5.4, 1.1); it opens no prompt and leaves an open one alone.
                if type == MessageType.prompt.rawValue, error.reportCode == .malformedPayload, payload.count >= 3 {
                    let token = UInt16(payload[0]) | UInt16(payload[1]) << 8
                    if token != 0 {
                        send(.entryResult(EntryResult(token: token, prompt: PromptID(rawValue: payload[2]), outcome: .refused)), now: now, &actions)
                    }
                }
            case .delivered, .sendFailed, .incompatiblePeer, .frameError:
                // Failed sends only happen when the link goes down, which linkDown handles.
                break
            }
        }
    }

    private mutating func linkWentDown(_ actions: inout [FirmwareAction]) {
        // §7.3: the open prompt ends without ENTRY_RESULT; the pad shows "not connected".
        endPromptSilently(&actions)
        base = .notConnected
        hostName = []
    }

    private mutating func send(_ message: Message, now: UInt64, _ actions: inout [FirmwareAction]) {
        runLink(.send(message), now: now, &actions)
    }

    // MARK: - Messages from the host

    private mutating func handleMessage(_ message: Message, now: UInt64, _ actions: inout [FirmwareAction]) {
        switch message {
        case .showScreen(let screen):
            // Shown now, or after the open prompt ends (§5.3).
            base = screen.lines.isEmpty ? .idle : .screen(screen)
        case .prompt(let request):
            if let open = prompt {
                finishPrompt(open, outcome: .cancelledByHost, now: now, &actions)
            }
            openPrompt(request, now: now, &actions)
        case .cancelPrompt(let token):
            if let open = prompt, open.request.token == token {
                finishPrompt(open, outcome: .cancelledByHost, now: now, &actions)
            }
        case .indicate(let indication):
            if indication.light != .unchanged { light = indication.light }
            actions.append(.indicate(indication))
        case .reset:
            if let open = prompt {
                finishPrompt(open, outcome: .cancelledByHost, now: now, &actions)
            }
            base = .idle
            if light != .off {
                light = .off
                actions.append(.indicate(Indication(beep: .none, light: .off)))
            }
        case .statusRequest:
            let uptime = UInt32(truncatingIfNeeded: (now - (startedAt ?? now)) / 1000)
            send(.status(DeviceStatus(state: padState, activeToken: prompt?.request.token ?? 0, uptimeSeconds: uptime)), now: now, &actions)
        case .ping, .errorReport:
            // PING is answered by the link layer's ACK; the host's error reports are for its logs.
            break
        case .keyEvent, .entryResult, .status, .busy:
            // Pad-to-host types never get here: the link layer hands them over as wrong-way
            // frames (deliverInvalid), which are answered with code 3 above.
            break
        }
    }

    private mutating func openPrompt(_ request: PromptRequest, now: UInt64, _ actions: inout [FirmwareAction]) {
        guard request.token != 0, let spec = PadPromptTable.spec(request.prompt),
            request.timeoutSeconds == 0 || PadPromptTable.timeoutRange.contains(request.timeoutSeconds)
        else {
            // Refused at once, echoing what was received (§5.4).
            send(.entryResult(EntryResult(token: request.token, prompt: request.prompt, outcome: .refused)), now: now, &actions)
            return
        }
        let seconds = request.timeoutSeconds == 0 ? spec.defaultTimeoutSeconds : request.timeoutSeconds
        let timeout = UInt64(seconds) * 1000
        entryStorage.removeAll(keepingCapacity: true)
        prompt = OpenPrompt(
            request: request, spec: spec, entry: entryStorage, timeoutMillis: timeout,
            deadline: now + timeout, busyDue: now + Self.busyInterval,
            noticeShown: request.notice != .none, tooShort: false)
        actions.append(.promptOpened(token: request.token, prompt: request.prompt))
    }

    /// Ends the open prompt with its one ENTRY_RESULT (retransmitted by the link layer until
    /// acknowledged).
    private mutating func finishPrompt(_ open: OpenPrompt, outcome: EntryOutcome, now: UInt64, _ actions: inout [FirmwareAction]) {
        prompt = nil
        let digits = outcome == .entered ? open.entry : []
        send(.entryResult(EntryResult(token: open.request.token, prompt: open.request.prompt, outcome: outcome, digits: digits)), now: now, &actions)
        entryStorage = open.entry
        entryStorage.removeAll(keepingCapacity: true)
        actions.append(.promptEnded(token: open.request.token, prompt: open.request.prompt, outcome: outcome))
    }

    private mutating func endPromptSilently(_ actions: inout [FirmwareAction]) {
        guard let open = prompt else { return }
        prompt = nil
        actions.append(.promptEnded(token: open.request.token, prompt: open.request.prompt, outcome: nil))
    }

    // MARK: - Keys and prompt timers

    private mutating func handleKey(_ key: PadKey, now: UInt64, _ actions: inout [FirmwareAction]) {
        // Outside a prompt keys do nothing and nothing keyed leaves the pad (§5.2).
        guard var open = prompt else { return }
        open.deadline = now + open.timeoutMillis
        open.busyDue = now + Self.busyInterval
        open.noticeShown = false
        let token = open.request.token
        switch key {
        case .digit(let d):
            guard d <= 9, open.entry.count < Int(open.spec.maxDigits) else {
                prompt = open
                keyEvent(KeyEvent(token: token, key: .refused, length: UInt8(open.entry.count)), now: now, &actions)
                actions.append(.indicate(Indication(beep: .error)))
                return
            }
            open.entry.append(0x30 + d)
            open.tooShort = false
            prompt = open
            keyEvent(KeyEvent(token: token, key: .digit, length: UInt8(open.entry.count)), now: now, &actions)
        case .clear:
            if !open.entry.isEmpty { open.entry.removeLast() }
            open.tooShort = false
            prompt = open
            keyEvent(KeyEvent(token: token, key: .clear, length: UInt8(open.entry.count)), now: now, &actions)
        case .ok:
            guard open.entry.count >= Int(open.spec.minDigits) else {
                open.tooShort = true
                prompt = open
                keyEvent(KeyEvent(token: token, key: .refused, length: UInt8(open.entry.count)), now: now, &actions)
                actions.append(.indicate(Indication(beep: .error)))
                return
            }
            prompt = open
            keyEvent(KeyEvent(token: token, key: .ok, length: UInt8(open.entry.count)), now: now, &actions)
            finishPrompt(open, outcome: .entered, now: now, &actions)
        case .cancel:
            prompt = open
            keyEvent(KeyEvent(token: token, key: .cancel, length: UInt8(open.entry.count)), now: now, &actions)
            finishPrompt(open, outcome: .cancelledByCustomer, now: now, &actions)
        }
    }

    /// KEY_EVENT is informational: when the link's queue is nearly full (a bad line and a fast
    /// customer), it is skipped so that room stays for the ENTRY_RESULT.
    private mutating func keyEvent(_ event: KeyEvent, now: UInt64, _ actions: inout [FirmwareAction]) {
        guard link.pendingCount < link.timings.queueLimit - 2 else { return }
        send(.keyEvent(event), now: now, &actions)
    }

    private mutating func promptTimers(now: UInt64, _ actions: inout [FirmwareAction]) {
        guard var open = prompt else { return }
        if now >= open.deadline {
            finishPrompt(open, outcome: .timedOut, now: now, &actions)
            return
        }
        if now >= open.busyDue {
            open.busyDue = now + Self.busyInterval
            prompt = open
            let remaining = (open.deadline - now + 999) / 1000
            if link.pendingCount < link.timings.queueLimit - 2 {
                send(.busy(BusyNotice(token: open.request.token, secondsRemaining: UInt16(truncatingIfNeeded: remaining))), now: now, &actions)
            }
        }
    }

    // MARK: - Display

    private mutating func refreshDisplay(_ actions: inout [FirmwareAction]) {
        if let open = prompt {
            let view = PromptView(
                spec: open.spec, amount: open.request.amount, entry: open.entry,
                notice: open.noticeShown ? open.request.notice : .none, tooShort: open.tooShort)
            PadScreens.prompt(view, on: &display)
        } else {
            switch base {
            case .notConnected: PadScreens.notConnected(&display)
            case .idle: PadScreens.idle(&display)
            case .screen(let screen): display.show(screen)
            }
        }
        if lastDisplay != display {
            lastDisplay = display
            actions.append(.display(display))
        }
    }
}
