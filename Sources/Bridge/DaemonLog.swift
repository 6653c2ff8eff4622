import Foundation
import Logging
import NetgiroAPI

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The daemon's log: one line per event on standard error (journald adds the time), as
/// `level label: message key=value …` or as one JSON object per line (`log.format=json`).
///
/// A last line of defence for personal data: any run of exactly 7 or 10 digits (the shape of an
/// Icelandic phone number or kennitala) in the message or a metadata value is masked before it
/// is written, whatever the code that logged it meant to do.
///
/// No input can begin a line of its own: in text lines every control character of the message
/// and of each value (a newline in a JSON key a till sent, say) is written as an escape (`\n`,
/// `\u{1B}`); JSON lines are escaped by the encoder.
///
/// When standard error is the journal (systemd sets `JOURNAL_STREAM` to its device:inode), each
/// line starts with its syslog priority, `<3>` for an error, so `journalctl -p err` finds it.
public struct DaemonLogHandler: LogHandler {
    public let label: String
    public let json: Bool
    /// Whether lines start with a `<N>` syslog priority (``journaldPrefix(environment:)``).
    public let priorities: Bool
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let write: @Sendable (String) -> Void

    public init(
        label: String, json: Bool, priorities: Bool = DaemonLogHandler.standardErrorIsJournal(),
        write: @escaping @Sendable (String) -> Void = DaemonLogHandler.standardError
    ) {
        self.label = label
        self.json = json
        self.priorities = priorities
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged: Logger.Metadata
        if let extra = event.metadata, !extra.isEmpty {
            merged = metadata.isEmpty ? extra : metadata.merging(extra) { $1 }
        } else {
            merged = metadata
        }
        // `.description` rather than "\(…)": interpolating a value of a type from another module
        // goes through dynamic casts (TextOutputStreamable? CustomStringConvertible?) each time.
        let message = Self.maskDigits(event.message.description)
        let pairs = merged.sorted { $0.key < $1.key }.map { ($0.key, Self.maskDigits($0.value.description)) }
        let prefix = priorities ? "<\(Self.syslogPriority(event.level))>" : ""
        if json {
            var object: [String: String] = ["level": event.level.description, "label": label, "message": message]
            for (k, v) in pairs where object[k] == nil { object[k] = v }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            // The encoder escapes control characters; the Unicode line separators it leaves, and
            // some viewers break lines at them.
            let text = String(decoding: data, as: UTF8.self)
                .replacingOccurrences(of: "\u{2028}", with: "\\u2028").replacingOccurrences(of: "\u{2029}", with: "\\u2029")
            write(prefix + text)
        } else {
            // `level label: message key=value …`, built in one byte buffer: the same text as
            // joining `escape`d and `quote`d pieces, without a String per piece.
            var line: [UInt8] = []
            line.reserveCapacity(160)
            line.append(contentsOf: prefix.utf8)
            line.append(contentsOf: event.level.description.utf8)
            line.append(0x20)
            Self.appendEscaped(label, to: &line)
            line.append(0x3A)
            line.append(0x20)
            Self.appendEscaped(message, to: &line)
            for (key, value) in pairs {
                line.append(0x20)
                Self.appendEscaped(key, to: &line)
                line.append(0x3D)
                Self.appendQuoted(value, to: &line)
            }
            write(String(decoding: line, as: UTF8.self))
        }
    }

    /// Appends ``escape(_:)`` of `text`: its bytes as they are when nothing in it needs an escape
    /// (the common case), else the escaped text.
    static func appendEscaped(_ text: String, to out: inout [UInt8]) {
        var text = text
        let appended = text.withUTF8 { bytes -> Bool in
            guard !bytesNeedEscape(bytes) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if !appended { out.append(contentsOf: escape(text).utf8) }
    }

    /// Appends ``quote(_:)`` of `value`. Decided on the bytes when nothing needs an escape and the
    /// value is ASCII (a quote byte is then a quote character); otherwise through `quote`.
    static func appendQuoted(_ value: String, to out: inout [UInt8]) {
        var value = value
        let appended = value.withUTF8 { bytes -> Bool in
            guard !bytesNeedEscape(bytes) else { return false }
            guard bytes.isEmpty || bytes.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else {
                out.append(contentsOf: bytes)
                return true
            }
            guard !bytes.contains(where: { $0 >= 0x80 }) else { return false }
            out.append(0x22)
            for byte in bytes {
                if byte == 0x22 { out.append(0x5C) }
                out.append(byte)
            }
            out.append(0x22)
            return true
        }
        if !appended { out.append(contentsOf: quote(value).utf8) }
    }

    /// Whether UTF-8 text holds a scalar ``escape(_:)`` rewrites: a backslash, a C0 control or DEL
    /// (one byte each), a C1 control (U+0080–U+009F: C2 80…C2 9F) or U+2028/U+2029 (E2 80 A8/A9).
    static func bytesNeedEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x20 || b == 0x5C || b == 0x7F { return true }
            if b == 0xC2, i + 1 < bytes.count, bytes[i + 1] >= 0x80, bytes[i + 1] <= 0x9F { return true }
            if b == 0xE2, i + 2 < bytes.count, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 { return true }
            i += 1
        }
        return false
    }

    /// A value as written after `key=`: escaped, and in quotes when it holds a space, `"` or `=`
    /// (so `key=value` pairs stay unambiguous).
    static func quote(_ value: String) -> String {
        let escaped = escape(value)
        // On the UTF-8 bytes: these three are ASCII, and a byte below 0x80 is always its own
        // character's (walking Characters costs a grapheme-break search per character).
        guard escaped.isEmpty || escaped.utf8.contains(where: { $0 == 0x20 || $0 == 0x22 || $0 == 0x3D }) else { return escaped }
        return "\"" + escaped.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Text that cannot end a log line or start another: a backslash becomes `\\`, newline,
    /// carriage return and tab `\n` `\r` `\t`, every other control character (C0, DEL, C1) and the
    /// Unicode line and paragraph separators `\u{XX}`.
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.unicodeScalars.reserveCapacity(text.unicodeScalars.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(scalar): out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        scalar == "\\" || scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    /// The syslog priority journald reads from a `<N>` line prefix (sd-daemon(3)).
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Whether standard error is connected to the journal: systemd sets `JOURNAL_STREAM` to
    /// `DEVICE:INODE` of the stream it connected, and it is still ours only if fd 2 is that file
    /// (a child whose stderr was redirected inherits the variable but not the stream).
    public static func standardErrorIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    /// One line for a failure before (or outside) the logging system: escaped, with the error
    /// priority when standard error is the journal.
    public static func writeFailure(_ text: String, priorities: Bool = standardErrorIsJournal(), write: @Sendable (String) -> Void = standardError) {
        write((priorities ? "<\(syslogPriority(.error))>" : "") + escape(text))
    }

    /// Masks with ``PersonalData/mask(_:)`` every number that could be a customer identifier: a
    /// standalone run of exactly 7 digits (phone) or 10 digits (kennitala, app code), or a
    /// kennitala written `DDMMYY-NNNN`. "Standalone" means not glued to letters or other digits,
    /// so identifiers such as payment ids (`8223283f-3e6a-…`) stay readable.
    ///
    /// Every log line passes here, so the common cases are decided on the UTF-8 bytes: a text
    /// without 6 ASCII digits in a row has nothing to mask and is returned as it is; an ASCII text
    /// is masked byte by byte (in ASCII a byte is a character). Only a text that has both such a
    /// run and non-ASCII characters takes the per-Character path, where a combining mark can glue
    /// itself to a digit or letter and change what counts as standalone.
    public static func maskDigits(_ text: String) -> String {
        var contiguous = text
        return contiguous.withUTF8 { bytes -> String in
            var run = 0
            var longestRun = 0
            var ascii = true
            for byte in bytes {
                if byte &- 0x30 < 10 {
                    run += 1
                    if run > longestRun { longestRun = run }
                } else {
                    run = 0
                    if byte >= 0x80 { ascii = false }
                }
            }
            guard longestRun >= 6 else { return text }
            guard ascii else { return maskDigitsByCharacter(text) }
            return maskASCIIDigits(bytes)
        }
    }

    /// ``maskDigits(_:)`` for an ASCII text, on its bytes.
    private static func maskASCIIDigits(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        @inline(__always) func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
        @inline(__always) func isWord(_ b: UInt8) -> Bool { isDigit(b) || (b | 0x20) &- 0x61 < 26 }
        func digitRun(from start: Int) -> Int {
            var end = start
            while end < bytes.count, isDigit(bytes[end]) { end += 1 }
            return end
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            guard isDigit(b), i == 0 || !isWord(bytes[i - 1]) else {
                out.append(b)
                i += 1
                continue
            }
            var end = digitRun(from: i)
            var digits = Array(bytes[i..<end])
            // DDMMYY-NNNN
            if digits.count == 6, end < bytes.count, bytes[end] == UInt8(ascii: "-") {
                let second = digitRun(from: end + 1)
                if second - (end + 1) == 4 {
                    digits += bytes[(end + 1)..<second]
                    end = second
                }
            }
            let standalone = end == bytes.count || !isWord(bytes[end])
            if standalone, digits.count == 7 || digits.count == 10 {
                out += PersonalData.mask(String(decoding: digits, as: UTF8.self)).utf8
            } else {
                out += bytes[i..<end]
            }
            i = end
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// ``maskDigits(_:)`` on Characters, for texts that are not ASCII.
    static func maskDigitsByCharacter(_ text: String) -> String {
        let characters = Array(text)
        var out = ""
        var i = 0
        func isWordCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber) }
        func digitRun(from start: Int) -> Int {
            var end = start
            while end < characters.count, characters[end].isASCII, characters[end].isNumber { end += 1 }
            return end
        }
        while i < characters.count {
            let c = characters[i]
            guard c.isASCII, c.isNumber, i == 0 || !isWordCharacter(characters[i - 1]) else {
                out.append(c)
                i += 1
                continue
            }
            var end = digitRun(from: i)
            var digits = String(characters[i..<end])
            // DDMMYY-NNNN
            if digits.count == 6, end < characters.count, characters[end] == "-" {
                let second = digitRun(from: end + 1)
                if second - (end + 1) == 4 {
                    digits += String(characters[(end + 1)..<second])
                    end = second
                }
            }
            let standalone = end == characters.count || !isWordCharacter(characters[end])
            if standalone, digits.count == 7 || digits.count == 10 {
                out += PersonalData.mask(digits)
            } else {
                out += String(characters[i..<end])
            }
            i = end
        }
        return out
    }

    /// One `write(2)` per line where it fits (journald reads each as a whole), without the
    /// copies through `Data` and `FileHandle`; a short write or EINTR is continued, any other
    /// error drops the line.
    public static let standardError: @Sendable (String) -> Void = { line in
        var text = line
        text.append("\n")
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = writeStandardError(bytes.baseAddress! + offset, bytes.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
    }
}

/// `write(2)` on standard error (at file scope, where `write` is the C function).
private func writeStandardError(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
    write(2, bytes, count)
}
