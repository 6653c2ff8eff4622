import Bridge
import Foundation
import PinpadFirmware
import PinpadProtocol
import SerialLine
import PinpadSim
import Testing

/// Just enough of a terminal to see what the pad UI draws: cursor addressing, erase to the end
/// of the line and of the screen, CR/LF, UTF-8 text; colours and modes are ignored.
struct MiniTerminal {
    var cells = [[Character]](repeating: [Character](repeating: " ", count: 120), count: 50)
    var row = 0, column = 0

    mutating func render(_ bytes: [UInt8]) {
        let text = Array(String(decoding: bytes, as: UTF8.self))
        var i = 0
        while i < text.count {
            let ch = text[i]
            i += 1
            if ch == "\u{1B}" {
                guard i < text.count, text[i] == "[" else { i += 1; continue }
                i += 1
                var params = ""
                while i < text.count, let a = text[i].asciiValue, !(0x40...0x7E).contains(a) { params.append(text[i]); i += 1 }
                guard i < text.count else { return }
                let final = text[i]
                i += 1
                switch final {
                case "H":
                    let parts = params.split(separator: ";").compactMap { Int($0) }
                    row = (parts.first ?? 1) - 1
                    column = (parts.count > 1 ? parts[1] : 1) - 1
                case "K":
                    for c in column..<cells[row].count { cells[row][c] = " " }
                case "J":
                    if params == "2" {
                        for r in cells.indices { for c in cells[r].indices { cells[r][c] = " " } }
                    } else {
                        for c in column..<cells[row].count { cells[row][c] = " " }
                        for r in (row + 1)..<cells.count { for c in cells[r].indices { cells[r][c] = " " } }
                    }
                default: break
                }
            } else if ch == "\r" {
                column = 0
            } else if ch == "\n" || ch == "\r\n" {
                if ch == "\r\n" { column = 0 }
                row = min(row + 1, cells.count - 1)
            } else if column < cells[row].count {
                cells[row][column] = ch
                column += 1
            }
        }
    }

    var screen: String {
        cells.map { String($0).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n")
    }
}

@Suite(.serialized) struct InteractiveUITests {
    /// A person's terminal: the UI on a pty's device side, the test reading what it draws from
    /// the controller side and typing into it.
    final class Screen: @unchecked Sendable {
        let pty: PseudoTerminal
        var output: [UInt8] = []
        init() throws {
            pty = try PseudoTerminal()
            try pty.controller.setNonBlocking(true)
        }
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { try? pty.controller.read(into: $0) }
                guard let n, n > 0 else { return }
                output += buffer[0..<n]
            }
        }
        var text: String {
            var t = MiniTerminal()
            t.render(output)
            return t.screen
        }
        func type(_ s: String) throws { try pty.controller.writeAll(Array(s.utf8)) }
        func waitFor(_ what: String) async -> Bool {
            for _ in 0..<1000 {
                drain()
                if text.contains(what) { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            Issue.record("the terminal never showed \(what):\n\(text)")
            return false
        }
    }

    @Test func drawsThePadAndTakesKeysFromTheKeyboard() async throws {
        let path = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        let screen = try Screen()
        let before = try TerminalAttributes.read(from: screen.pty.device)
        let ui = PinpadTerminalUI(pad: pad, input: screen.pty.device, output: screen.pty.device)
        pad.start()
        let uiTask = Task { await ui.run() }

        #expect(await screen.waitFor("Ekki tengt"))
        #expect(screen.text.contains("not linked"))
        #expect(screen.text.contains("╭──────────────────────╮"), "a frame as wide as the 20 columns")

        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        await host.send(.prompt(PromptRequest(token: 3, prompt: .customerID, amount: 4990)))
        #expect(await screen.waitFor("│ App-kóði, sími eða   │"))
        #expect(screen.text.contains("│ Netgíró    4.990 kr. │"))
        #expect(screen.text.contains("linked with test-till"))
        #expect(screen.text.contains("Backspace Clear"))
        if ProcessInfo.processInfo.environment["SHOW_PAD"] != nil { print(screen.text) }

        try screen.type("82232810")
        try screen.type("\u{7F}")  // Backspace = Clear
        #expect(await screen.waitFor("│ > 8223281_           │"))
        try screen.type("\r")  // Enter = OK
        let result = await host.waitForResult(token: 3)
        #expect(result?.digits == Array("8223281".utf8))
        #expect(await screen.waitFor("Góðan daginn"))

        await host.send(.prompt(PromptRequest(token: 4, prompt: .smsCode)))
        #expect(await screen.waitFor("Kóði úr SMS"))
        try screen.type("\u{1B}")  // Esc = Cancel
        #expect(await host.waitForResult(token: 4)?.outcome == .cancelledByCustomer)

        try screen.type("q")
        await uiTask.value
        screen.drain()
        #expect(String(decoding: screen.output.suffix(16), as: UTF8.self).contains("\u{1B}[?1049l"), "the normal screen is back")
        let after = try TerminalAttributes.read(from: screen.pty.device)
        #expect(after.localFlags == before.localFlags, "the terminal's modes are restored")
        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
        screen.pty.close()
    }
}

@Suite struct ScenarioLanguageTests {
    @Test func parsesTheDocumentedExamples() throws {
        let s = try PinpadScenario(parsing: """
            timeout 60s
            on prompt customer-id type 8223281 ok after 300ms
            on prompt sms-code type 12 ok; type 34 ok        # too short first
            on screen "Greitt" expect
            on prompt confirm-amount press cancel after 2 s
            wait 1.5s; unplug; replug; reboot; wait link up
            pace 50ms
            press 1 2 clear 3 enter esc backspace
            expect no screen "Ekki tengt"
            end
            """)
        #expect(s.statements.map(\.step) == [
            .setTimeout(milliseconds: 60_000),
            .onPrompt(.customerID, [.wait(milliseconds: 300), .keys([.digit(8), .digit(2), .digit(2), .digit(3), .digit(2), .digit(8), .digit(1), .ok])]),
            .onPrompt(.smsCode, [.keys([.digit(1), .digit(2), .ok])]),
            .act([.keys([.digit(3), .digit(4), .ok])]),
            .onScreen("Greitt", []),
            .onPrompt(.confirmAmount, [.wait(milliseconds: 2_000), .keys([.cancel])]),
            .act([.wait(milliseconds: 1_500)]), .unplug, .replug, .reboot, .waitLink(up: true),
            .setPace(milliseconds: 50),
            .act([.keys([.digit(1), .digit(2), .clear, .digit(3), .ok, .cancel, .clear])]),
            .expectNoScreen("Ekki tengt"),
            .end,
        ])
        #expect(s.statements.map(\.line) == [1, 2, 3, 3, 4, 5, 6, 6, 6, 6, 6, 7, 8, 9, 10])
    }

    @Test func errorsNameTheLine() {
        for (source, line) in [("on prompt pin-code type 1", 1), ("wait\n", 1), ("\n\non screen Greitt", 3), ("press 12x", 1), ("on screen \"open", 1)] {
            do {
                _ = try PinpadScenario(parsing: source)
                Issue.record("accepted: \(source)")
            } catch {
                #expect(error.line == line, "\(source): \(error)")
            }
        }
    }

    @Test func aFailedStepFailsTheRunWithExitCode1() async throws {
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: nil))
        pad.start()
        let outcome = await (try PinpadScenario(parsing: "timeout 50ms\non prompt sms-code type 1234 ok")).run(on: pad)
        #expect(!outcome.succeeded)
        #expect(outcome.exitCode == 1)
        #expect(outcome.failure?.contains("line 2: no sms-code prompt") == true)
        let passed = await (try PinpadScenario(parsing: "expect screen \"Ekki tengt\"; end")).run(on: pad)
        #expect(passed.succeeded)
        pad.stop()
        await pad.waitUntilStopped()
    }
}
