import Common
import ArgumentParser
import Dispatch
import Foundation
import PinpadSim

#if canImport(Glibc)
import Glibc
#endif

/// `ngbridge sim pinpad-qemu`: the pad's real firmware image on an emulated Cortex-M4.
struct SimPinpadQEMUCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pinpad-qemu",
        abstract: "Run the PIN pad's firmware image in QEMU, its line published like a plugged-in pad.",
        discussion: """
            Boots the image (make firmware) on QEMU's mps2-an386 Cortex-M4 machine. The pad's \
            line (UART0) is a pty, published at --link for the bridge to open; its keypad and \
            display are reached through the debug channel (UART1): type its commands here, one \
            per line — K<keys> presses keys (0-9, C Clear, O OK, X Cancel), S shows the screen, \
            I the state, M the memory use (firmware/README.md). Runs until interrupted or stdin \
            ends with --exit-on-eof; stops QEMU on the way out. Needs qemu-system-arm.
            """
    )

    @Option(help: "The firmware image.")
    var image = "firmware/build/pinpad.elf"

    @Option(help: "Where to publish the pad's line (a symlink to QEMU's pty).")
    var link = "/tmp/ngbridge-pinpad0"

    @Option(help: "The QEMU binary.")
    var qemu = "qemu-system-arm"

    @Flag(help: "Run QEMU with -icount shift=auto (steadier timing, guest time tied to instructions).")
    var icount = false

    @Flag(help: "Stop when stdin ends (for scripts that pipe commands in).")
    var exitOnEof = false

    func run() async throws {
        // Handle SIGINT/SIGTERM ourselves so that QEMU is stopped too.
        let (stopRequests, sources) = stopOnSignals()
        defer { sources.forEach { $0.cancel() } }

        let pad: PinpadQEMU
        do {
            pad = try await PinpadQEMU.start(PinpadQEMU.Configuration(
                image: image, qemu: qemu, linkPath: link, extraArguments: icount ? ["-icount", "shift=auto"] : []))
        } catch {
            throw ValidationError("\(error)")
        }
        print("PIN pad firmware in QEMU (\(PinpadQEMU.machine), pid \(pad.processID))")
        print("pad line: \(link) -> \(pad.hostLinePath)")
        print("debug channel: \(pad.debugLinePath) — commands: K<keys> (0-9 C O X), S, I, M")
        fflush(nil)

        // Debug commands from stdin, read on a thread of their own (readLine() blocks).
        let commands = AsyncStream<String?>.makeStream()
        Thread.detachNewThread {
            while let line = readLine() { commands.continuation.yield(line) }
            commands.continuation.yield(nil)
        }
        let console = pad.console
        // Unstructured: a stop is not held up by a command in flight (it may wait for the pad
        // up to PinpadQEMUConsole.answerTimeout); cancelled, not awaited.
        let worker = Task {
            for await line in commands.stream {
                guard let line else {
                    if exitOnEof { stopRequests.continuation.yield() }
                    break
                }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                do {
                    // The screen may show a customer's entry: it goes to this terminal only.
                    for answer in try await console.command(text) { print(answer) }
                    print("OK")
                } catch {
                    print("\(error)")
                }
                fflush(nil)
            }
        }
        await waitForStop(stopRequests, pad: pad)
        worker.cancel()
        let crashed = !pad.isRunning
        await pad.stop()
        if crashed {
            throw ValidationError("QEMU stopped unexpectedly: \(pad.qemuOutput)")
        }
        print("stopped")
    }

    /// `ngbridge sim pinpad --qemu IMAGE --script FILE`: the scenario language of
    /// docs/pinpad-simulator.md against the firmware image. Returns 0 passed, 1 a step failed,
    /// 2 could not start (including a script with steps the emulated pad cannot perform).
    static func runScenario(image: String, link: String, scriptPath: String, qemu: String = "qemu-system-arm") async -> Int32 {
        func printError(_ message: String) {
            FileHandle.standardError.write(Data(("ngbridge sim pinpad: " + message + "\n").utf8))
        }
        guard let text = try? String(contentsOfFile: scriptPath, encoding: .utf8) else {
            printError("cannot read the scenario \(scriptPath) — check the path and that it is UTF-8 text")
            return 2
        }
        let scenario: PinpadScenario
        do {
            scenario = try PinpadScenario(parsing: text)
        } catch {
            printError("\(scriptPath): \(error) — see docs/pinpad-simulator.md for the scenario language")
            return 2
        }
        let unsupported = scenario.unsupportedStatements(PinpadQEMUScenarioTarget.isSupported)
        if let first = unsupported.first {
            printError("\(scriptPath): line \(first.line): \(first.step) is not supported on the emulated pad (QEMU keeps the pad's line open while it runs, and has no reset from here) — run this scenario without --qemu")
            return 2
        }

        // Handle SIGINT/SIGTERM ourselves so that QEMU is stopped too.
        let (stopRequests, sources) = stopOnSignals()
        defer { sources.forEach { $0.cancel() } }

        let pad: PinpadQEMU
        do {
            pad = try await PinpadQEMU.start(PinpadQEMU.Configuration(image: image, qemu: qemu, linkPath: link))
        } catch {
            printError("\(error)")
            return 2
        }
        print("PIN pad firmware in QEMU (\(PinpadQEMU.machine), pid \(pad.processID)): device at \(link) -> \(pad.hostLinePath)")
        fflush(nil)
        // Only the scenario's own notes are printed: they never hold the keys' digits.
        let target = PinpadQEMUScenarioTarget(console: pad.console) { note in
            print("script: " + note)
            fflush(nil)
        }
        // The scenario's outcome once it has one; nil while it still runs (a stop request).
        let result = ScenarioResult()
        // Unstructured: a stop is not held up by a scenario still running (it may be in a long
        // `wait` and does not end on cancellation); cancelled, not awaited.
        let scenarioRun = Task {
            let value = await scenario.run(onTarget: target)
            result.value.withLock { $0 = value }
            stopRequests.continuation.yield()
        }
        await waitForStop(stopRequests, pad: pad)
        let crashed = !pad.isRunning
        let done = result.value.withLock { $0 }
        scenarioRun.cancel()
        await pad.stop()
        if crashed {
            printError("QEMU stopped unexpectedly: \(pad.qemuOutput)")
            return 1
        }
        guard let done else {
            print("stopped")
            return 0
        }
        if let failure = done.failure {
            printError("scenario failed: \(failure)")
            return 1
        }
        print("scenario passed")
        return 0
    }
}

/// Where a scenario's outcome is left for the command to read when it stops. Lock: written by
/// the scenario's task, read by the command's.
private final class ScenarioResult: Sendable {
    let value = Locked<PinpadScenarioOutcome?>(nil)
}

/// Returns at the first stop request, or once QEMU has exited (checked every 200 ms).
private func waitForStop(
    _ requests: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation), pad: PinpadQEMU
) async {
    await withDiscardingTaskGroup { group in
        group.addTask {
            while pad.isRunning, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(200)) }
            requests.continuation.yield()
        }
        for await _ in requests.stream { break }
        group.cancelAll()
    }
}

/// SIGINT and SIGTERM as a stream of stop requests (the signals' default action is turned off),
/// so a command can stop QEMU before it exits. Cancel the sources when done.
private func stopOnSignals() -> (
    requests: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation), sources: [DispatchSourceSignal]
) {
    let requests = AsyncStream<Void>.makeStream()
    let continuation = requests.continuation
    var sources: [DispatchSourceSignal] = []
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        sources.append(source)
    }
    return (requests, sources)
}
