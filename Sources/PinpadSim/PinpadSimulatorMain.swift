import Foundation
import PinpadFirmware
import PinpadProtocol

#if canImport(Glibc)
import Glibc
#endif

/// What `ngbridge sim pinpad` does once its arguments are parsed.
public enum PinpadSimulatorMain {
    /// Runs a simulated pad until the script ends, the person quits, or SIGINT/SIGTERM.
    /// Returns the exit code: 0 done, 1 a scenario step failed, 2 could not start.
    public static func run(
        options: PinpadSimulatorOptions, scriptPath: String?, interactive: Bool, transcriptPath: String?
    ) async -> Int32 {
        var scenario: PinpadScenario?
        if let scriptPath {
            guard let text = try? String(contentsOfFile: scriptPath, encoding: .utf8) else {
                printError("cannot read the scenario \(scriptPath) — check the path and that it is UTF-8 text")
                return 2
            }
            do {
                scenario = try PinpadScenario(parsing: text)
            } catch {
                printError("\(scriptPath): \(error) — see docs/pinpad-simulator.md for the scenario language")
                return 2
            }
        }
        let pad: PinpadSimulator
        do {
            pad = try PinpadSimulator(options: options)
        } catch {
            printError("\(error)")
            return 2
        }
        let profile = options.profile
        let banner = "PIN pad simulator \(text(profile.model)) serial \(text(profile.serialNumber)), display \(profile.rows)×\(profile.columns): device at \(pad.path)"
        var transcriptFile: FileHandle?
        if let transcriptPath {
            _ = FileManager.default.createFile(atPath: transcriptPath, contents: nil)
            transcriptFile = FileHandle(forWritingAtPath: transcriptPath)
            if transcriptFile == nil {
                printError("cannot write the transcript to \(transcriptPath) — check the directory exists and is writable")
                return 2
            }
        }
        let streamToStdout = !interactive
        if streamToStdout { print(banner); fflush(nil) }
        let sink = transcriptFile
        pad.onTranscript { entry in
            let line = entry.description + "\n"
            if streamToStdout {
                FileHandle.standardOutput.write(Data(line.utf8))
            }
            sink?.write(Data(line.utf8))
        }

        // SIGINT/SIGTERM stop the pad cleanly (the interactive UI handles its own keys).
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { pad.stop() }
            source.resume()
            return source
        }
        defer { for s in signals { s.cancel() } }

        pad.start()
        var exitCode: Int32 = 0
        if let scenario {
            let ui = interactive ? PinpadTerminalUI(pad: pad) : nil
            let outcome = await withDiscardingTaskGroup { group in
                if let ui { group.addTask { await ui.run(); pad.stop() } }
                let outcome = await scenario.run(on: pad)
                pad.stop()
                await pad.waitUntilStopped()
                return outcome  // the group waits for the UI to end
            }
            exitCode = outcome.exitCode
            if let failure = outcome.failure {
                printError("scenario failed: \(failure)")
            } else if streamToStdout {
                print("scenario passed")
            }
        } else if interactive {
            let ui = PinpadTerminalUI(pad: pad)
            await ui.run()
            pad.stop()
            await pad.waitUntilStopped()
        } else {
            await pad.waitUntilStopped()
        }
        if interactive { print(banner + " — stopped") }
        try? transcriptFile?.close()
        fflush(nil)
        return exitCode
    }

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func printError(_ message: String) {
        FileHandle.standardError.write(Data(("ngbridge sim pinpad: " + message + "\n").utf8))
    }
}
