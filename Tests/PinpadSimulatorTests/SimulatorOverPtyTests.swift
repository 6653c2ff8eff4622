import Bridge
import Foundation
import PinpadFirmware
import PinpadProtocol
import SerialLine
import LineFaults
import PinpadSim
import Testing

@Suite(.serialized) struct SimulatorOverPtyTests {
    @Test func scriptedPadAnswersTheHostsPrompts() async throws {
        let path = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        pad.start()
        let scenario = try PinpadScenario(parsing: """
            # a customer pays with a phone number and an SMS code
            on prompt customer-id type 8223281 ok after 100ms
            on prompt sms-code type 12 ok; type 34 ok   # too short first
            on screen "Greitt" expect
            end
            """)
        let run = Task { await scenario.run(on: pad, defaultTimeout: .seconds(20)) }

        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        await host.send(.prompt(PromptRequest(token: 1, prompt: .customerID, amount: 4990)))
        let first = await host.waitForResult(token: 1)
        #expect(first == EntryResult(token: 1, prompt: .customerID, outcome: .entered, digits: Array("8223281".utf8)))
        await host.send(.prompt(PromptRequest(token: 2, prompt: .smsCode)))
        let second = await host.waitForResult(token: 2)
        #expect(second == EntryResult(token: 2, prompt: .smsCode, outcome: .entered, digits: Array("1234".utf8)))
        await host.send(.showScreen(Screen(lines: [ScreenLine(text: Array("Greitt".utf8), alignment: .center)])))

        let outcome = await run.value
        #expect(outcome.succeeded, "\(outcome.failure ?? "")")
        #expect(outcome.exitCode == 0)
        #expect(await host.entryResults().count == 2)
        let keyEvents = await host.log.events.filter { if case .message(.keyEvent) = $0 { true } else { false } }
        #expect(keyEvents.count == 14, "7 digits + OK, 2 digits + refused OK, 2 digits + OK")

        // The transcript tells what happened without the customer's digits.
        let transcript = pad.transcript.map(\.description).joined(separator: "\n")
        #expect(transcript.contains("HELLO test-till"))
        #expect(transcript.contains("ENTRY_RESULT token=1 customer-id entered digits=*******"))
        #expect(transcript.contains("ENTRY_RESULT token=2 sms-code entered digits=****"))
        #expect(transcript.contains("> *******"), "the echoed entry row is masked")
        #expect(!transcript.contains("8223281"))
        #expect(!transcript.contains("1234"))

        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
        #expect(!FileManager.default.fileExists(atPath: path), "the link path goes with the pad")
    }

    @Test func libraryAPITypesKeysAndReadsTheScreen() async throws {
        let path = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, profile: DeviceProfile(serialNumber: Array("PAD-7".utf8))))
        pad.start()
        #expect(await pad.waitForScreen(containing: "Ekki tengt", timeout: .seconds(10)))
        let host = try TestHost(path: path)
        let up = await host.waitFor("link up") { if case .linkUp = $0 { true } else { false } }
        if case .linkUp(let info) = up { #expect(info.serialNumber == Array("PAD-7".utf8)) }
        #expect(await pad.waitForLink(up: true, timeout: .seconds(10)))
        #expect(pad.snapshot.hostName == "test-till")

        await host.send(.prompt(PromptRequest(token: 5, prompt: .customerID, amount: 12_500)))
        let prompt = await pad.waitForPrompt(.customerID, timeout: .seconds(10))
        #expect(prompt?.token == 5)
        #expect(pad.snapshot.lines == ["Netgíró   12.500 kr.", "App-kóði, sími eða", "kt.", "> _"])
        pad.type("822")
        #expect(await pad.waitForScreen(containing: "> 822_", timeout: .seconds(10)))
        pad.press(.clear)
        pad.type("23281")
        pad.press(.ok)
        let result = await host.waitForResult(token: 5)
        #expect(result?.digits == Array("8223281".utf8))
        #expect(await pad.waitForScreen(containing: "Góðan daginn", timeout: .seconds(10)))

        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
    }

    @Test func unplugClosesTheLineForTheHost() async throws {
        let path = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        pad.start()
        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        pad.unplug()
        await host.waitFor("the line closing") { if case .lineClosed(.deviceGone) = $0 { true } else { false } }
        #expect(await pad.wait(timeout: .seconds(10)) { !$0.plugged } != nil)
        #expect(!FileManager.default.fileExists(atPath: path))

        // Plugged in again: a new line at the same path, a freshly booted pad.
        pad.replug()
        #expect(await pad.wait(timeout: .seconds(10)) { $0.plugged } != nil)
        let again = try TestHost(path: path)
        await again.waitForLinkUp()
        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
        await again.close()
    }

    @Test func rebootMidPromptEndsThePromptWithoutAResult() async throws {
        let path = uniqueLinkPath()
        var faults = PinpadFaults()
        faults.rebootMidPromptAfterMilliseconds = 200
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, faults: faults))
        pad.start()
        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        await host.send(.prompt(PromptRequest(token: 1, prompt: .smsCode)))
        await host.waitFor("link down after the reboot") { if case .linkDown(.peerRestarted) = $0 { true } else { false } }
        await host.waitFor("link up again") { e in
            if case .linkUp = e { return true }
            return false
        }
        #expect(await host.entryResults().isEmpty)
        #expect(pad.transcript.contains { $0.kind == .fault && $0.text == "reboot mid-prompt" })
        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
    }

    @Test func lossyOutputStillCompletesThePrompt() async throws {
        let path = uniqueLinkPath()
        var faults = PinpadFaults()
        faults.drop = 0.2
        faults.corrupt = 0.1
        faults.duplicate = 0.2
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, faults: faults, seed: 42))
        pad.start()
        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        await host.send(.prompt(PromptRequest(token: 1, prompt: .customerID)))
        _ = await pad.waitForPrompt(.customerID, timeout: .seconds(10))
        pad.type("1111111119")
        pad.press(.ok)
        let result = await host.waitForResult(token: 1)
        #expect(result?.digits == Array("1111111119".utf8))
        #expect(await host.entryResults().count == 1)
        #expect(pad.transcript.contains { $0.kind == .fault })
        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
    }

    @Test func lineNoiseBothWaysNeverDuplicatesOrAltersAnEntry() async throws {
        // 1 % of bytes damaged and 1 % lost, each way: most frames get through on the first or
        // second try; a rare one exhausts its retransmissions and the link restarts (the layer
        // above asks again). What must never happen is a wrong or a repeated entry.
        let path = uniqueLinkPath()
        var faults = PinpadFaults()
        faults.noiseCorruptPerByte = 0.01
        faults.noiseDropPerByte = 0.01
        faults.duplicate = 0.02
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, faults: faults, seed: 7))
        pad.start()
        let host = try TestHost(path: path)
        await host.waitForLinkUp()
        var lastPrompt = 0
        for token in UInt16(1)...4 {
            let seen = await host.log.events.count
            await host.send(.prompt(PromptRequest(token: token, prompt: .customerID)))
            guard let open = await pad.waitForPrompt(.customerID, after: lastPrompt, timeout: .seconds(5)) else { continue }
            lastPrompt = open.serial
            pad.type("8223281")
            pad.press(.ok)
            // Until this prompt's result or a link restart (a guard against hangs, not a timing check).
            for _ in 0..<1000 {
                let new = await host.log.events.dropFirst(seen)
                if new.contains(where: {
                    switch $0 {
                    case .message(.entryResult(let r)): r.token == token
                    case .linkDown: true
                    default: false
                    }
                }) { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
            await host.waitForLinkUp()
        }
        let results = await host.entryResults()
        #expect(!results.isEmpty)
        #expect(results.allSatisfy { $0.digits == Array("8223281".utf8) })
        #expect(Set(results.map(\.token)).count == results.count, "an entry was delivered twice")
        // The noise hit both directions.
        #expect(pad.transcript.contains { $0.kind == .fault && $0.text.hasPrefix("noise from the host") })
        #expect(pad.transcript.contains { $0.kind == .fault && $0.text.hasPrefix("noise to the host") })
        pad.stop()
        await pad.waitUntilStopped()
        await host.close()
    }
}
