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
    /// Keys of the current K command not yet handed to the firmware.
    private var keys: [PadKey] = []
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
            return keys[keyIndex - 1]
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
                    serial.write(Self.errTooLong)
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
            for c in line.dropFirst() {
                switch c {
                case 0x30...0x39: keys.append(.digit(c - 0x30))
                case 0x43, 0x63: keys.append(.clear)  // C
                case 0x4F, 0x6F: keys.append(.ok)  // O
                case 0x58, 0x78: keys.append(.cancel)  // X
                default:
                    keys.removeAll(keepingCapacity: true)
                    serial.write(Self.errBadKey)
                    return
                }
            }
            replyWhenKeysDone = true
        case 0x73:  // s
            let display = screen ?? firmware.display
            for r in 0..<display.rows {
                var out: [UInt8] = [0x3D]  // "="
                out.append(contentsOf: display.rowUTF8(r))
                out.append(0x0A)
                serial.write(out)
            }
            reply(ok: true)
        case 0x69:  // i
            var out: [UInt8] = Array(Self.infoLink)
            out.append(contentsOf: firmware.isLinkUp ? Self.up : Self.down)
            let open = firmware.prompt
            Self.field(Self.infoPrompt, UInt64(open?.request.prompt.rawValue ?? 0), &out)
            Self.field(Self.infoToken, UInt64(open?.request.token ?? 0), &out)
            Self.field(Self.infoEntry, UInt64(open?.entry.count ?? 0), &out)
            Self.field(Self.infoLight, UInt64(light.rawValue), &out)
            Self.field(Self.infoBeeps, UInt64(beeps), &out)
            Self.field(Self.infoUptime, now, &out)
            out.append(0x0A)
            serial.write(out)
            reply(ok: true)
        case 0x6D:  // m
            var out: [UInt8] = [0x4D]  // "M"
            Self.field(Self.memHeap, UInt64(board_heap_size()), &out)
            Self.field(Self.memUsed, UInt64(board_heap_in_use()), &out)
            Self.field(Self.memPeak, UInt64(board_heap_peak()), &out)
            Self.field(Self.memStack, UInt64(board_stack_size()), &out)
            Self.field(Self.memStackPeak, UInt64(board_stack_peak()), &out)
            out.append(0x0A)
            serial.write(out)
            reply(ok: true)
        default:
            serial.write(Self.errUnknown)
        }
    }

    private func reply(ok: Bool) {
        serial.write(ok ? Self.ok : Self.errUnknown)
    }

    /// Announces a reset on the debug channel: "!ready <model> <firmware>".
    func announceReady(_ profile: DeviceProfile) {
        var out: [UInt8] = [0x21, 0x72, 0x65, 0x61, 0x64, 0x79, 0x20]  // "!ready "
        out.append(contentsOf: profile.model)
        out.append(0x20)
        out.append(contentsOf: profile.firmwareVersion)
        out.append(0x0A)
        serial.write(out)
    }

    /// Appends " name=<decimal>".
    static func field(_ name: [UInt8], _ value: UInt64, _ out: inout [UInt8]) {
        out.append(0x20)
        out.append(contentsOf: name)
        out.append(0x3D)
        var digits: [UInt8] = []
        var v = value
        repeat {
            digits.append(0x30 + UInt8(truncatingIfNeeded: v % 10))
            v /= 10
        } while v > 0
        out.append(contentsOf: digits.reversed())
    }

    // Texts as bytes: String would pull the Unicode tables into the image.
    static let ok: [UInt8] = [0x4F, 0x4B, 0x0A]  // "OK\n"
    static let errUnknown: [UInt8] = [0x45, 0x52, 0x52, 0x20, 0x75, 0x6E, 0x6B, 0x6E, 0x6F, 0x77, 0x6E, 0x0A]  // "ERR unknown\n"
    static let errBadKey: [UInt8] = [0x45, 0x52, 0x52, 0x20, 0x6B, 0x65, 0x79, 0x0A]  // "ERR key\n"
    static let errTooLong: [UInt8] = [0x45, 0x52, 0x52, 0x20, 0x6C, 0x6F, 0x6E, 0x67, 0x0A]  // "ERR long\n"
    static let infoLink: [UInt8] = [0x49, 0x20, 0x6C, 0x69, 0x6E, 0x6B, 0x3D]  // "I link="
    static let up: [UInt8] = [0x75, 0x70]  // "up"
    static let down: [UInt8] = [0x64, 0x6F, 0x77, 0x6E]  // "down"
    static let infoPrompt: [UInt8] = [0x70, 0x72, 0x6F, 0x6D, 0x70, 0x74]  // "prompt"
    static let infoToken: [UInt8] = [0x74, 0x6F, 0x6B, 0x65, 0x6E]  // "token"
    static let infoEntry: [UInt8] = [0x65, 0x6E, 0x74, 0x72, 0x79]  // "entry"
    static let infoLight: [UInt8] = [0x6C, 0x69, 0x67, 0x68, 0x74]  // "light"
    static let infoBeeps: [UInt8] = [0x62, 0x65, 0x65, 0x70, 0x73]  // "beeps"
    static let infoUptime: [UInt8] = [0x6D, 0x73]  // "ms"
    static let memHeap: [UInt8] = [0x68, 0x65, 0x61, 0x70]  // "heap"
    static let memUsed: [UInt8] = [0x75, 0x73, 0x65, 0x64]  // "used"
    static let memPeak: [UInt8] = [0x70, 0x65, 0x61, 0x6B]  // "peak"
    static let memStack: [UInt8] = [0x73, 0x74, 0x61, 0x63, 0x6B]  // "stack"
    static let memStackPeak: [UInt8] = [0x73, 0x74, 0x61, 0x63, 0x6B, 0x70, 0x65, 0x61, 0x6B]  // "stackpeak"
}
