import ArgumentParser
import Bridge
import Foundation

/// `ngbridge doctor`: is this machine ready to take payments, and if not, what to do.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the pad, its permissions, the udev rule, ModemManager/brltty, the configuration and Netgíró.",
        discussion: "Reads the same configuration as `ngbridge run`. Exit status 1 when any check found a problem.")

    @Option(help: ArgumentHelp("A JSON file of settings.", valueName: "PATH")) var config: String?
    @Option(name: .customLong("set"), help: ArgumentHelp("Set one key (repeatable).", valueName: "KEY=VALUE")) var settings: [String] = []
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var address: DaemonAddressOptions

    struct Terminals: Decodable { var terminals: [TillTerminal] }

    func run() async throws {
        let configuration: Result<DaemonConfiguration, DaemonConfigurationError>
        do {
            configuration = .success(try await DaemonConfiguration.load(overrides: settings, filePath: config))
        } catch {
            configuration = .failure(error)
        }
        var findings = await DoctorChecks.run(configuration: configuration)
        // The running daemon's terminals (an incompatible pad shows only there); no daemon, no finding.
        if let client = try? address.client() {
            if let answer = try? await client.terminals(), answer.status == 200, let list = try? answer.decode(Terminals.self) {
                findings += DoctorChecks.terminalFindings(list.terminals)
            }
            await client.shutdown()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(findings), as: UTF8.self))
        } else {
            for f in findings {
                let mark = f.verdict == .ok ? "ok     " : f.verdict == .warning ? "warning" : "PROBLEM"
                print("\(mark)  \(f.check): \(f.detail)")
                if let fix = f.fix, f.verdict != .ok { print("         fix: \(fix)") }
            }
        }
        if findings.contains(where: { $0.verdict == .problem }) { throw ExitCode(1) }
    }
}
