import Foundation
import PinpadFirmware
import PinpadProtocol

/// The firmware image in QEMU as a scenario's pad: keys, screen and prompt state through the
/// debug channel (`PinpadQEMUConsole`), so `ngbridge sim pinpad --qemu IMAGE --script FILE` runs
/// the same scenarios as the in-process simulator.
///
/// The debug channel reports the open prompt's id and token, not a count of prompts: a new
/// prompt is one whose (id, token) differs from the last one seen open, or any prompt after none
/// was open. The state is polled every `pollInterval`.
///
/// `unplug`, `replug` and `reboot` are not supported: QEMU keeps its pty for as long as it runs
/// and the machine has no monitor. Scripts are checked with `isSupported` before QEMU starts.
public actor PinpadQEMUScenarioTarget: PinpadScenarioTarget {
    public static let pollInterval: Duration = .milliseconds(50)

    public struct Unsupported: Error, CustomStringConvertible, Sendable {
        public var statement: String
        public var description: String {
            "`\(statement)` is not supported on the emulated pad (QEMU keeps the pad's line open while it runs); run this scenario on the pty simulator"
        }
    }

    private let console: PinpadQEMUConsole
    private let notes: @Sendable (String) -> Void
    /// The prompt last seen open, nil when none was.
    private var lastSeen: (prompt: UInt8, token: UInt16)?
    private var promptsSeen = 0

    /// `notes` receives the scenario's steps for the transcript; never customer digits.
    public init(console: PinpadQEMUConsole, notes: @escaping @Sendable (String) -> Void) {
        self.console = console
        self.notes = notes
    }

    /// Whether the emulated pad can perform a statement.
    public static func isSupported(_ step: PinpadScenario.Step) -> Bool {
        switch step {
        case .unplug, .replug, .reboot: return false
        default: return true
        }
    }

    /// The debug channel's letter for a key.
    static func keyCode(_ key: PadKey) -> String {
        switch key {
        case .digit(let d): return String(d)
        case .clear: return "C"
        case .ok: return "O"
        case .cancel: return "X"
        }
    }

    public func scenarioNote(_ text: String) async { notes(text) }

    public func scenarioPress(_ key: PadKey) async throws {
        try await console.press(Self.keyCode(key))
    }

    /// Polls the state once and counts a prompt that opened since the last poll.
    private func observe() async throws -> PinpadQEMUConsole.State {
        let state = try await console.state()
        if state.prompt == 0 {
            lastSeen = nil
        } else if lastSeen.map({ $0.prompt != state.prompt || $0.token != state.token }) ?? true {
            lastSeen = (state.prompt, state.token)
            promptsSeen += 1
        }
        return state
    }

    private func poll(timeout: Duration, until condition: (PinpadQEMUConsole.State) async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await condition(try await observe()) { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: Self.pollInterval)
        }
    }

    public func scenarioWaitForPrompt(_ id: PromptID, after: Int, timeout: Duration) async throws -> Int? {
        let found = try await poll(timeout: timeout) { state in
            state.prompt == id.rawValue && promptsSeen > after
        }
        return found ? promptsSeen : nil
    }

    public func scenarioWaitForScreen(containing text: String, timeout: Duration) async throws -> Bool {
        try await poll(timeout: timeout) { _ in try await screenShows(text) }
    }

    public func scenarioScreenShows(_ text: String) async throws -> Bool {
        _ = try await observe()
        return try await screenShows(text)
    }

    private func screenShows(_ text: String) async throws -> Bool {
        try await console.screen().contains { $0.contains(text) }
    }

    public func scenarioWaitForLink(up: Bool, timeout: Duration) async throws -> Bool {
        try await poll(timeout: timeout) { $0.linkUp == up }
    }

    public func scenarioUnplug() async throws { throw Unsupported(statement: "unplug") }
    public func scenarioReplug() async throws { throw Unsupported(statement: "replug") }
    public func scenarioReboot() async throws { throw Unsupported(statement: "reboot") }

    /// The screen with every digit masked: it may hold the customer's entry in clear.
    public func scenarioDisplay() async -> String {
        guard let rows = try? await console.screen() else { return "unreadable" }
        return rows.map { row in
            String(row.map { $0.isASCII && $0.isNumber ? "•" : $0 }).trimmingCharacters(in: .whitespaces)
        }.joined(separator: " | ")
    }
}
