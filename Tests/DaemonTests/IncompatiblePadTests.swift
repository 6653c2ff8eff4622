import Foundation
import PinpadProtocol
import PinpadSim
import Testing
@testable import Bridge

/// A pad that answers HELLO with version 0 (no version in common) is not silent: one warning
/// naming the versions, model, firmware and serial; the terminal listed as incompatible; a
/// doctor finding (issue 13, deviation b; v1.1 D7).
@Suite(.timeLimit(.minutes(1))) struct IncompatiblePadTests {
    @Test func aVersion0PadIsWarnedAboutOnceAndListedAsIncompatible() async throws {
        let path = NSTemporaryDirectory() + "ngbridge-incompatible-\(getpid())"
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        pad.start()
        defer { pad.stop() }
        let log = CapturedLog()
        // A host that speaks only version 2: the v1 pad answers version 0.
        let terminals = DaemonTerminals(hello: HostHello(minVersion: 2, maxVersion: 2, hostName: Array("future".utf8)), reconnectGrace: .seconds(5), logger: log.logger())
        let changes = await terminals.changes()
        let keeper = Task { await terminals.keep(path: path, retryInterval: .milliseconds(100)) }
        defer { keeper.cancel() }
        var listed: TillTerminal?
        for await _ in changes {
            if let t = await terminals.list().first, t.status == "incompatible" {
                listed = t
                break
            }
        }
        let terminal = try #require(listed)
        #expect(terminal.detail?.contains("version 0") == true && terminal.detail?.contains("version 2") == true)
        #expect(terminal.model?.isEmpty == false && terminal.firmware?.isEmpty == false)
        #expect(await terminals.onlineIDs().isEmpty)

        let warnings = log.all.filter { $0.hasPrefix("warning") && $0.contains("no protocol version") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("serial=\(terminal.id)") == true)
        #expect(warnings.first?.contains("model=") == true && warnings.first?.contains("firmware=") == true)

        let findings = DoctorChecks.terminalFindings([terminal])
        #expect(findings.map(\.verdict) == [.problem])
        #expect(findings.first?.detail.contains("incompatible") == true)
    }
}

/// The till sees which prompts a pad announced, and that one without the customer-id prompt
/// cannot take payments (v1.1 D4, deviation f).
@Suite struct PromptTableListingTests {
    static func pad(_ prompts: [PromptID]) -> DeviceInfo {
        DeviceInfo(
            version: 1, maxPayload: 256, rows: 4, columns: 20, model: Array("NGP".utf8), firmwareVersion: Array("1".utf8),
            serialNumber: Array("S1".utf8),
            prompts: prompts.map { PromptSpec(id: $0, minDigits: 1, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60) })
    }

    @Test func theAnnouncedPromptsAreListedAndAMissingCustomerIDPromptIsNamed() {
        let full = Self.pad([.customerID, .smsCode, .confirmAmount])
        #expect(DaemonTerminals.promptNames(full) == ["customer-id", "sms-code", "confirm-amount"])
        #expect(DaemonTerminals.promptProblem(full) == nil)
        let reduced = Self.pad([.smsCode])
        #expect(DaemonTerminals.promptNames(reduced) == ["sms-code"])
        #expect(DaemonTerminals.promptProblem(reduced)?.contains("no customer-id prompt") == true)
    }
}
