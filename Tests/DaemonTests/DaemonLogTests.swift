import Common
import Foundation
import Logging
import Testing
@testable import Bridge

#if canImport(Glibc)
import Glibc
#endif

/// Lines as the daemon writes them (``DaemonLogHandler``), caught before they reach stderr.
final class WrittenLines: Sendable {
    // Lines come from the server's threads (Locked: the thread sanitizer sees its lock).
    private let writes = Locked<[String]>([])
    var all: [String] { writes.withLock { $0 } }

    func append(_ line: String) { writes.withLock { $0.append(line) } }

    func logger(json: Bool = false, priorities: Bool = false) -> Logger {
        Logger(label: "ngbridge") { label in
            DaemonLogHandler(label: label, json: json, priorities: priorities) { self.append($0) }
        }
    }
}

@Suite struct DaemonLogTests {
    static let forged = "x\ninfo ngbridge: payment paid amount=999999 payment=forged"

    @Test(arguments: [false, true])
    func noMessageKeyOrValueCanBeginANewLine(json: Bool) {
        let lines = WrittenLines()
        let logger = lines.logger(json: json)
        logger.notice("refused \(Self.forged)\r\u{1B}[2J\u{2028}end", metadata: ["field": "\(Self.forged)", "k\ney": "v", "path": "a\\nb"])
        let written = lines.all
        #expect(written.count == 1)
        for line in written {
            #expect(!line.contains("\n") && !line.contains("\r") && !line.contains("\u{1B}") && !line.contains("\u{2028}"), "\(line)")
        }
        if !json {
            let line = written[0]
            #expect(line.hasPrefix("notice ngbridge: refused x\\ninfo ngbridge: payment paid"), "\(line)")
            #expect(line.contains("\\u{1B}") && line.contains("\\u{2028}"), "\(line)")
            #expect(line.contains(#"path=a\\nb"#), "a backslash is escaped too, so an escape cannot be faked: \(line)")
        }
    }

    /// Failure 6 of issue 15: an unknown JSON key in a till's request reaches the log (the
    /// refusal names the field) and must stay inside its line.
    @Test(arguments: [false, true])
    func aJSONKeyWithANewlineInATillRequestCannotForgeALogLine(json: Bool) async throws {
        let scratch = try ScratchDirectory()
        let lines = WrittenLines()
        let api = try await RunningTillAPI.start(service: ScriptedPaymentService(), scratch: scratch, logger: lines.logger(json: json))
        let body = try JSONSerialization.data(withJSONObject: ["amount": 1500, "reference": "R-1", Self.forged: 1])
        let answer = try await api.client.request(.POST, "/v1/payments", body: body)
        try await api.stop()
        #expect(answer.status == 422 && answer.problem?.field == Self.forged)
        let written = lines.all
        #expect(written.contains { $0.contains("request refused") }, "the refusal is logged: \(written)")
        for line in written {
            #expect(!line.contains("\n"), "a write is one line: \(line)")
        }
        let split = written.joined(separator: "\n").split(separator: "\n")
        #expect(!split.contains { $0.hasPrefix("info ngbridge: payment paid") }, "\(split)")
    }

    @Test func syslogPriorityPrefixWhenStandardErrorIsTheJournal() {
        let lines = WrittenLines()
        let logger = lines.logger(priorities: true)
        logger.error("e")
        logger.warning("w")
        logger.notice("n")
        logger.info("i")
        logger.critical("c")
        #expect(lines.all.map { String($0.prefix(3)) } == ["<3>", "<4>", "<5>", "<6>", "<2>"])

        let plain = WrittenLines()
        plain.logger(priorities: false).error("e")
        #expect(plain.all == ["error ngbridge: e"])

        let json = WrittenLines()
        json.logger(json: true, priorities: true).error("e")
        #expect(json.all.first?.hasPrefix("<3>{") == true)
    }

    @Test func journalStreamIsRecognisedOnlyWhenItIsStandardError() {
        var st = stat()
        #expect(fstat(2, &st) == 0)
        let mine = "\(st.st_dev):\(st.st_ino)"
        #expect(DaemonLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": mine]))
        #expect(!DaemonLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]), "inherited, stderr redirected")
        #expect(!DaemonLogHandler.standardErrorIsJournal(environment: [:]))
        #expect(!DaemonLogHandler.standardErrorIsJournal(environment: ["JOURNAL_STREAM": "junk"]))
    }

    @Test func startUpFailureLineIsEscapedAndCarriesTheErrorPriority() {
        let lines = WrittenLines()
        DaemonLogHandler.writeFailure("ngbridge: a\nb", priorities: true) { lines.append($0) }
        #expect(lines.all == [#"<3>ngbridge: a\nb"#])
    }
}

/// The text line is built on bytes; it must say exactly what joining ``DaemonLogHandler/escape(_:)``
/// and ``DaemonLogHandler/quote(_:)`` of each piece says, for every kind of text.
@Suite struct DaemonLogTextLineTests {
    static let texts = [
        "", "plain", "two words", "a=b", #"say "hi""#, #"\back"#, "tab\there", "cr\rlf\n", "bell\u{07}", "del\u{7F}",
        "c1\u{85}and\u{9F}", "sep\u{2028}para\u{2029}", "café", "é=1", #"é "q""#, "\"\u{301}x y", "ÿ\u{A0}nbsp", "日本 語",
        "emoji 🇮🇸", "x\u{1B}[31m", "Ω\\", "\u{80}", "a\"b", "=", " ", "\"",
    ]

    @Test func eachPieceIsWrittenAsEscapeAndQuoteWriteIt() {
        let lines = WrittenLines()
        for (i, text) in Self.texts.enumerated() {
            let other = Self.texts[(i + 7) % Self.texts.count]
            let handler = DaemonLogHandler(label: "ngbridge \(other)", json: false, priorities: false) { lines.append($0) }
            handler.log(
                event: LogEvent(
                    level: .notice, message: "\(text)", metadata: ["k": "\(text)", "a \(other)": "\(other)"], source: "t", file: "f",
                    function: "g", line: 1))
            let expected = "notice \(DaemonLogHandler.escape("ngbridge \(other)")): \(DaemonLogHandler.escape(text)) "
                + "\(DaemonLogHandler.escape("a \(other)"))=\(DaemonLogHandler.quote(other)) k=\(DaemonLogHandler.quote(text))"
            #expect(lines.all.last == expected, "\(text.debugDescription)")
        }
        #expect(lines.all.count == Self.texts.count)
    }
}
