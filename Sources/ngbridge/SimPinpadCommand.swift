import ArgumentParser
import Foundation
import LineFaults
import PinpadSim

#if canImport(Glibc)
import Glibc
#endif

/// `ngbridge sim pinpad`: a simulated Netgíró PIN pad on a pseudo-terminal.
struct SimPinpadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pinpad",
        abstract: "Run a simulated PIN pad on a pseudo-terminal, for a person or a script.",
        discussion: """
            The pad's firmware runs behind a pty whose device side is published at --link; point \
            the bridge at that path as at /dev/ttyACM0. Interactive (the default on a terminal): \
            the pad is drawn with its display and keypad; digits type, Backspace = Clear, \
            Enter = OK, Esc = Cancel, u pulls the cable, r reboots, q quits. Scripted (--script): \
            a scenario drives the keys and the exit code says whether it passed (0), failed (1) \
            or could not start (2); the scenario language is in docs/pinpad-simulator.md. \
            Customer digits are masked in the transcript unless --reveal is given.
            """
    )

    @Option(help: "Where to publish the device side of the pty (a symbolic link).")
    var link = "/tmp/ngbridge-pinpad0"

    @Option(help: "Run this firmware image (make firmware) in QEMU instead of the in-process pad, as `ngbridge sim pinpad-qemu --image`; only --link and --script apply then (no unplug, replug or reboot in the script).")
    var qemu: String?

    @Option(help: "Model announced in HELLO_REPLY.")
    var model = "NG-PAD-1"

    @Option(help: "Serial number announced in HELLO_REPLY (the terminal's identity).")
    var serial = "SIM00001"

    @Option(help: "Display rows.")
    var rows: UInt8 = 4

    @Option(help: "Display columns.")
    var columns: UInt8 = 20

    @Option(help: "Scenario file to run (see docs/pinpad-simulator.md).")
    var script: String?

    @Flag(inversion: .prefixedNo, help: "Draw the pad in this terminal (default: when stdin is a terminal).")
    var interactive: Bool?

    @Option(help: "Also write the transcript to this file.")
    var transcript: String?

    @Flag(help: "Show customer digits in clear in the transcript (test data only).")
    var reveal = false

    @Flag(help: "Also record ACK, NAK and HEARTBEAT frames in the transcript.")
    var linkControl = false

    @Option(help: "Seed for the random faults.")
    var seed: UInt64 = 1

    @Option(help: "Probability (0–1) that a write to the line is lost.")
    var faultDrop = 0.0

    @Option(help: "Probability (0–1) that a write has a damaged byte.")
    var faultCorrupt = 0.0

    @Option(help: "Probability (0–1) that a write is sent twice.")
    var faultDuplicate = 0.0

    @Option(help: "Line noise, both directions: probability (0–1) that any one byte is damaged.")
    var faultNoiseCorrupt = 0.0

    @Option(help: "Line noise, both directions: probability (0–1) that any one byte is lost.")
    var faultNoiseDrop = 0.0

    @Option(help: "Delay every write by this many milliseconds.")
    var faultDelayMs: UInt64 = 0

    @Option(help: "Stop writing anything after this many seconds.")
    var faultSilentAfterS: Double?

    @Option(help: "Pull the cable (close the pty) after this many seconds.")
    var faultUnplugAfterS: Double?

    @Option(help: "Reboot once when a prompt has been open this many seconds.")
    var faultRebootMidPromptS: Double?

    func validate() throws {
        guard rows >= 1, columns >= 1 else { throw ValidationError("--rows and --columns must be at least 1") }
        for (name, p) in [("--fault-drop", faultDrop), ("--fault-corrupt", faultCorrupt), ("--fault-duplicate", faultDuplicate),
                          ("--fault-noise-corrupt", faultNoiseCorrupt), ("--fault-noise-drop", faultNoiseDrop)] {
            guard (0...1).contains(p) else { throw ValidationError("\(name) is a probability between 0 and 1") }
        }
    }

    func run() async throws {
        if let qemu {
            if let script {
                let code = await SimPinpadQEMUCommand.runScenario(image: qemu, link: link, scriptPath: script)
                if code != 0 { throw ExitCode(code) }
                return
            }
            return try await SimPinpadQEMUCommand.parse(["--image", qemu, "--link", link]).run()
        }
        var faults = PinpadFaults()
        faults.drop = faultDrop
        faults.corrupt = faultCorrupt
        faults.duplicate = faultDuplicate
        faults.noiseCorruptPerByte = faultNoiseCorrupt
        faults.noiseDropPerByte = faultNoiseDrop
        faults.delayMilliseconds = faultDelayMs
        faults.silentAfterMilliseconds = faultSilentAfterS.map { UInt64($0 * 1000) }
        faults.unplugAfterMilliseconds = faultUnplugAfterS.map { UInt64($0 * 1000) }
        faults.rebootMidPromptAfterMilliseconds = faultRebootMidPromptS.map { UInt64($0 * 1000) }
        let profile = PinpadSimulatorOptions.deviceProfile(model: model, serial: serial, rows: rows, columns: columns)
        let options = PinpadSimulatorOptions(
            linkPath: link, profile: profile, faults: faults, seed: seed, revealDigits: reveal,
            transcriptLinkControl: linkControl)
        let code = await PinpadSimulatorMain.run(
            options: options, scriptPath: script, interactive: interactive ?? (isatty(0) == 1),
            transcriptPath: transcript)
        if code != 0 { throw ExitCode(code) }
    }
}
