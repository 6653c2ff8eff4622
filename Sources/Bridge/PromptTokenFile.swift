import Foundation

/// The last prompt token per pad, one small file per pad in a directory next to the journal
/// (`<journal dir>/prompt-tokens/<terminal>`), replaced atomically on every PROMPT. A restarted
/// daemon reads it and goes on from the next token (PROTOCOL.md §7.1).
public final class PromptTokenFile: PromptTokenStore {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public func lastToken(terminal: String) -> UInt16 {
        guard let text = try? String(contentsOfFile: path(terminal), encoding: .utf8) else { return 0 }
        return UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    public func save(_ token: UInt16, terminal: String) {
        // A failed write costs at most a reused token after a restart; the payment goes on.
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? Data("\(token)\n".utf8).write(to: URL(fileURLWithPath: path(terminal)), options: .atomic)
    }

    /// A file name for any terminal id: letters, digits, '-' and '_' as they are, the rest as %XX.
    func path(_ terminal: String) -> String {
        var name = ""
        for byte in terminal.utf8 {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "_") {
                name.append(c)
            } else {
                name += String(format: "%%%02X", byte)
            }
        }
        return directory + "/" + (name.isEmpty ? "%" : name)
    }
}
