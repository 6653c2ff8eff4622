import Foundation
import PinpadProtocol
import PinpadSim
import Testing

/// The scenario language run against the firmware image in QEMU (`ngbridge sim pinpad --qemu
/// IMAGE --script FILE`): each `on prompt` answers a new prompt, read through the debug channel.
@Suite(
    .enabled(if: QEMUPad.qemu != nil, "qemu-system-arm is not installed (apt-get install qemu-system-arm)"),
    .enabled(if: QEMUPad.imageExists, "no firmware image at \(QEMUPad.image) — build it with `make firmware`"),
    .serialized, .timeLimit(.minutes(2)))
struct ScenarioOnQEMUTests {
    @Test func eachOnPromptAnswersANewPrompt() async throws {
        try await QEMUPad.session { pad, session in
            let scenario = try PinpadScenario(parsing: """
                timeout 20s
                on prompt customer-id
                expect no screen "Greitt"
                on screen "4.990 kr." type 0101302989 ok
                on prompt customer-id type 8223281 ok
                """)
            let target = PinpadQEMUScenarioTarget(console: pad.console) { _ in }
            let run = Task { await scenario.run(onTarget: target) }
            try await session.prompt(PromptRequest(token: 1, prompt: .customerID, amount: 4990))
            let (first, _) = try await session.entryResult(token: 1)
            #expect(first.digits == Array("0101302989".utf8))
            try await session.prompt(PromptRequest(token: 2, prompt: .customerID, amount: 4990))
            let (second, _) = try await session.entryResult(token: 2)
            #expect(second.digits == Array("8223281".utf8))
            let outcome = await run.value
            #expect(outcome.succeeded, "\(outcome.failure ?? "")")
        }
    }
}

struct ScenarioOnQEMUSupportTests {
    @Test func cableAndResetStepsAreRefusedBeforeThePadStarts() throws {
        let scenario = try PinpadScenario(parsing: "on prompt customer-id type 500\nunplug\nreplug\nreboot\nend")
        #expect(scenario.unsupportedStatements(PinpadQEMUScenarioTarget.isSupported).map(\.line) == [2, 3, 4])
    }
}
