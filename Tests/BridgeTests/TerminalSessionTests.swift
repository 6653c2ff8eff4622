import Checkout
import PinpadProtocol
import Testing
@testable import Bridge

/// The terminal session's rules, event by event, with no line and no clock (PROTOCOL.md §5–§7,
/// protocol v1.1 decisions D1, D3, D4, D12, D14–D17).
@Suite struct TerminalSessionTests {
    static func pad(prompts: [PromptID] = [.customerID, .smsCode, .confirmAmount]) -> DeviceInfo {
        let table: [PromptSpec] = [
            PromptSpec(id: .customerID, minDigits: 7, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60),
            PromptSpec(id: .smsCode, minDigits: 4, maxDigits: 6, echo: .masked, defaultTimeoutSeconds: 120),
            PromptSpec(id: .confirmAmount, minDigits: 0, maxDigits: 0, echo: .hidden, defaultTimeoutSeconds: 60),
        ]
        return DeviceInfo(
            version: 1, maxPayload: 256, rows: 4, columns: 20, model: Array("NGP-1".utf8), firmwareVersion: Array("1.0".utf8),
            serialNumber: Array("SIM00001".utf8), prompts: table.filter { prompts.contains($0.id) })
    }

    static let customerID = CustomerPrompt(kind: .customerID, amount: 4990)
    static let smsCode = CustomerPrompt(kind: .smsCode, amount: 4990)

    /// A session and the time, with helpers that read its actions.
    struct Rig {
        var session: TerminalSession
        var now: Duration = .zero
        var sent: [Message] = []

        init(_ configuration: TerminalSession.Configuration = .init(), lastToken: UInt16 = 0) {
            session = TerminalSession(configuration: configuration, lastToken: lastToken)
        }

        @discardableResult
        mutating func on(_ event: TerminalSession.Event) -> [TerminalSession.Action] {
            let actions = session.handle(event, now: now)
            for case .send(let m) in actions { sent.append(m) }
            return actions
        }

        @discardableResult
        mutating func after(_ d: Duration) -> [TerminalSession.Action] {
            now += d
            return on(.timePassed)
        }

        static func prompts(_ actions: [TerminalSession.Action]) -> [PromptRequest] {
            actions.compactMap { if case .send(.prompt(let p)) = $0 { return p } else { return nil } }
        }

        static func screens(_ actions: [TerminalSession.Action]) -> [Screen] {
            actions.compactMap { if case .send(.showScreen(let s)) = $0 { return s } else { return nil } }
        }

        static func answers(_ actions: [TerminalSession.Action]) -> [CustomerEntry] {
            actions.compactMap { if case .answer(_, let e) = $0 { return e } else { return nil } }
        }

        static func cancels(_ actions: [TerminalSession.Action]) -> [UInt16] {
            actions.compactMap { if case .send(.cancelPrompt(let t)) = $0 { return t } else { return nil } }
        }

        @discardableResult
    mutating func entry(_ token: UInt16, _ outcome: EntryOutcome, _ digits: String = "", prompt: PromptID = .customerID)
            -> [TerminalSession.Action]
        {
            on(.message(.entryResult(EntryResult(token: token, prompt: prompt, outcome: outcome, digits: Array(digits.utf8)))))
        }
    }

    static func text(_ screen: Screen) -> String {
        screen.lines.map { String(decoding: $0.text, as: UTF8.self) }.joined(separator: " / ")
    }

    // MARK: - Tokens (D3, §7.1; deviation i)

    @Test func tokensGoUpByOneAcrossRelinksAndWrapPast65535ToOne() {
        var rig = Rig(lastToken: 65534)
        rig.on(.linkUp(Self.pad()))
        var tokens: [UInt16] = []
        for round in 1...3 {
            let actions = rig.on(.ask(Self.customerID, id: round))
            tokens += Rig.prompts(actions).map(\.token)
            rig.on(.linkDown)
            rig.on(.linkUp(Self.pad()))  // asked again after the re-link, with a new token
            tokens += Rig.prompts(rig.sent.suffix(1).map { TerminalSession.Action.send($0) }).map(\.token)
            rig.entry(tokens.last!, .entered, "1234567")
        }
        #expect(tokens == [65535, 1, 2, 3, 4, 5])
    }

    /// Deviation i: a daemon restarted with a recovered payment goes on from the kept token.
    @Test func aRestartedSessionGoesOnFromTheKeptToken() {
        var first = Rig()
        first.on(.linkUp(Self.pad()))
        let kept = first.on(.ask(Self.customerID, id: 1)).compactMap { action -> UInt16? in
            if case .persistToken(let t) = action { return t } else { return nil }
        }
        #expect(kept == [1])
        var restarted = Rig(lastToken: kept.last!)
        restarted.on(.linkUp(Self.pad()))
        let again = Rig.prompts(restarted.on(.ask(Self.customerID, id: 1)))
        #expect(again.map(\.token) == [2])
    }

    @Test func theTokenIsPersistedBeforeThePromptLeaves() {
        var rig = Rig(lastToken: 41)
        rig.on(.linkUp(Self.pad()))
        let actions = rig.on(.ask(Self.customerID, id: 1))
        let persist = actions.firstIndex(of: .persistToken(42))
        let prompt = actions.firstIndex { if case .send(.prompt) = $0 { return true } else { return false } }
        #expect(persist != nil && prompt != nil && persist! < prompt!)
    }

    // MARK: - Cancel before replace (D12; deviation c)

    @Test func aNewPromptWaitsForTheOpenOnesEntryResult() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.ask(Self.customerID, id: 1))
        let replace = rig.on(.ask(Self.smsCode, id: 2))
        #expect(Rig.cancels(replace) == [1])
        #expect(Rig.prompts(replace).isEmpty)
        #expect(Rig.answers(replace) == [.terminalUnavailable])  // the replaced ask
        let after = rig.entry(1, .cancelledByHost)
        #expect(Rig.prompts(after).map(\.prompt) == [.smsCode])
        #expect(Rig.prompts(after).map(\.token) == [2])
    }

    @Test func aScreenWaitsUntilTheCancelledPromptHasEnded() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.paymentStarted)
        rig.on(.ask(Self.customerID, id: 1))
        rig.on(.show(.cancelled))  // crossing: the show came before the cancel
        #expect(Rig.screens(rig.on(.cancelAsk(id: 1))).isEmpty)
        #expect(rig.sent.last == .cancelPrompt(token: 1))
        // Digits that crossed the cancel are not taken; then the screen goes out.
        let crossed = rig.entry(1, .entered, "8223281")
        #expect(Rig.answers(crossed).isEmpty)
        #expect(Rig.screens(crossed).map(Self.text) == ["Hætt við greiðslu"])
    }

    /// Deviation c: the previous payment's "back to idle" 5 s after its result, with the next
    /// payment's PROMPT open — no SHOW_SCREEN at all.
    @Test func anEarlierPaymentsIdleScreenDoesNotReachThePadDuringTheNextPayment() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.paymentStarted)
        rig.on(.show(.paid(amount: 4990)))
        rig.on(.paymentEnded)
        rig.on(.paymentStarted)
        rig.on(.ask(Self.customerID, id: 1))
        let sentBefore = rig.sent.count
        for _ in 0..<3 { rig.on(.show(.idle)) }
        #expect(rig.sent.count == sentBefore)
        // After that payment ends, "back to idle" shows the idle screen.
        rig.entry(1, .entered, "8223281")
        rig.on(.paymentEnded)
        #expect(Rig.screens(rig.on(.show(.idle))).map(Self.text) == ["Netgíró / Góðan daginn"])
    }

    /// Deviation c: at shutdown with a prompt open, CANCEL_PROMPT first; the out-of-service
    /// screen after its ENTRY_RESULT — or after a second without one.
    @Test func shutdownCancelsTheOpenPromptBeforeOutOfService() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.paymentStarted)
        rig.on(.ask(Self.customerID, id: 1))
        let stopping = rig.on(.shutdown)
        #expect(Rig.cancels(stopping) == [1])
        #expect(Rig.screens(stopping).isEmpty)
        #expect(Rig.answers(stopping).isEmpty)  // the payment stays in the journal
        let ended = rig.entry(1, .cancelledByHost)
        #expect(Rig.screens(ended).map(Self.text) == ["Ekki í notkun"])
        #expect(ended.contains(.shutdownDone))

        var silent = Rig()
        silent.on(.linkUp(Self.pad()))
        silent.on(.ask(Self.customerID, id: 1))
        silent.on(.shutdown)
        #expect(Rig.screens(silent.after(.milliseconds(999))).isEmpty)
        let late = silent.after(.milliseconds(1))
        #expect(Rig.screens(late).map(Self.text) == ["Ekki í notkun"])
        #expect(late.contains(.shutdownDone))
    }

    // MARK: - After a reboot or re-link (D17; deviation d)

    /// Deviation d: the pad reboots during the next payment's customer-id prompt: it gets that
    /// prompt again (new token), never the previous payment's result.
    @Test func aRebootedPadGetsTheCurrentPaymentsPromptNotTheLastResult() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.paymentStarted)
        rig.on(.show(.paid(amount: 4990)))
        rig.on(.paymentEnded)
        rig.on(.paymentStarted)
        rig.on(.ask(Self.customerID, id: 7))
        rig.on(.linkDown)
        let relinked = rig.on(.linkUp(Self.pad()))
        #expect(Rig.screens(relinked).isEmpty)
        #expect(Rig.prompts(relinked).map(\.token) == [2])
        #expect(Rig.prompts(relinked).map(\.prompt) == [.customerID])
    }

    @Test func aRelinkedPadGetsTheCurrentPaymentsScreen() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.paymentStarted)
        rig.on(.show(.confirmInApp(amount: 4990)))
        rig.on(.linkDown)
        let relinked = rig.on(.linkUp(Self.pad()))
        #expect(Rig.screens(relinked).map(Self.text) == ["Staðfestu greiðslu / í Netgíró appinu / 4.990 kr."])
    }

    @Test func theEntryIsUnavailableWhenThePadStaysAwayPastTheGrace() {
        var rig = Rig(.init(reconnectGrace: .seconds(30)))
        rig.on(.linkUp(Self.pad()))
        rig.on(.ask(Self.customerID, id: 1))
        rig.on(.linkDown)
        #expect(Rig.answers(rig.after(.seconds(29))).isEmpty)
        #expect(Rig.answers(rig.after(.seconds(1))) == [.terminalUnavailable])
        #expect(Rig.prompts(rig.on(.linkUp(Self.pad()))).isEmpty)
    }

    // MARK: - Liveness, entry timeout (D11, D16; deviation g)

    @Test func aPromptWithoutSignOfLifeFor15SecondsIsCancelled() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        rig.on(.ask(Self.customerID, id: 1))
        for _ in 0..<5 {
            #expect(Rig.answers(rig.after(.seconds(5))).isEmpty)
            rig.on(.message(.busy(BusyNotice(token: 1, secondsRemaining: 40))))
        }
        let quiet = rig.after(.seconds(15))
        #expect(Rig.answers(quiet) == [.terminalUnavailable])
        #expect(Rig.cancels(quiet) == [1])
    }

    /// Deviation g: `payment.entry-timeout=10` goes out as PROMPT timeout 10; at 10 s + grace the
    /// host cancels the prompt and the entry is `.timedOut`; an entry at 15.6 s is not taken.
    @Test func theEntryTimeoutIsCarriedAndEnforced() {
        var rig = Rig(.init(entryTimeout: .seconds(10), entryGrace: .seconds(3)))
        rig.on(.linkUp(Self.pad()))
        let asked = Rig.prompts(rig.on(.ask(Self.customerID, id: 1)))
        #expect(asked.map(\.timeoutSeconds) == [10])
        rig.on(.message(.keyEvent(KeyEvent(token: 1, key: .digit, length: 1))))
        #expect(Rig.answers(rig.after(.milliseconds(12_999))).isEmpty)
        let deadline = rig.after(.milliseconds(1))
        #expect(Rig.answers(deadline) == [.timedOut])
        #expect(Rig.cancels(deadline) == [1])
        rig.now = .milliseconds(15_600)
        #expect(Rig.answers(rig.entry(1, .entered, "8223281")).isEmpty)
    }

    @Test(arguments: [(2, 5), (5, 5), (61, 61), (600, 600), (1000, 600)])
    func thePromptTimeoutIsClampedTo5Through600(seconds: Int, sent: Int) {
        var rig = Rig(.init(entryTimeout: .seconds(seconds)))
        rig.on(.linkUp(Self.pad()))
        #expect(Rig.prompts(rig.on(.ask(Self.customerID, id: 1))).map(\.timeoutSeconds) == [UInt16(sent)])
    }

    @Test func withoutAnEntryTimeoutThePadsDefaultApplies() {
        var rig = Rig(.init(promptWatch: .seconds(1000), entryGrace: .seconds(3)))
        rig.on(.linkUp(Self.pad()))
        #expect(Rig.prompts(rig.on(.ask(Self.smsCode, id: 1))).map(\.timeoutSeconds) == [0])
        #expect(Rig.answers(rig.after(.seconds(122))).isEmpty)
        #expect(Rig.answers(rig.after(.seconds(1))) == [.timedOut])  // announced 120 s + 3 s
    }

    // MARK: - Notice, prompt table, unknown types (D15, D4, D1; deviations e, f, a)

    @Test(arguments: [(CustomerPromptHint.none, PromptNotice.none), (.wrongCode, .wrongCode), (.invalidEntry, .invalidEntry)])
    func thePromptCarriesTheNotice(hint: CustomerPromptHint, notice: PromptNotice) {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        let asked = Rig.prompts(rig.on(.ask(CustomerPrompt(kind: .smsCode, amount: 100, hint: hint), id: 1)))
        #expect(asked.map(\.notice) == [notice])
    }

    /// Deviation f: a pad that announced prompts 1 and 3 is never sent prompt 2.
    @Test func aPromptThePadDidNotAnnounceIsNeverSent() {
        var rig = Rig()
        rig.on(.linkUp(Self.pad(prompts: [.customerID, .confirmAmount])))
        let actions = rig.on(.ask(Self.smsCode, id: 1))
        #expect(Rig.prompts(actions).isEmpty)
        #expect(Rig.answers(actions) == [.promptUnsupported])
        #expect(Rig.prompts(rig.on(.ask(Self.customerID, id: 2))).map(\.prompt) == [.customerID])
    }

    /// Deviation a: an undefined type from the pad (0x44, 0x7F) is answered with code 1, naming
    /// the frame's type and sequence number.
    @Test(arguments: [UInt8(0x44), 0x7F, 0xFF])
    func anUnknownTypeIsAnsweredWithCode1(type: UInt8) {
        var rig = Rig()
        rig.on(.linkUp(Self.pad()))
        let actions = rig.on(.invalidMessage(type: type, sequence: 9, error: .unknownType(type)))
        #expect(actions == [.send(.errorReport(ErrorReport(code: .unknownMessageType, referenceType: type, referenceSequence: 9)))])
        let malformed = rig.on(.invalidMessage(type: 0x41, sequence: 10, error: .truncated))
        #expect(malformed == [.send(.errorReport(ErrorReport(code: .malformedPayload, referenceType: 0x41, referenceSequence: 10)))])
    }

    // MARK: - Every order of events

    /// All sequences of up to five events from a small alphabet: the pad is never sent a PROMPT or
    /// a SHOW_SCREEN while it has a prompt open (D12), tokens never repeat and go up by one,
    /// every ask is answered at most once, and no idle screen goes out during a payment (D14).
    @Test func invariantsHoldForEveryOrderOfEvents() {
        enum Step: CaseIterable {
            case linkUp, linkDown, ask, askSMS, cancelAsk, showWorking, showIdle, started, ended, padEnters, padAcksCancel, wait, shutdown
        }
        var checked = 0
        func explore(_ rig: Rig, pad: PadModel, depth: Int) {
            guard depth > 0 else { return }
            for step in Step.allCases {
                var rig = rig
                var pad = pad
                var event: TerminalSession.Event?
                switch step {
                case .linkUp: if !rig.session.isLinked { event = .linkUp(Self.pad()) }
                case .linkDown: event = .linkDown
                case .ask: pad.askID += 1; event = .ask(Self.customerID, id: pad.askID)
                case .askSMS: pad.askID += 1; event = .ask(Self.smsCode, id: pad.askID)
                case .cancelAsk: event = .cancelAsk(id: pad.askID)
                case .showWorking: event = .show(.working(amount: 10))
                case .showIdle: event = .show(.idle)
                case .started: event = .paymentStarted
                case .ended: event = .paymentEnded
                case .padEnters:
                    if let t = pad.open { event = .message(.entryResult(EntryResult(token: t, prompt: .customerID, outcome: .entered, digits: Array("1234567".utf8)))) }
                case .padAcksCancel:
                    if let t = pad.open, pad.cancelled { event = .message(.entryResult(EntryResult(token: t, prompt: .customerID, outcome: .cancelledByHost, digits: []))) }
                case .wait: rig.now += .seconds(20); event = .timePassed
                case .shutdown: event = .shutdown
                }
                guard let event else { continue }
                if case .linkDown = event { pad.open = nil; pad.cancelled = false }
                if case .message(.entryResult) = event { pad.open = nil; pad.cancelled = false }
                if case .paymentStarted = event { pad.inPayment = true }
                if case .paymentEnded = event { pad.inPayment = false }
                let actions = rig.on(event)
                for action in actions {
                    switch action {
                    case .send(.prompt(let p)):
                        #expect(pad.open == nil, "PROMPT while \(pad.open!) is open")
                        #expect(p.token == (pad.lastToken == 65535 ? 1 : pad.lastToken + 1))
                        pad.lastToken = p.token
                        pad.open = p.token
                    case .send(.showScreen(let s)):
                        // The one exception: at shutdown, after a second without ENTRY_RESULT
                        // (D14), out of service goes out regardless; a v1 pad ends the prompt.
                        if Self.text(s) == "Ekki í notkun", pad.cancelled {
                            pad.open = nil
                            pad.cancelled = false
                        }
                        #expect(pad.open == nil, "SHOW_SCREEN while a prompt is open")
                        if pad.inPayment { #expect(Self.text(s) != "Netgíró / Góðan daginn") }
                    case .send(.cancelPrompt(let t)):
                        #expect(t == pad.open && !pad.cancelled)
                        pad.cancelled = true
                    case .answer(let id, _):
                        #expect(!pad.answered.contains(id))
                        pad.answered.insert(id)
                    default: break
                    }
                }
                checked += 1
                explore(rig, pad: pad, depth: depth - 1)
            }
        }
        explore(Rig(), pad: PadModel(), depth: 5)
        #expect(checked > 100_000)
    }

    struct PadModel {
        var open: UInt16?
        var cancelled = false
        var lastToken: UInt16 = 0
        var askID = 0
        var answered: Set<Int> = []
        var inPayment = false
    }
}
