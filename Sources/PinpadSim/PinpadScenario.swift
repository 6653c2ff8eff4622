import Foundation
import PinpadFirmware
import PinpadProtocol

/// A scripted customer for the simulated pad: the scenario language of
/// `docs/pinpad-simulator.md`, parsed into steps and run against a `PinpadSimulator`.
public struct PinpadScenario: Sendable, Hashable {
    public enum Action: Sendable, Hashable {
        /// Press these keys, `pace` apart.
        case keys([PadKey])
        case wait(milliseconds: UInt64)
    }

    public enum Step: Sendable, Hashable {
        /// Wait for a new prompt with this id to be open, then act.
        case onPrompt(PromptID, [Action])
        /// Wait until the display shows this text, then act.
        case onScreen(String, [Action])
        /// The display must show this text now.
        case expectScreen(String)
        /// The display must not show this text now.
        case expectNoScreen(String)
        case waitLink(up: Bool)
        case act([Action])
        case unplug
        case replug
        case reboot
        /// How long `on …` and `wait link …` may wait before the scenario fails.
        case setTimeout(milliseconds: UInt64)
        /// Time between two keys of one action.
        case setPace(milliseconds: UInt64)
        /// Stop here, successfully.
        case end
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// A step and the line of the script it came from.
    public struct Statement: Sendable, Hashable {
        public var line: Int
        public var step: Step
        public init(line: Int, step: Step) {
            self.line = line
            self.step = step
        }
    }

    public var statements: [Statement]

    public init(steps: [Step]) {
        statements = steps.enumerated().map { Statement(line: $0.offset + 1, step: $0.element) }
    }

    // MARK: - Parsing

    public init(parsing source: String) throws(ParseError) {
        var statements: [Statement] = []
        for (index, rawLine) in source.components(separatedBy: "\n").enumerated() {
            let number = index + 1
            let tokens: [String]
            do { tokens = try Self.tokenize(rawLine) } catch { throw ParseError(line: number, message: error.message) }
            // Statements are separated by ";" as well as by newlines.
            var statement: [String] = []
            for t in tokens + [";"] {
                if t == ";" {
                    if !statement.isEmpty {
                        do {
                            statements.append(Statement(line: number, step: try Self.parseStatement(statement)))
                        } catch {
                            throw ParseError(line: number, message: error.message)
                        }
                    }
                    statement = []
                } else {
                    statement.append(t)
                }
            }
        }
        self.statements = statements
    }

    struct Problem: Error { var message: String }

    /// Words, quoted strings (kept with a leading `"` so they are not mistaken for words), `;`.
    static func tokenize(_ line: String) throws(Problem) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quoted: String?
        for c in line {
            if var q = quoted {
                if c == "\"" {
                    tokens.append("\"" + q)
                    quoted = nil
                } else {
                    q.append(c)
                    quoted = q
                }
                continue
            }
            switch c {
            case "#":
                if !current.isEmpty { tokens.append(current) }
                return tokens
            case "\"":
                if !current.isEmpty { tokens.append(current); current = "" }
                quoted = ""
            case ";", ",":
                if !current.isEmpty { tokens.append(current); current = "" }
                if c == ";" { tokens.append(";") }
            case " ", "\t", "\r":
                if !current.isEmpty { tokens.append(current); current = "" }
            default:
                current.append(c)
            }
        }
        if quoted != nil { throw Problem(message: "a quoted text is not closed") }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    static func parseStatement(_ words: [String]) throws(Problem) -> Step {
        var rest = ArraySlice(words)
        let head = rest.removeFirst().lowercased()
        switch head {
        case "on":
            guard let what = rest.popFirst()?.lowercased() else { throw Problem(message: "`on` needs `prompt NAME` or `screen \"TEXT\"`") }
            switch what {
            case "prompt":
                guard let name = rest.popFirst(), let id = PinpadNames.promptID(name) else {
                    throw Problem(message: "unknown prompt (use customer-id, sms-code or confirm-amount)")
                }
                return .onPrompt(id, try parseActions(rest))
            case "screen":
                guard let text = rest.popFirst(), text.hasPrefix("\"") else { throw Problem(message: "`on screen` needs a quoted text") }
                return .onScreen(String(text.dropFirst()), try parseActions(rest))
            default:
                throw Problem(message: "`on \(what)`: expected `prompt` or `screen`")
            }
        case "expect":
            var negate = false
            if rest.first?.lowercased() == "no" { negate = true; rest.removeFirst() }
            guard rest.popFirst()?.lowercased() == "screen", let text = rest.popFirst(), text.hasPrefix("\""), rest.isEmpty else {
                throw Problem(message: "expected `expect [no] screen \"TEXT\"`")
            }
            return negate ? .expectNoScreen(String(text.dropFirst())) : .expectScreen(String(text.dropFirst()))
        case "wait":
            if rest.first?.lowercased() == "link" {
                rest.removeFirst()
                switch rest.popFirst()?.lowercased() {
                case "up": return .waitLink(up: true)
                case "down": return .waitLink(up: false)
                default: throw Problem(message: "expected `wait link up` or `wait link down`")
                }
            }
            return .act([.wait(milliseconds: try parseDuration(&rest))] + (try parseActions(rest)))
        case "press", "type", "after":
            return .act(try parseActions(words[...]))
        case "unplug": return .unplug
        case "replug", "plug": return .replug
        case "reboot": return .reboot
        case "end", "exit", "quit": return .end
        case "timeout":
            return .setTimeout(milliseconds: try parseDuration(&rest))
        case "pace":
            return .setPace(milliseconds: try parseDuration(&rest))
        default:
            throw Problem(message: "unknown statement `\(head)`")
        }
    }

    /// `type DIGITS`, key names, single digits, `after DURATION` / `wait DURATION`, `expect`.
    static func parseActions(_ words: ArraySlice<String>) throws(Problem) -> [Action] {
        var rest = words
        var actions: [Action] = []
        var keys: [PadKey] = []
        func flushKeys() {
            if !keys.isEmpty { actions.append(.keys(keys)); keys = [] }
        }
        var delayFirst: UInt64?
        while let word = rest.popFirst() {
            let w = word.lowercased()
            switch w {
            case "type":
                guard let digits = rest.popFirst(), !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw Problem(message: "`type` needs digits")
                }
                keys += digits.map { PadKey.digit(UInt8($0.asciiValue! - 48)) }
            case "press", "then", "and", "expect":
                continue  // filler words: `on screen "Greitt" expect` only waits
            case "ok", "enter": keys.append(.ok)
            case "cancel", "esc", "escape": keys.append(.cancel)
            case "clear", "backspace", "bs": keys.append(.clear)
            case "after":
                // `after` delays the start of the whole clause, wherever it is written.
                delayFirst = try parseDuration(&rest)
            case "wait":
                flushKeys()
                actions.append(.wait(milliseconds: try parseDuration(&rest)))
            default:
                if w.count == 1, let d = w.first?.wholeNumberValue {
                    keys.append(.digit(UInt8(d)))
                } else {
                    throw Problem(message: "unknown key or word `\(word)`")
                }
            }
        }
        flushKeys()
        if let delayFirst { actions.insert(.wait(milliseconds: delayFirst), at: 0) }
        return actions
    }

    /// `300ms`, `300 ms`, `2s`, `1.5 s`, `2` (seconds).
    static func parseDuration(_ rest: inout ArraySlice<String>) throws(Problem) -> UInt64 {
        guard var word = rest.popFirst()?.lowercased() else { throw Problem(message: "a duration is missing (e.g. 300ms, 2s)") }
        if let unit = rest.first?.lowercased(), ["ms", "s", "sec", "secs", "seconds", "second"].contains(unit), Double(word) != nil {
            word += unit == "ms" ? "ms" : "s"
            rest.removeFirst()
        }
        let scale: Double
        var number = word
        if word.hasSuffix("ms") { scale = 1; number = String(word.dropLast(2)) }
        else if word.hasSuffix("s") { scale = 1000; number = String(word.dropLast()) }
        else { scale = 1000 }
        guard let value = Double(number), value >= 0, value < 86_400_000 else { throw Problem(message: "`\(word)` is not a duration (e.g. 300ms, 2s)") }
        return UInt64(value * scale)
    }
}

/// How a scenario run ended.
public struct PinpadScenarioOutcome: Sendable, Hashable {
    public var succeeded: Bool
    /// What went wrong, for a person: the step, its line, what was on the display.
    public var failure: String?
    /// 0 success, 1 a step failed (timed out or an expectation did not hold).
    public var exitCode: Int32 { succeeded ? 0 : 1 }
}

/// A pad a scenario can drive: the in-process `PinpadSimulator`, or the firmware image in QEMU
/// (`PinpadQEMUScenarioTarget`). One interpreter, so a script means the same on both.
public protocol PinpadScenarioTarget: Sendable {
    /// Records a scenario step for the transcript. Never given customer digits.
    func scenarioNote(_ text: String) async
    func scenarioPress(_ key: PadKey) async throws
    /// Waits for a prompt with this id that opened after prompt number `after` and is open now;
    /// returns its number (prompts are counted 1, 2, … as they open), nil on timeout.
    func scenarioWaitForPrompt(_ id: PromptID, after: Int, timeout: Duration) async throws -> Int?
    /// Waits until a row of the display contains `text`.
    func scenarioWaitForScreen(containing text: String, timeout: Duration) async throws -> Bool
    /// Whether a row of the display contains `text` now.
    func scenarioScreenShows(_ text: String) async throws -> Bool
    func scenarioWaitForLink(up: Bool, timeout: Duration) async throws -> Bool
    func scenarioUnplug() async throws
    func scenarioReplug() async throws
    func scenarioReboot() async throws
    /// The display, one string, for a failure message.
    func scenarioDisplay() async -> String
}

extension PinpadSimulator: PinpadScenarioTarget {
    public func scenarioNote(_ text: String) async { note(text) }
    public func scenarioPress(_ key: PadKey) async throws { press(key) }
    public func scenarioWaitForPrompt(_ id: PromptID, after: Int, timeout: Duration) async throws -> Int? {
        await waitForPrompt(id, after: after, timeout: timeout)?.serial
    }
    public func scenarioWaitForScreen(containing text: String, timeout: Duration) async throws -> Bool {
        await waitForScreen(containing: text, timeout: timeout)
    }
    public func scenarioScreenShows(_ text: String) async throws -> Bool { snapshot.shows(text) }
    public func scenarioWaitForLink(up: Bool, timeout: Duration) async throws -> Bool {
        await waitForLink(up: up, timeout: timeout)
    }
    public func scenarioUnplug() async throws { unplug() }
    public func scenarioReplug() async throws { replug() }
    public func scenarioReboot() async throws { reboot() }
    public func scenarioDisplay() async -> String { snapshot.lines.joined(separator: " | ") }
}

extension PinpadScenario {
    /// Runs the scenario against a started simulator. Does not stop it.
    public func run(on pad: PinpadSimulator, defaultTimeout: Duration = .seconds(30)) async -> PinpadScenarioOutcome {
        await run(onTarget: pad, defaultTimeout: defaultTimeout)
    }

    /// The statements a target cannot perform, with their lines — checked before a pad is
    /// started, so that a script the pad cannot run fails at once rather than halfway.
    public func unsupportedStatements(_ isSupported: (Step) -> Bool) -> [Statement] {
        statements.filter { !isSupported($0.step) }
    }

    /// Runs the scenario against a started pad. Does not stop it.
    public func run(onTarget pad: some PinpadScenarioTarget, defaultTimeout: Duration = .seconds(30)) async -> PinpadScenarioOutcome {
        var timeout = defaultTimeout
        var pace: UInt64 = 80
        var lastPrompt = 0
        func fail(_ line: Int, _ message: String) async -> PinpadScenarioOutcome {
            let screen = await pad.scenarioDisplay()
            let text = "line \(line): \(message) (display: \(screen))"
            await pad.scenarioNote("FAILED " + text)
            return PinpadScenarioOutcome(succeeded: false, failure: text)
        }
        func perform(_ actions: [Action]) async throws {
            for action in actions {
                switch action {
                case .wait(let ms):
                    try? await Task.sleep(for: .milliseconds(Int64(ms)))
                case .keys(let keys):
                    for (i, key) in keys.enumerated() {
                        if i > 0 { try? await Task.sleep(for: .milliseconds(Int64(pace))) }
                        try await pad.scenarioPress(key)
                    }
                }
            }
        }
        for statement in statements {
            let line = statement.line
            do {
                switch statement.step {
                case .onPrompt(let id, let actions):
                    await pad.scenarioNote("line \(line): waiting for prompt \(PinpadNames.prompt(id))")
                    guard let serial = try await pad.scenarioWaitForPrompt(id, after: lastPrompt, timeout: timeout) else {
                        return await fail(line, "no \(PinpadNames.prompt(id)) prompt within \(timeout)")
                    }
                    lastPrompt = serial
                    try await perform(actions)
                case .onScreen(let text, let actions):
                    await pad.scenarioNote("line \(line): waiting for screen \"\(text)\"")
                    guard try await pad.scenarioWaitForScreen(containing: text, timeout: timeout) else {
                        return await fail(line, "the display did not show \"\(text)\" within \(timeout)")
                    }
                    try await perform(actions)
                case .expectScreen(let text):
                    guard try await pad.scenarioScreenShows(text) else { return await fail(line, "expected the display to show \"\(text)\"") }
                case .expectNoScreen(let text):
                    guard try await !pad.scenarioScreenShows(text) else { return await fail(line, "expected the display not to show \"\(text)\"") }
                case .waitLink(let up):
                    guard try await pad.scenarioWaitForLink(up: up, timeout: timeout) else {
                        return await fail(line, "the link did not go \(up ? "up" : "down") within \(timeout)")
                    }
                case .act(let actions):
                    try await perform(actions)
                case .unplug: try await pad.scenarioUnplug()
                case .replug: try await pad.scenarioReplug()
                case .reboot: try await pad.scenarioReboot()
                case .setTimeout(let ms): timeout = .milliseconds(Int64(ms))
                case .setPace(let ms): pace = ms
                case .end:
                    await pad.scenarioNote("line \(line): end")
                    return PinpadScenarioOutcome(succeeded: true, failure: nil)
                }
            } catch {
                return await fail(line, "\(error)")
            }
        }
        await pad.scenarioNote("scenario done")
        return PinpadScenarioOutcome(succeeded: true, failure: nil)
    }
}
