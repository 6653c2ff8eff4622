#if canImport(PinpadProtocol)
import PinpadProtocol
#endif

/// The customer display: `rows` × `columns` character cells. A charset-1 pad shows U+0020–U+007E
/// and U+00A0–U+00FF (`PROTOCOL.md` §2), so every cell holds its character as one Latin-1 byte —
/// exactly what a display controller with a Latin-1 font takes.
public struct DisplayBuffer: Sendable, Hashable {
    public let rows: Int
    public let columns: Int
    /// Row-major, `rows * columns` Latin-1 code points; blank cells are spaces.
    public private(set) var cells: [UInt8]
    /// The row that echoes the customer's entry during a prompt (digits in clear for
    /// CUSTOMER_ID), so a transcript or log can mask it. Nil when no entry is shown.
    public var entryRow: Int?

    public init(rows: Int, columns: Int) {
        self.rows = max(rows, 1)
        self.columns = max(columns, 1)
        self.cells = [UInt8](repeating: 0x20, count: self.rows * self.columns)
        self.entryRow = nil
    }

    /// One row as Latin-1 code points, exactly `columns` long.
    public func row(_ index: Int) -> ArraySlice<UInt8> {
        cells[(index * columns)..<((index + 1) * columns)]
    }

    /// One row as UTF-8, exactly `columns` characters (trailing spaces kept).
    public func rowUTF8(_ index: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(columns * 2)
        for c in row(index) { PadText.appendUTF8(UInt32(c), to: &out) }
        return out
    }

    /// Blanks every cell.
    public mutating func clear() {
        for i in cells.indices { cells[i] = 0x20 }
        entryRow = nil
    }

    /// Lays one line of text out on a row by the rules of `PROTOCOL.md` §5.3: decoded as UTF-8
    /// (each maximal invalid subsequence is one `?`), characters outside charset 1 shown as `?`,
    /// cut to the row's width with `~` as the last character when too long, then aligned.
    /// Rows outside the display are ignored.
    public mutating func setRow(_ index: Int, utf8 text: [UInt8], alignment: TextAlignment = .left) {
        guard index >= 0, index < rows else { return }
        var chars: [UInt8] = []
        chars.reserveCapacity(min(text.count, 256))
        PadText.decodeToCharset1(text, into: &chars)
        setRow(index, latin1: chars, alignment: alignment)
    }

    /// Like `setRow(_:utf8:alignment:)`, for text already in charset 1 (one byte per character).
    public mutating func setRow(_ index: Int, latin1 chars: [UInt8], alignment: TextAlignment = .left) {
        guard index >= 0, index < rows else { return }
        let base = index * columns
        for i in 0..<columns { cells[base + i] = 0x20 }
        let cut = chars.count > columns
        let shown = cut ? columns : chars.count
        let start: Int
        switch alignment {
        case .left: start = 0
        case .center: start = (columns - shown) / 2
        case .right: start = columns - shown
        }
        for i in 0..<shown { cells[base + start + i] = chars[i] }
        if cut { cells[base + columns - 1] = 0x7E }  // "~": this line was cut
    }

    /// Shows a SHOW_SCREEN: lines go to rows from the top, lines beyond the last row are not
    /// shown, rows without a line are blank.
    public mutating func show(_ screen: Screen) {
        clear()
        var r = 0
        for line in screen.lines {
            guard r < rows else { break }
            setRow(r, utf8: line.text, alignment: line.alignment)
            r += 1
        }
    }
}

/// Text handling of a charset-1 pad: UTF-8 decoding, Latin-1 cells, amounts, word wrapping.
public enum PadText {
    /// The replacement character for anything the display cannot show.
    public static let unknown: UInt8 = 0x3F  // "?"

    /// Decodes UTF-8 into display characters (Latin-1 bytes). A scalar outside U+0020–U+007E
    /// and U+00A0–U+00FF becomes `?`; each maximal subpart of an ill-formed sequence (Unicode
    /// §3.9, "substitution of maximal subparts") becomes one `?`.
    public static func decodeToCharset1(_ bytes: [UInt8], into out: inout [UInt8]) {
        var i = 0
        let n = bytes.count
        while i < n {
            let b0 = bytes[i]
            if b0 < 0x80 {
                out.append(b0 >= 0x20 && b0 < 0x7F ? b0 : unknown)
                i += 1
                continue
            }
            // Expected length and the allowed range of the second byte (Unicode Table 3-7).
            var need = 0
            var lo: UInt8 = 0x80
            var hi: UInt8 = 0xBF
            var scalar: UInt32 = 0
            switch b0 {
            case 0xC2...0xDF: need = 1; scalar = UInt32(b0 & 0x1F)
            case 0xE0: need = 2; lo = 0xA0; scalar = UInt32(b0 & 0x0F)
            case 0xE1...0xEC, 0xEE...0xEF: need = 2; scalar = UInt32(b0 & 0x0F)
            case 0xED: need = 2; hi = 0x9F; scalar = UInt32(b0 & 0x0F)
            case 0xF0: need = 3; lo = 0x90; scalar = UInt32(b0 & 0x07)
            case 0xF1...0xF3: need = 3; scalar = UInt32(b0 & 0x07)
            case 0xF4: need = 3; hi = 0x8F; scalar = UInt32(b0 & 0x07)
            default:
                // A stray continuation byte or a byte that never occurs in UTF-8.
                out.append(unknown)
                i += 1
                continue
            }
            var j = i + 1
            var ok = true
            for k in 0..<need {
                guard j < n else { ok = false; break }
                let b = bytes[j]
                let (l, h): (UInt8, UInt8) = k == 0 ? (lo, hi) : (0x80, 0xBF)
                guard b >= l, b <= h else { ok = false; break }
                scalar = (scalar << 6) | UInt32(b & 0x3F)
                j += 1
            }
            if ok {
                out.append(latin1(scalar))
            } else {
                out.append(unknown)  // the maximal subpart i..<j is one character
            }
            i = j
        }
    }

    /// The display byte for a scalar: itself within charset 1, `?` otherwise.
    public static func latin1(_ scalar: UInt32) -> UInt8 {
        if (scalar >= 0x20 && scalar <= 0x7E) || (scalar >= 0xA0 && scalar <= 0xFF) {
            return UInt8(truncatingIfNeeded: scalar)
        }
        return unknown
    }

    /// Appends a scalar as UTF-8.
    public static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(truncatingIfNeeded: scalar))
        case 0x80..<0x800:
            out.append(0xC0 | UInt8(truncatingIfNeeded: scalar >> 6))
            out.append(0x80 | UInt8(truncatingIfNeeded: scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(0xE0 | UInt8(truncatingIfNeeded: scalar >> 12))
            out.append(0x80 | UInt8(truncatingIfNeeded: (scalar >> 6) & 0x3F))
            out.append(0x80 | UInt8(truncatingIfNeeded: scalar & 0x3F))
        default:
            out.append(0xF0 | UInt8(truncatingIfNeeded: scalar >> 18))
            out.append(0x80 | UInt8(truncatingIfNeeded: (scalar >> 12) & 0x3F))
            out.append(0x80 | UInt8(truncatingIfNeeded: (scalar >> 6) & 0x3F))
            out.append(0x80 | UInt8(truncatingIfNeeded: scalar & 0x3F))
        }
    }

    /// The UTF-8 bytes of a literal, as is. The firmware core keeps its texts as `StaticString`:
    /// `String` would bring the stdlib's String and Unicode code (about 6 KB) into the pad's image.
    public static func bytes(_ utf8: StaticString) -> [UInt8] {
        utf8.withUTF8Buffer { Array($0) }
    }

    /// Display characters of a UTF-8 literal (the firmware's own texts).
    public static func chars(_ utf8: StaticString) -> [UInt8] {
        var out: [UInt8] = []
        utf8.withUTF8Buffer { buffer in
            out.reserveCapacity(buffer.count)
            decodeToCharset1(Array(buffer), into: &out)
        }
        return out
    }

    /// An amount in whole krónur as the pad shows it: `4.990 kr.` (dot as thousands separator).
    public static func amount(_ value: UInt32) -> [UInt8] {
        var digits: [UInt8] = []
        var v = value
        repeat {
            digits.append(0x30 + UInt8(truncatingIfNeeded: v % 10))
            v /= 10
        } while v > 0
        var out: [UInt8] = []
        out.reserveCapacity(digits.count + digits.count / 3 + 4)
        var i = digits.count
        while i > 0 {
            i -= 1
            out.append(digits[i])
            if i > 0, i % 3 == 0 { out.append(0x2E) }  // "."
        }
        out.append(contentsOf: [0x20, 0x6B, 0x72, 0x2E])  // " kr."
        return out
    }

    /// Splits display characters at spaces into rows of at most `width` characters; a word
    /// longer than the width is cut across rows.
    public static func wrap(_ chars: [UInt8], width: Int) -> [[UInt8]] {
        guard width > 0 else { return [] }
        var rows: [[UInt8]] = []
        var current: [UInt8] = []
        var word: [UInt8] = []
        func flushWord() {
            guard !word.isEmpty else { return }
            if current.isEmpty {
                current = word
            } else if current.count + 1 + word.count <= width {
                current.append(0x20)
                current.append(contentsOf: word)
            } else {
                rows.append(current)
                current = word
            }
            while current.count > width {
                rows.append(Array(current[0..<width]))
                current = Array(current[width...])
            }
            word.removeAll()
        }
        for c in chars {
            if c == 0x20 { flushWord() } else { word.append(c) }
        }
        flushWord()
        if !current.isEmpty { rows.append(current) }
        return rows
    }
}
