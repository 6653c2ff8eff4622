import PinpadFirmware
import PinpadProtocol
import Testing

/// A good entry for each prompt of the table.
struct PromptCase: Sendable, CustomTestStringConvertible {
    var id: PromptID
    var good: String
    var min: Int
    var max: Int
    var timeout: UInt64
    var testDescription: String {
        switch id {
        case .customerID: "CUSTOMER_ID"
        case .smsCode: "SMS_CODE"
        default: "CONFIRM_AMOUNT"
        }
    }
    static let all: [PromptCase] = [
        PromptCase(id: .customerID, good: "8223281", min: 7, max: 10, timeout: 60_000),
        PromptCase(id: .smsCode, good: "1234", min: 4, max: 6, timeout: 120_000),
        PromptCase(id: .confirmAmount, good: "", min: 0, max: 0, timeout: 60_000),
    ]
}

@Suite struct PromptEntryTests {
    func open(_ c: PromptCase, token: UInt16 = 7) -> Bench {
        var b = Bench()
        b.connect()
        b.send(.prompt(PromptRequest(token: token, prompt: c.id, amount: 4990)))
        #expect(b.pad.prompt?.request.token == token)
        #expect(b.padActions.contains(.promptOpened(token: token, prompt: c.id)))
        return b
    }

    func expectOneResult(_ b: Bench, _ c: PromptCase, _ outcome: EntryOutcome, digits: String = "", token: UInt16 = 7) {
        #expect(b.entryResults == [EntryResult(token: token, prompt: c.id, outcome: outcome, digits: utf8(digits))])
        #expect(b.pad.prompt == nil)
        #expect(b.pad.link.pendingCount == 0, "the result was acknowledged")
    }

    @Test(arguments: PromptCase.all) func goodEntry(_ c: PromptCase) {
        var b = open(c)
        b.type(c.good)
        b.press(.ok)
        expectOneResult(b, c, .entered, digits: c.good)
        // One KEY_EVENT per key, carrying the length only; OK before the result.
        let expected = (0..<c.good.count).map { KeyEvent(token: 7, key: .digit, length: UInt8($0 + 1)) }
            + [KeyEvent(token: 7, key: .ok, length: UInt8(c.good.count))]
        #expect(b.keyEvents == expected)
        if case .keyEvent = b.received.last { Issue.record("ENTRY_RESULT must follow the OK key event") }
        #expect(b.screen == ["", "      Netgíró", "    Góðan daginn", ""], "back to the idle screen")
    }

    @Test(arguments: PromptCase.all) func clearAndRetype(_ c: PromptCase) {
        var b = open(c)
        b.type("98")
        b.press(.clear)
        b.press(.clear)
        b.press(.clear)  // nothing left to delete
        b.type(c.good)
        b.press(.ok)
        expectOneResult(b, c, .entered, digits: c.good)
        let clears = b.keyEvents.filter { $0.key == .clear }.map(\.length)
        #expect(clears == (c.max >= 2 ? [1, 0, 0] : [0, 0, 0]))
    }

    @Test(arguments: PromptCase.all) func tooShortStaysWithAHint(_ c: PromptCase) {
        var b = open(c)
        guard c.min > 0 else {
            // CONFIRM_AMOUNT takes no digits: OK alone is a complete answer.
            b.press(.ok)
            expectOneResult(b, c, .entered)
            return
        }
        let short = String(c.good.prefix(c.min - 1))
        b.type(short)
        b.press(.ok)
        #expect(b.entryResults.isEmpty)
        #expect(b.keyEvents.last == KeyEvent(token: 7, key: .refused, length: UInt8(c.min - 1)))
        #expect(b.screen.contains("Of stutt"))
        #expect(b.padActions.contains(.indicate(Indication(beep: .error))))
        b.type(String(c.good.dropFirst(c.min - 1)))
        #expect(!b.screen.contains("Of stutt"), "the hint goes with the next key")
        b.press(.ok)
        expectOneResult(b, c, .entered, digits: c.good)
    }

    @Test(arguments: PromptCase.all) func tooLongIsRefused(_ c: PromptCase) {
        var b = open(c)
        let long = String(repeating: "5", count: c.max + 1)
        b.type(long)
        #expect(b.keyEvents.last == KeyEvent(token: 7, key: .refused, length: UInt8(c.max)))
        b.press(.ok)
        expectOneResult(b, c, .entered, digits: String(repeating: "5", count: c.max))
    }

    @Test(arguments: PromptCase.all) func customerCancels(_ c: PromptCase) {
        var b = open(c)
        b.type(String(c.good.prefix(2)))
        b.press(.cancel)
        expectOneResult(b, c, .cancelledByCustomer)
        #expect(b.keyEvents.last?.key == .cancel)
    }

    @Test(arguments: PromptCase.all) func timeoutWithBusyEvery5Seconds(_ c: PromptCase) {
        var b = open(c)
        b.advance(by: c.timeout - 1)
        #expect(b.entryResults.isEmpty)
        #expect(b.busies.count == Int((c.timeout - 1) / 5_000))
        #expect(b.busies.first == BusyNotice(token: 7, secondsRemaining: UInt16(c.timeout / 1000 - 5)))
        b.advance(by: 1)
        expectOneResult(b, c, .timedOut)
        b.advance(by: 20_000)
        #expect(b.entryResults.count == 1)
        #expect(b.pad.isLinkUp)
    }

    @Test(arguments: PromptCase.all) func everyKeyRestartsTheTimeout(_ c: PromptCase) {
        var b = open(c)
        b.advance(by: c.timeout - 1_000)
        b.press(.clear)
        b.advance(by: c.timeout - 1_000)
        #expect(b.entryResults.isEmpty)
        b.advance(by: 1_000)
        expectOneResult(b, c, .timedOut)
    }

    @Test(arguments: PromptCase.all) func hostCancels(_ c: PromptCase) {
        var b = open(c)
        b.type(String(c.good.prefix(1)))
        b.send(.cancelPrompt(token: 6))  // not the open prompt: only acknowledged
        #expect(b.entryResults.isEmpty)
        b.send(.cancelPrompt(token: 7))
        expectOneResult(b, c, .cancelledByHost)
        b.send(.cancelPrompt(token: 7))  // already ended
        #expect(b.entryResults.count == 1)
    }

    /// §7.1: the host's CANCEL_PROMPT and the pad's ENTRY_RESULT cross on the line.
    @Test(arguments: PromptCase.all) func hostCancelCrossingTheResult(_ c: PromptCase) {
        var b = open(c)
        b.type(c.good)
        let fromHost = b.hostStep(.send(.cancelPrompt(token: 7))).host
        let fromPad = b.padStep(.key(.ok)).pad
        b.exchange(padOut: fromPad, hostOut: fromHost)
        expectOneResult(b, c, .entered, digits: c.good)
        #expect(b.host.pendingCount == 0, "the cancel was acknowledged")
        b.advance(by: 5_000)
        #expect(b.entryResults.count == 1)
    }

    @Test(arguments: PromptCase.all) func resetEndsThePrompt(_ c: PromptCase) {
        var b = open(c)
        b.send(.indicate(Indication(beep: .short, light: .green)))
        #expect(b.pad.light == .green)
        b.send(.reset)
        expectOneResult(b, c, .cancelledByHost)
        #expect(b.pad.light == .off)
        #expect(b.pad.padState == .idle)
    }

    @Test(arguments: PromptCase.all) func linkLossEndsThePromptSilently(_ c: PromptCase) {
        var b = open(c)
        b.type(String(c.good.prefix(1)))
        // The host goes away: the pad hears nothing for 2.5 s.
        for _ in 0..<30 {
            b.now += 100
            _ = b.padStep(.tick)
        }
        #expect(!b.pad.isLinkUp)
        #expect(b.pad.prompt == nil)
        #expect(b.padActions.contains(.promptEnded(token: 7, prompt: c.id, outcome: nil)))
        #expect(b.screen.contains("     Ekki tengt"))
        #expect(b.entryResults.isEmpty)
    }

    @Test(arguments: PromptCase.all) func hostRestartEndsThePromptSilently(_ c: PromptCase) {
        var b = open(c)
        b.host = LinkLayer(role: .host(HostHello(hostName: utf8("till-2"))))
        let hello = b.hostStep(.start).host
        b.exchange(padOut: [], hostOut: hello)
        #expect(b.pad.isLinkUp && b.host.isUp)
        #expect(b.pad.prompt == nil)
        #expect(b.pad.hostName == utf8("till-2"))
        #expect(b.padActions.contains(.promptEnded(token: 7, prompt: c.id, outcome: nil)))
        #expect(b.entryResults.isEmpty)
        #expect(b.screen == ["", "      Netgíró", "    Góðan daginn", ""])
    }
}

@Suite struct PromptRequestTests {
    func connected() -> Bench {
        var b = Bench()
        b.connect()
        return b
    }

    @Test func outOfRangeRequestsAreRefusedEchoingWhatCame() {
        let bad = [
            PromptRequest(token: 0, prompt: .customerID),
            PromptRequest(token: 3, prompt: PromptID(rawValue: 0x09)),
            PromptRequest(token: 4, prompt: .smsCode, timeoutSeconds: 4),
            PromptRequest(token: 5, prompt: .smsCode, timeoutSeconds: 601),
        ]
        for request in bad {
            var b = connected()
            b.send(.prompt(request))
            #expect(b.entryResults == [EntryResult(token: request.token, prompt: request.prompt, outcome: .refused)])
            #expect(b.pad.prompt == nil)
        }
    }

    @Test func timeoutLimitsAreAccepted() {
        for (seconds, wait) in [(UInt16(5), UInt64(5_000)), (600, 600_000)] {
            var b = connected()
            b.send(.prompt(PromptRequest(token: 1, prompt: .customerID, timeoutSeconds: seconds)))
            #expect(b.pad.prompt != nil)
            b.advance(by: wait - 1)
            #expect(b.entryResults.isEmpty)
            b.advance(by: 1)
            #expect(b.entryResults.map(\.outcome) == [.timedOut])
        }
    }

    @Test func aNewPromptCancelsTheOpenOne() {
        var b = connected()
        b.send(.prompt(PromptRequest(token: 1, prompt: .customerID)))
        b.type("12")
        b.send(.prompt(PromptRequest(token: 2, prompt: .smsCode)))
        #expect(b.entryResults == [EntryResult(token: 1, prompt: .customerID, outcome: .cancelledByHost)])
        #expect(b.pad.prompt?.request.token == 2)
        #expect(b.pad.prompt?.entry == [], "the new prompt starts empty")
        b.type("4321")
        b.press(.ok)
        #expect(b.entryResults.last == EntryResult(token: 2, prompt: .smsCode, outcome: .entered, digits: utf8("4321")))
    }

    @Test func showScreenDuringAPromptIsShownAfterIt() {
        var b = connected()
        b.send(.showScreen(Screen(lines: [ScreenLine(text: utf8("Til greiðslu"), alignment: .center)])))
        #expect(b.screen[0] == "    Til greiðslu")
        b.send(.prompt(PromptRequest(token: 1, prompt: .customerID)))
        b.send(.showScreen(Screen(lines: [ScreenLine(text: utf8("Augnablik"), alignment: .center)])))
        #expect(b.screen[1] == "App-kóði, sími eða", "the prompt stays")
        b.type("8223281")
        b.press(.ok)
        #expect(b.screen == ["     Augnablik", "", "", ""])
        b.send(.showScreen(Screen(lines: [])))
        #expect(b.screen == ["", "      Netgíró", "    Góðan daginn", ""])
    }

    @Test func statusReportsThePrompt() {
        var b = connected()
        b.now += 12_000
        b.send(.prompt(PromptRequest(token: 9, prompt: .smsCode)))
        b.send(.statusRequest)
        guard case .status(let s) = b.received.last else { Issue.record("no STATUS"); return }
        #expect(s.state == .prompting)
        #expect(s.activeToken == 9)
        #expect(s.uptimeSeconds == 12)
        #expect(s.faults == [])
    }

    @Test func keysOutsideAPromptSendNothing() {
        var b = connected()
        b.send(.showScreen(Screen(lines: [ScreenLine(text: utf8("Halló"))])))
        let before = b.received.count
        b.type("1234")
        b.press(.ok)
        b.press(.cancel)
        #expect(b.received.count == before)
        #expect(b.pad.link.pendingCount == 0)
    }

    @Test func indicateIsPassedToTheShell() {
        var b = connected()
        b.send(.indicate(Indication(beep: .success, light: .green)))
        b.send(.indicate(Indication(beep: .short, light: .unchanged)))
        #expect(b.padActions.contains(.indicate(Indication(beep: .success, light: .green))))
        #expect(b.pad.light == .green)
    }

    @Test func unknownTypesAndMalformedPayloadsGetAnErrorReport() throws {
        var pad = PadFirmware(profile: DeviceProfile())
        var decoder = FrameDecoder()
        var now: UInt64 = 0
        func feed(_ frame: Frame) -> [Frame] {
            now += 10
            var frames: [Frame] = []
            for case .write(let bytes) in pad.handle(.received(frame.encoded()), now: now) {
                for case .frame(let f) in decoder.feed(bytes) { frames.append(f) }
            }
            return frames
        }
        _ = pad.handle(.lineOpened, now: now)
        let reply = feed(Frame(type: MessageType.hello.rawValue, payload: HostHello(hostName: utf8("t")).encodePayload()))
        #expect(reply.map(\.type) == [MessageType.helloReply.rawValue])
        #expect(pad.isLinkUp)

        let unknown = feed(Frame(type: 0x3A, sequence: 1, payload: [1, 2]))
        #expect(unknown.map(\.type) == [MessageType.ack.rawValue, MessageType.errorReport.rawValue])
        #expect(try Message.decode(type: unknown[1].type, payload: unknown[1].payload)
            == .errorReport(ErrorReport(code: .unknownMessageType, referenceType: 0x3A, referenceSequence: 1)))

        let ack = Frame(type: MessageType.ack.rawValue, sequence: unknown[1].sequence)
        _ = feed(ack)
        let malformed = feed(Frame(type: MessageType.indicate.rawValue, sequence: 2, payload: [9, 0]))
        #expect(malformed.map(\.type) == [MessageType.ack.rawValue, MessageType.errorReport.rawValue])
        #expect(try Message.decode(type: malformed[1].type, payload: malformed[1].payload)
            == .errorReport(ErrorReport(code: .malformedPayload, referenceType: MessageType.indicate.rawValue, referenceSequence: 2)))
    }

    /// A pad linked with a bare decoder as its host: feeds frames, returns the frames the pad writes.
    struct RawHost {
        var pad = PadFirmware(profile: DeviceProfile())
        var decoder = FrameDecoder()
        var now: UInt64 = 0
        init() {
            _ = pad.handle(.lineOpened, now: 0)
            _ = feed(Frame(type: MessageType.hello.rawValue, payload: HostHello(hostName: utf8("t")).encodePayload()))
        }
        mutating func feed(_ frame: Frame) -> [Frame] {
            now += 10
            return run(.received(frame.encoded()))
        }
        mutating func run(_ event: FirmwareEvent) -> [Frame] {
            var frames: [Frame] = []
            for case .write(let bytes) in pad.handle(event, now: now) {
                for case .frame(let f) in decoder.feed(bytes) { frames.append(f) }
            }
            return frames
        }
        /// Acknowledges every data frame in `frames` (so the next one is sent), returns what follows.
        mutating func ack(_ frames: [Frame]) -> [Frame] {
            var out: [Frame] = []
            for f in frames where MessageType.isData(f.type) {
                out += feed(Frame(type: MessageType.ack.rawValue, sequence: f.sequence))
            }
            return out
        }
        static func messages(_ frames: [Frame]) -> [Message] {
            frames.filter { MessageType.isData($0.type) }.compactMap { try? Message.decode(type: $0.type, payload: $0.payload) }
        }
    }

    @Test func aPadToHostTypeIsNotAllowedNowWithItsSequence() {
        // §4 (1.1): code 3, ref_type and ref_seq of the frame (1.0 firmware sent code 1, ref_seq 0).
        var h = RawHost()
        let out = h.feed(Frame(type: MessageType.keyEvent.rawValue, sequence: 5, payload: [1, 0, 0, 1]))
        #expect(out.map(\.type) == [MessageType.ack.rawValue, MessageType.errorReport.rawValue])
        #expect(RawHost.messages(out) == [.errorReport(ErrorReport(code: .notAllowedNow, referenceType: 0x40, referenceSequence: 5))])
        let reserved = h.ack(out) + h.feed(Frame(type: 0x7F, sequence: 6, payload: []))
        #expect(RawHost.messages(reserved) == [.errorReport(ErrorReport(code: .unknownMessageType, referenceType: 0x7F, referenceSequence: 6))])
    }

    @Test func aMalformedPromptGetsAnErrorReportAndARefusal() {
        // §5.4 (1.1): ERROR_REPORT code 2, then ENTRY_RESULT refused echoing token and prompt.
        var h = RawHost()
        let out = h.feed(Frame(type: MessageType.prompt.rawValue, sequence: 1, payload: [0x34, 0x12, 2, 0]))
        let first = RawHost.messages(out)
        #expect(first == [.errorReport(ErrorReport(code: .malformedPayload, referenceType: 0x21, referenceSequence: 1))])
        let nextFrames = h.ack(out)
        #expect(RawHost.messages(nextFrames) == [.entryResult(EntryResult(token: 0x1234, prompt: .smsCode, outcome: .refused))])
        _ = h.ack(nextFrames)
        #expect(h.pad.prompt == nil)
        // Token 0, or too short to name a prompt: the ERROR_REPORT only.
        for (seq, payload) in [(UInt8(2), [UInt8]([0, 0, 1, 0])), (3, [7, 0])] {
            let o = h.feed(Frame(type: MessageType.prompt.rawValue, sequence: seq, payload: payload))
            #expect(RawHost.messages(o) == [.errorReport(ErrorReport(code: .malformedPayload, referenceType: 0x21, referenceSequence: seq))])
            #expect(RawHost.messages(h.ack(o)).isEmpty)
        }
    }

    @Test func busyIsDueFiveSecondsAfterThePromptWithTheRemainingTimeRoundedUp() {
        // §5.11 (1.1): first BUSY 5 s after the PROMPT, then every 5 s; ceil of the time left.
        var h = RawHost()
        var out = h.feed(Frame(type: MessageType.prompt.rawValue, sequence: 1, payload: Message.prompt(PromptRequest(token: 9, prompt: .customerID, timeoutSeconds: 12)).encodePayload()))
        let promptAt = h.now
        var busy: [(UInt64, UInt16)] = []
        while h.now < promptAt + 11_500 {
            // The host acknowledges at once and says HEARTBEAT every 500 ms, so the link stays up.
            for f in out where MessageType.isData(f.type) {
                if case .busy(let b)? = try? Message.decode(type: f.type, payload: f.payload) { busy.append((h.now - promptAt, b.secondsRemaining)) }
                out += h.run(.received(Frame(type: MessageType.ack.rawValue, sequence: f.sequence).encoded()))
            }
            h.now += 1
            out = h.run(.tick)
            if (h.now - promptAt) % 500 == 0 { out += h.run(.received(Frame(type: MessageType.heartbeat.rawValue).encoded())) }
        }
        #expect(h.pad.prompt != nil)
        #expect(busy.map(\.0) == [5_000, 10_000])
        #expect(busy.map(\.1) == [7, 2])
    }

    @Test func afterAPromptThePadShowsWhatItShowedBefore() {
        // §5.8 (1.1): host screen before the prompt → host screen after it, state 1.
        var b = Bench()
        b.connect()
        b.send(.showScreen(Screen(lines: [ScreenLine(text: utf8("Karfa"), alignment: .left)])))
        #expect(b.pad.padState == .showingScreen)
        b.send(.prompt(PromptRequest(token: 3, prompt: .confirmAmount, amount: 100)))
        #expect(b.pad.padState == .prompting)
        b.press(.ok)
        #expect(b.pad.padState == .showingScreen)
        #expect(b.screen.first == "Karfa")
        b.send(.showScreen(Screen(lines: [])))
        #expect(b.pad.padState == .idle)
    }

    @Test func helloReplyAnnouncesTheProfileAndTheTable() {
        var b = Bench(profile: DeviceProfile(model: utf8("NG-PAD-2"), serialNumber: utf8("PAD-42"), rows: 2, columns: 16))
        b.connect()
        guard case .linkUp(.device(let info)) = b.hostLinkEvents.first else { Issue.record("no link up"); return }
        #expect(info.model == utf8("NG-PAD-2"))
        #expect(info.serialNumber == utf8("PAD-42"))
        #expect(info.rows == 2 && info.columns == 16 && info.charset == 1)
        #expect(info.keys == .standard)
        #expect(info.prompts == PadPromptTable.prompts)
        #expect(info.prompt(.smsCode) == PromptSpec(id: .smsCode, minDigits: 4, maxDigits: 6, echo: .masked, defaultTimeoutSeconds: 120))
    }
}
