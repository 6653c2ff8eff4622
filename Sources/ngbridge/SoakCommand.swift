import ArgumentParser
import Demo
import Foundation

struct SoakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Run many payments through both simulators with line and Netgíró faults, then audit the journal against Netgíró's ledger.",
        discussion: """
            Payments run one after another (customers rotate: phone, kennitala with SMS code, app \
            code; confirmation rotates: manual, automatic, server callback). At the end the journal \
            is compared with the Netgíró simulator's ledger: lost, duplicated and wrong-amount \
            payments must be 0, and every unknown payment names its reference. Exits 1 otherwise.
            Line faults act on the bytes the simulated pad writes (pad → bridge).
            """)

    @Option(help: "How many payments.")
    var payments = 12

    @Option(help: "Seed for the faults and the run's choices.")
    var seed: UInt64 = 1

    @Option(name: .customLong("line-faults"), help: "Pad line faults: per frame the pad writes corrupt=P,drop=P,duplicate=P; per byte in both directions byte-corrupt=P,byte-drop=P; delay-ms=N.")
    var lineFaults = ""

    @Option(name: .customLong("netgiro-faults"), help: "Netgíró faults per call, e.g. 500=0.1,lost=0.05,slow=0.05 (also garbage=P, slow-ms=N; default slow-ms=1500).")
    var netgiroFaults = ""

    @Option(help: "Unplug/replug events, each in the middle of a different payment.")
    var unplugs = 0

    @Option(name: .customLong("accept-ms"), help: "How long the simulated phone customer takes to accept in the app.")
    var acceptMilliseconds = 300

    @Flag(name: .customLong("no-silence-probe"), help: "Skip measuring how fast a silent pad is noticed.")
    var noSilenceProbe = false

    @Flag(help: "Print the report as JSON (progress lines go to standard error).")
    var json = false

    func run() async throws {
        guard payments > 0 else { throw ValidationError("--payments must be at least 1") }
        var options = SoakOptions()
        options.payments = payments
        options.seed = seed
        do {
            options.lineFaults = try SoakOptions.parseLineFaults(lineFaults)
            options.netgiroFaults = try SoakOptions.parseNetgiroFaults(netgiroFaults)
        } catch {
            throw ValidationError(error.description)
        }
        options.unplugs = max(0, unplugs)
        options.acceptDelay = .milliseconds(max(0, acceptMilliseconds))
        options.silenceProbe = !noSilenceProbe
        let asJSON = json
        var report = try await Soak(options: options).run { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        report.command = CommandLine.arguments.dropFirst().joined(separator: " ")
        print(asJSON ? report.json() : report.text())
        fflush(nil)
        if !report.passed { throw ExitCode(1) }
    }
}
