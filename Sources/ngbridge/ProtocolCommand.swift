import ArgumentParser
import Bridge

struct ProtocolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "protocol",
        abstract: "Work with the PIN-pad wire protocol (protocol/PROTOCOL.md).",
        subcommands: [Decode.self]
    )

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Explain bytes captured from the line: each frame decoded, or why it is rejected.",
            discussion: """
                Each HEX argument is one read from the line, fed in order to one decoder, so a \
                frame may span arguments. Spaces, colons and dashes inside HEX are ignored.
                Example: ngbridge protocol decode 00 02010203...00
                Customer digits in ENTRY_RESULT are masked unless --reveal-digits is given.
                """
        )

        @Argument(help: "Bytes in hexadecimal, as read from the line (with 0x00 delimiters).")
        var hex: [String]

        @Flag(help: "Treat each argument as one unstuffed frame body (header, payload, CRC), not line bytes.")
        var body = false

        @Flag(help: "Show customer digits in clear (for your own debugging only).")
        var revealDigits = false

        func run() throws {
            var chunks: [[UInt8]] = []
            for (index, text) in hex.enumerated() {
                guard let bytes = parseHex(text) else {
                    throw ValidationError("argument \(index + 1) is not hexadecimal bytes: \"\(text)\"")
                }
                chunks.append(bytes)
            }
            let inspector = FrameInspector(revealDigits: revealDigits)
            let lines = body ? chunks.flatMap(inspector.explainBody) : inspector.explainLine(chunks: chunks)
            for line in lines { print(line) }
            if lines.contains(where: { $0.contains("rejected") }) { throw ExitCode(2) }
        }
    }
}
