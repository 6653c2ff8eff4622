// DebugChannel.swift - the emulated board's keypad and display, reached over the second serial
// line (UART1). It is a test fixture, not part of the pad's protocol: a line-based text protocol
// documented in README.md ("Debug channel").
//
//   K<keys>   press keys in order: 0-9, C Clear, O OK, X Cancel          -> OK | ERR ...
//   S         the screen, one "=<row>" line per row (UTF-8)              -> ... OK
//   I         state: link, open prompt, entry length, light, beeps      -> I ... OK
//   M         memory: heap size/in use/peak, stack size/peak            -> M ... OK
// Unsolicited lines start with "!": "!ready <model> <firmware>" after reset, "!fault ..." (runtime.c).

struct DebugChannel: Keypad, CustomerDisplay {
    static let maxLine = 64
    let serial = SerialLine.debug

    private var line: [UInt8] = []
    private var overlong = false
    /// Keys of the current K command (as their letters) not yet handed to the firmware.
    private var keys: [UInt8] = []
    private var keyIndex = 0
    private var replyWhenKeysDone = false

    private(set) var screen: DisplayBuffer?
    private(set) var light: IndicatorLight = .off
    private(set) var beeps: UInt32 = 0
    private(set) var lastBeep: BeepPattern = .none

    init() {
        line.reserveCapacity(Self.maxLine)
        keys.reserveCapacity(Self.maxLine)
    }

    // MARK: Keypad

    mutating func nextKey() -> PadKey? {
        if keyIndex < keys.count {
            keyIndex += 1
            return Self.key(keys[keyIndex - 1])
        }
        if replyWhenKeysDone {
            replyWhenKeysDone = false
            keys.removeAll(keepingCapacity: true)
            keyIndex = 0
            reply(ok: true)
        }
        return nil
    }

    // MARK: CustomerDisplay

    mutating func show(_ display: DisplayBuffer) { screen = display }

    mutating func indicate(_ indication: Indication) {
        if indication.beep != .none {
            beeps &+= 1
            lastBeep = indication.beep
        }
        if indication.light != .unchanged { light = indication.light }
    }

    // MARK: Commands

    /// Reads waiting command bytes and answers complete lines. Key presses are queued for
    /// `nextKey()`; their OK follows once the firmware has taken them all.
    mutating func poll(_ firmware: PadFirmware, now: UInt64) {
        // One command at a time: a K command's keys are taken before the next line is read.
        while !replyWhenKeysDone, let b = serial.read() {
            switch b {
            case 0x0A:  // "\n"
                if overlong {
                    serial.write("ERR long\n")
                } else {
                    execute(firmware, now: now)
                }
                line.removeAll(keepingCapacity: true)
                overlong = false
            case 0x0D:  // "\r"
                break
            default:
                if line.count < Self.maxLine { line.append(b) } else { overlong = true }
            }
        }
    }

    private mutating func execute(_ firmware: PadFirmware, now: UInt64) {
        guard let command = line.first else { return }
        switch command | 0x20 {  // letters in either case
        case 0x6B:  // k
            keys.removeAll(keepingCapacity: true)
            keyIndex = 0
            for c in line.dropFirst() where Self.key(c) == nil {
                serial.write("ERR key\n")
                return
            }
            keys.append(contentsOf: line.dropFirst())
            replyWhenKeysDone = true
        case 0x73:  // s
            let display = screen ?? firmware.display
            for r in 0..<display.rows {
                serial.write(0x3D)  // "="
                serial.write(display.rowUTF8(r))
                serial.write(0x0A)
            }
            reply(ok: true)
        case 0x69:  // i
            serial.write("I link=")
            serial.write(firmware.isLinkUp ? "up" : "down")
            let open = firmware.prompt
            field(" prompt=", UInt32(open?.request.prompt.rawValue ?? 0))
            field(" token=", UInt32(open?.request.token ?? 0))
            field(" entry=", UInt32(open?.entry.count ?? 0))
            field(" light=", UInt32(light.rawValue))
            field(" beeps=", beeps)
            field(" ms=", now)
            serial.write(0x0A)
            reply(ok: true)
        case 0x6D:  // m
            serial.write("M")
            field(" heap=", board_heap_size())
            field(" used=", board_heap_in_use())
            field(" peak=", board_heap_peak())
            field(" stack=", board_stack_size())
            field(" stackpeak=", board_stack_peak())
            serial.write(0x0A)
            reply(ok: true)
        default:
            serial.write("ERR unknown\n")
        }
    }

    /// The key a letter of a K command stands for.
    private static func key(_ c: UInt8) -> PadKey? {
        switch c {
        case 0x30...0x39: return .digit(c - 0x30)
        case 0x43, 0x63: return .clear  // C
        case 0x4F, 0x6F: return .ok  // O
        case 0x58, 0x78: return .cancel  // X
        default: return nil
        }
    }

    private func reply(ok: Bool) {
        serial.write(ok ? "OK\n" : "ERR unknown\n")
    }

    /// Announces a reset on the debug channel: "!ready <model> <firmware>".
    func announceReady(_ profile: DeviceProfile) {
        serial.write("!ready ")
        serial.write(profile.model)
        serial.write(0x20)
        serial.write(profile.firmwareVersion)
        serial.write(0x0A)
    }

    /// Writes `label` (" name=") and the value in decimal.
    private func field(_ label: StaticString, _ value: UInt32) {
        field(label, UInt64(value))
    }

    @inline(never)
    private func field(_ label: StaticString, _ value: UInt64) {
        serial.write(label)
        decimal(value)
    }

    private func decimal(_ value: UInt64) {
        if value >= 10 { decimal(value / 10) }
        serial.write(0x30 + UInt8(truncatingIfNeeded: value % 10))
    }
}
