// Board.swift - the board as the pad's logic sees it: the host line, the clock, the keypad and
// the customer display. The hardware behind them is in board.c (see board.h).

/// A serial line of the board (a CMSDK UART with interrupt-driven receive).
struct SerialLine {
    let line: UInt32

    static let host = SerialLine(line: UInt32(BOARD_LINE_HOST))
    static let debug = SerialLine(line: UInt32(BOARD_LINE_DEBUG))

    /// The next received byte, if one is waiting.
    func read() -> UInt8? {
        let b = board_read(line)
        return b < 0 ? nil : UInt8(truncatingIfNeeded: b)
    }

    /// Moves waiting bytes into `buffer` (cleared first), at most `limit`.
    func read(into buffer: inout [UInt8], limit: Int) {
        buffer.removeAll(keepingCapacity: true)
        while buffer.count < limit, let b = read() { buffer.append(b) }
    }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { board_write(line, $0.baseAddress, UInt32($0.count)) }
    }

    /// Writes a text's UTF-8 bytes (texts are `StaticString`: `String` would pull the stdlib's
    /// String and Unicode code into the image).
    func write(_ text: StaticString) {
        text.withUTF8Buffer { board_write(line, $0.baseAddress, UInt32($0.count)) }
    }

    func write(_ byte: UInt8) {
        var b = byte
        board_write(line, &b, 1)
    }
}

enum Clock {
    /// Milliseconds since reset: the firmware's `now`.
    static var now: UInt64 { board_millis() }

    /// Sleeps until a byte waits on a line or `deadline` has passed.
    static func sleep(until deadline: UInt64) { board_sleep_until(deadline) }
}

/// Where key presses come from. On a real pad: the key matrix scanner; on the emulated board:
/// the debug channel.
protocol Keypad {
    /// The next key pressed and not yet handled.
    mutating func nextKey() -> PadKey?
}

/// The customer-facing outputs: the character display, the buzzer and the light.
protocol CustomerDisplay {
    mutating func show(_ display: DisplayBuffer)
    mutating func indicate(_ indication: Indication)
}
