// Fuzz target for the pad firmware's frame handling: `PadFirmware` driven by a program read from
// the input — raw line bytes, well-formed host frames with fuzzed fields (HELLO, PROMPT,
// CANCEL_PROMPT, SHOW_SCREEN, INDICATE, RESET, STATUS_REQUEST, PING, any type), key presses, time
// jumps, ticks, the line closed and opened — with the pad's promises checked after every step:
//   - no trap; the display is exactly rows × columns;
//   - every byte the pad writes decodes into intact frames of at most 246 payload bytes, and every
//     data frame it writes is a valid pad-to-host message;
//   - at most one ENTRY_RESULT per PROMPT: a result's token belongs to a prompt that ended with an
//     outcome (or, for `refused`, to a refusable PROMPT the host sent), and no prompt gets two;
//   - an `entered` result carries ASCII digits within the prompt table's min/max, others none;
//   - after a tick, `nextDeadline` is never in the past.
//
// Fuzzing build (libFuzzer):
//   swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING --product FirmwareFuzz
//   SWIFT_BACKTRACE=enable=no .build-fuzz/release/FirmwareFuzz -max_total_time=60 Tests/Fuzz/corpus-firmware
// Plain build: `FirmwareFuzz FILE-OR-DIRECTORY...` runs the given inputs once each (regression runs).
//
// Program format: a sequence of steps, each an opcode byte (taken modulo the opcode count) and its
// operands; a program that runs out of bytes reads zeros and ends.
import Foundation
import FuzzSupport
import PinpadFirmware
import PinpadProtocol

/// Reads a program's operands; past the end it yields zeros.
struct ProgramReader {
    let bytes: [UInt8]
    var index = 0
    var atEnd: Bool { index >= bytes.count }
    mutating func u8() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }
    mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    mutating func take(_ n: Int) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<n where index < bytes.count { out.append(u8()) }
        return out
    }
}

/// The host end as the fuzzer plays it, plus the bookkeeping the properties need.
struct FirmwareHarness {
    var pad: PadFirmware
    var now: UInt64 = 0
    /// The host's data-frame sequence (0 until a HELLO is sent).
    var hostSequence: UInt8 = 0
    /// Acknowledge the pad's data frames as they come (off: the pad retransmits and its queue fills).
    var autoAck = true
    /// Decodes what the pad writes.
    var fromPad = FrameDecoder()
    /// Decodes what the host writes (PROMPTs can come in any frame the program builds, or in raw bytes).
    var toPad = FrameDecoder()
    /// Prompts that ended with an outcome and owe exactly one ENTRY_RESULT, by token.
    var resultsOwed: [UInt16: Int] = [:]
    /// PROMPTs the host sent that the table must refuse, by token (bounds `refused` results).
    var refusablesSent: [UInt16: Int] = [:]
    /// Tokens of the last prompts the host asked for (CANCEL_PROMPT picks from them).
    var recentTokens: [UInt16] = [1]

    init(profile: DeviceProfile) {
        pad = PadFirmware(profile: profile)
    }

    mutating func run(_ event: FirmwareEvent) {
        switch event {
        case .received(let bytes):
            for case .frame(let frame) in toPad.feed(bytes) where frame.type == MessageType.prompt.rawValue {
                guard case .prompt(let request)? = try? Message.decode(type: frame.type, payload: frame.payload) else {
                    // A malformed PROMPT whose token (non-zero) and prompt id can be read is
                    // refused with one ENTRY_RESULT (PROTOCOL.md 1.1 §5.4).
                    let p = frame.payload
                    if p.count >= 3, case let token = UInt16(p[0]) | UInt16(p[1]) << 8, token != 0 {
                        refusablesSent[token, default: 0] += 1
                    }
                    continue
                }
                let refusable = request.token == 0 || PadPromptTable.spec(request.prompt) == nil
                    || !(request.timeoutSeconds == 0 || PadPromptTable.timeoutRange.contains(request.timeoutSeconds))
                if refusable { refusablesSent[request.token, default: 0] += 1 }
            }
        case .lineOpened, .lineClosed:
            toPad = FrameDecoder()
        case .key, .tick:
            break
        }
        let actions = pad.handle(event, now: now)
        var acks: [UInt8] = []
        // A prompt's end is reported after the ENTRY_RESULT it sends: count what is owed first.
        for case .promptEnded(let token, _, let outcome?) in actions {
            _ = outcome
            resultsOwed[token, default: 0] += 1
        }
        for action in actions {
            switch action {
            case .write(let bytes):
                for output in fromPad.feed(bytes) {
                    guard case .frame(let frame) = output else {
                        preconditionFailure("the pad wrote a damaged frame: \(output)")
                    }
                    check(frame)
                    if MessageType.isData(frame.type), autoAck {
                        acks += Frame(type: MessageType.ack.rawValue, sequence: frame.sequence).encoded()
                    }
                }
            case .display(let display):
                checkDisplay(display)
            case .indicate, .linkUp, .linkDown, .promptOpened, .promptEnded:
                break
            }
        }
        checkDisplay(pad.display)
        if case .tick = event, let deadline = pad.nextDeadline {
            precondition(deadline > now, "nextDeadline \(deadline) not after the tick at \(now)")
        }
        if !acks.isEmpty { run(.received(acks)) }
    }

    func checkDisplay(_ display: DisplayBuffer) {
        precondition(display.rows == Int(max(pad.profile.rows, 1)) && display.columns == Int(max(pad.profile.columns, 1)))
        precondition(display.cells.count == display.rows * display.columns, "display buffer is not rows × columns")
        if let row = display.entryRow { precondition(row >= 0 && row < display.rows) }
    }

    mutating func check(_ frame: Frame) {
        precondition(frame.payload.count <= ProtocolLimits.maxPayload, "the pad wrote a \(frame.payload.count)-byte payload")
        guard MessageType.isData(frame.type) else { return }
        let message: Message
        do {
            message = try Message.decode(type: frame.type, payload: frame.payload)
        } catch {
            preconditionFailure("the pad wrote an invalid message of type \(frame.type): \(error)")
        }
        switch message {
        case .keyEvent, .status, .busy, .errorReport, .ping: break
        case .entryResult(let result):
            // A retransmission repeats a result already counted.
            if frame.flags.contains(.retransmission) { return }
            if result.outcome == .refused {
                let sent = refusablesSent[result.token, default: 0]
                precondition(sent > 0, "a refused ENTRY_RESULT for token \(result.token) without a refusable PROMPT")
                refusablesSent[result.token] = sent - 1
                return
            }
            let owed = resultsOwed[result.token, default: 0]
            precondition(owed > 0, "a second (or unasked) ENTRY_RESULT for token \(result.token)")
            resultsOwed[result.token] = owed - 1
            if result.outcome == .entered {
                guard let spec = PadPromptTable.spec(result.prompt) else {
                    preconditionFailure("an entered result for a prompt outside the table")
                }
                precondition(result.digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "non-digit in an entered result")
                precondition(result.digits.count >= Int(spec.minDigits) && result.digits.count <= Int(spec.maxDigits),
                             "\(result.digits.count) digits outside \(spec.minDigits)...\(spec.maxDigits)")
            } else {
                precondition(result.digits.isEmpty, "digits in a result that was not entered")
            }
        case .showScreen, .prompt, .cancelPrompt, .indicate, .reset, .statusRequest:
            preconditionFailure("the pad sent a host-to-pad message: \(message)")
        }
    }

    // MARK: - Host frames

    mutating func nextSequence() -> UInt8 {
        hostSequence = hostSequence == 255 ? 1 : hostSequence + 1
        return hostSequence
    }

    mutating func sendData(_ type: UInt8, _ payload: [UInt8], sequence: UInt8? = nil, flags: FrameFlags = []) {
        guard payload.count <= ProtocolLimits.maxPayload else { return }
        let seq = sequence ?? nextSequence()
        run(.received(Frame(type: type, flags: flags, sequence: seq, payload: payload).encoded()))
    }

    mutating func send(_ message: Message) {
        if case .prompt(let request) = message {
            recentTokens.append(request.token)
            if recentTokens.count > 4 { recentTokens.removeFirst() }
        }
        sendData(message.type.rawValue, message.encodePayload())
    }

    // MARK: - The program

    mutating func step(_ r: inout ProgramReader) {
        let op = r.u8()
        switch op % 20 {
        case 0:  // raw bytes on the line
            run(.received(r.take(Int(r.u8() % 64))))
        case 1:  // HELLO with fuzzed versions, payload size and host name
            var hello = HostHello(hostName: r.take(Int(r.u8() % 40)))
            if op & 0x80 != 0 {
                hello.minVersion = r.u8() % 3
                hello.maxVersion = r.u8() % 3
                hello.maxPayload = r.u16()
            }
            hostSequence = 0
            run(.received(Frame(type: MessageType.hello.rawValue, payload: hello.encodePayload()).encoded()))
        case 2, 3:  // PROMPT, mostly for the table's prompts
            let token = op & 0x80 != 0 ? r.u16() : UInt16(r.u8() % 4)
            let id = r.u8()
            let prompt = PromptID(rawValue: id & 0x80 != 0 ? id : id % 4)
            let t = r.u8()
            let timeout: UInt16 = t & 0x80 != 0 ? r.u16() : UInt16(t % 8)
            let amount = op & 0x40 != 0 ? r.u32() : UInt32(r.u8()) * 1000
            let notice = PromptNotice(rawValue: r.u8() % 3) ?? .none
            send(.prompt(PromptRequest(token: token, prompt: prompt, timeoutSeconds: timeout, amount: amount, notice: notice)))
        case 4:  // CANCEL_PROMPT, of a recent token or any
            let pick = r.u8()
            let token = pick & 0x80 != 0 ? r.u16() : recentTokens[Int(pick) % recentTokens.count]
            send(.cancelPrompt(token: token))
        case 5:  // SHOW_SCREEN with fuzzed lines
            var lines: [ScreenLine] = []
            for _ in 0..<Int(r.u8() % 9) {
                let alignment = TextAlignment(rawValue: r.u8() % 3) ?? .left
                lines.append(ScreenLine(text: r.take(Int(r.u8() % 48)), alignment: alignment))
            }
            send(.showScreen(Screen(lines: lines)))
        case 6:
            send(.reset)
        case 7:  // INDICATE with any defined pattern and light
            let beep = BeepPattern(rawValue: r.u8() % 5) ?? .none
            let l = r.u8()
            send(.indicate(Indication(beep: beep, light: IndicatorLight(rawValue: l & 0x80 != 0 ? 0xFF : l % 4) ?? .off)))
        case 8:
            send(.statusRequest)
        case 9:
            send(.ping(r.take(Int(r.u8() % 32))))
        case 10:  // a data frame of any type and payload, with the next or any sequence and flags
            let type = r.u8()
            let payload = r.take(Int(r.u8() % 64))
            if op & 0x80 != 0 {
                sendData(type, payload, sequence: r.u8(), flags: FrameFlags(rawValue: r.u8()))
            } else {
                sendData(type, payload)
            }
        case 11:  // the last data frame again (a retransmission the pad must not act on twice)
            guard hostSequence != 0 else { break }
            send(.statusRequest)
            sendData(MessageType.reset.rawValue, [], sequence: hostSequence, flags: .retransmission)
        case 12, 13, 14:  // keys
            let k = r.u8()
            let key: PadKey
            switch k % 16 {
            case 0...9: key = .digit(k % 16)
            case 10: key = .clear
            case 11, 12: key = .ok
            case 13: key = .cancel
            default: key = .digit(k)  // out of range: must be refused, not trap
            }
            run(.key(key))
        case 15:  // time passes a little, then a tick
            now += UInt64(r.u8()) * 10
            run(.tick)
        case 16:  // time jumps (up to ~11 minutes), then a tick
            now += UInt64(r.u16()) * 10
            run(.tick)
        case 17:  // a tick right at the next deadline, and a heartbeat from the host
            if let d = pad.nextDeadline, d > now { now = d }
            run(.tick)
            run(.received(Frame(type: MessageType.heartbeat.rawValue).encoded()))
        case 18:
            run(.lineClosed)
        default:
            if op & 0x80 != 0 { autoAck.toggle() } else { run(.lineOpened) }
        }
    }
}

func fuzzOne(_ data: [UInt8]) {
    var r = ProgramReader(bytes: data)
    // The first byte picks the display (including the 1 × 1 and the widest) and the payload limit.
    let shape = r.u8()
    let rows: UInt8 = shape & 0x80 != 0 ? shape % 9 : 4
    let columns: UInt8 = shape & 0x80 != 0 ? (shape & 0x40 != 0 ? 255 : (shape >> 3) % 8) : 20
    var harness = FirmwareHarness(profile: DeviceProfile(rows: rows, columns: columns, maxPayload: shape & 0x01 != 0 ? 64 : 246))
    harness.run(.lineOpened)
    var steps = 0
    while !r.atEnd, steps < 512 {
        harness.step(&r)
        steps += 1
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzMain.input(start, count, fuzzOne)
}
#endif

@main
struct FirmwareFuzz {
    static func main() {
        #if FUZZING
        FuzzMain.runLibFuzzer(fuzzTestOneInput)
        #else
        FuzzMain.replay(name: "FirmwareFuzz", fuzzOne)
        #endif
    }
}
