import Foundation
import Logging
import NetgiroAPI

/// The daemon's log: one line per event on standard error (journald adds the time), as
/// `level label: message key=value …` or as one JSON object per line (`log.format=json`).
///
/// A last line of defence for personal data: any run of exactly 7 or 10 digits (the shape of an
/// Icelandic phone number or kennitala) in the message or a metadata value is masked before it
/// is written, whatever the code that logged it meant to do.
public struct DaemonLogHandler: LogHandler {
    public let label: String
    public let json: Bool
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let write: @Sendable (String) -> Void

    public init(label: String, json: Bool, write: @escaping @Sendable (String) -> Void = DaemonLogHandler.standardError) {
        self.label = label
        self.json = json
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let message = Self.maskDigits("\(event.message)")
        let pairs = merged.sorted { $0.key < $1.key }.map { ($0.key, Self.maskDigits("\($0.value)")) }
        if json {
            var object: [String: String] = ["level": "\(event.level)", "label": label, "message": message]
            for (k, v) in pairs where object[k] == nil { object[k] = v }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            write(String(decoding: data, as: UTF8.self))
        } else {
            let rest = pairs.map { "\($0.0)=\(Self.quote($0.1))" }.joined(separator: " ")
            write("\(event.level) \(label): \(message)\(rest.isEmpty ? "" : " " + rest)")
        }
    }

    static func quote(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) ? "\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : value
    }

    /// Masks with ``PersonalData/mask(_:)`` every number that could be a customer identifier: a
    /// standalone run of exactly 7 digits (phone) or 10 digits (kennitala, app code), or a
    /// kennitala written `DDMMYY-NNNN`. "Standalone" means not glued to letters or other digits,
    /// so identifiers such as payment ids (`8223283f-3e6a-…`) stay readable.
    public static func maskDigits(_ text: String) -> String {
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

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
