import ArgumentParser
import Demo
import Dispatch
import Foundation
import LineFaults

#if canImport(Glibc)
import Glibc
#endif

/// `ngbridge sim line`: a faulty cable between the bridge and a PIN pad.
struct SimLineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "line",
        abstract: "Put a faulty, unpluggable cable between the bridge and a PIN pad.",
        discussion: """
            Opens the pad's line at --device (a tty, or the link of `ngbridge sim pinpad` or \
            `sim pinpad --qemu`) and publishes a fresh pty at --link; point the bridge at --link. \
            Bytes are forwarded both ways with seeded faults, each direction its own, in the words \
            of `ngbridge soak --line-faults`: line noise byte-corrupt=P damages and byte-drop=P \
            loses a byte (P per byte); corrupt=P damages one byte of a frame, drop=P loses a whole \
            frame and duplicate=P sends it twice (P per frame); delay-ms=N holds every byte back \
            N ms. E.g. --to-pad-faults byte-corrupt=0.01,byte-drop=0.01,duplicate=0.02. Pulling the \
            cable closes the published side (the \
            bridge reads a hang-up, as when a USB pad is unplugged) and publishes a new pty at the \
            same path --replug-after-ms later: on SIGUSR1, on a line `u` on stdin, or every \
            --unplug-every-ms. If the pad's own line goes away, the published side goes too and comes \
            back with it. On stdin: u pulls the cable, s prints the counts, q quits. SIGINT/SIGTERM \
            stop it; the counts of bytes, frames and faults per direction are printed at the end. \
            Bytes are never printed.
            """
    )

    @Option(help: "The pad's line (its tty, or the path a pad simulator publishes).")
    var device: String

    @Option(help: "Where to publish the bridge's side (a symbolic link to a pty).")
    var link: String

    @Option(help: "Faults on bytes to the pad: byte-corrupt=P,byte-drop=P,corrupt=P,drop=P,duplicate=P,delay-ms=N.")
    var toPadFaults = ""

    @Option(help: "Faults on bytes to the bridge: byte-corrupt=P,byte-drop=P,corrupt=P,drop=P,duplicate=P,delay-ms=N.")
    var toHostFaults = ""

    @Option(help: "Seed for the faults (each direction draws its own) and the random unplug times.")
    var seed: UInt64 = 1

    @Option(help: "Pull the cable this many milliseconds after it was last plugged in (default: only on command).")
    var unplugEveryMs: UInt64?

    @Flag(help: "Pull the cable at random times instead: each wait between half and 1.5 times --unplug-every-ms.")
    var unplugRandom = false

    @Option(help: "How long the cable stays out when pulled, in milliseconds.")
    var replugAfterMs: UInt64 = 500

    @Option(help: "Wait this many seconds for --device to appear before giving up.")
    var waitS: Double = 30

    func validate() throws {
        guard device != link else { throw ValidationError("--device and --link are the same path; publish the bridge's side elsewhere") }
        _ = try faults(toPadFaults, "--to-pad-faults")
        _ = try faults(toHostFaults, "--to-host-faults")
        if let every = unplugEveryMs, every == 0 { throw ValidationError("--unplug-every-ms needs at least 1 ms") }
        if unplugRandom, unplugEveryMs == nil { throw ValidationError("--unplug-random needs --unplug-every-ms (the mean wait)") }
        guard waitS >= 0, waitS.isFinite else { throw ValidationError("--wait-s needs a number of seconds, 0 or more") }
    }

    private func faults(_ spec: String, _ option: String) throws -> PinpadFaults {
        do {
            return try SoakOptions.parseLineFaults(spec)
        } catch {
            throw ValidationError("\(option): \(error)")
        }
    }

    func run() async throws {
        let requests = AsyncStream<Request>.makeStream()
        let sources = signalRequests(requests.continuation)
        defer { sources.forEach { $0.cancel() } }

        let options = LineFaultProxyOptions(
            devicePath: device, linkPath: link,
            toPad: try faults(toPadFaults, "--to-pad-faults"), toHost: try faults(toHostFaults, "--to-host-faults"),
            seed: seed, replugAfter: .milliseconds(Int64(clamping: replugAfterMs)),
            unplugEvery: unplugEveryMs.map { .milliseconds(Int64(clamping: $0)) }, unplugAtRandom: unplugRandom,
            waitForDevice: .milliseconds(Int64(waitS * 1000)),
            notes: { note in
                print(note)
                fflush(nil)
            })
        let proxy: LineFaultProxy
        do {
            proxy = try await LineFaultProxy.start(options)
        } catch {
            FileHandle.standardError.write(Data("ngbridge sim line: \(error)\n".utf8))
            throw ExitCode.failure
        }
        print("line: pad \(device) <-> bridge \(link); faults to pad \(options.toPad.lineSpec), to host \(options.toHost.lineSpec), seed \(seed)")
        if let every = unplugEveryMs {
            print("cable pulled every \(unplugRandom ? "~" : "")\(every) ms, out for \(replugAfterMs) ms")
        }
        print("u pulls the cable (or SIGUSR1), s prints the counts, q quits")
        fflush(nil)

        // Commands from stdin, on a thread of their own (readLine() blocks); the end of stdin
        // only ends the reading.
        Thread.detachNewThread {
            while let line = readLine() {
                switch line.trimmingCharacters(in: .whitespaces).lowercased() {
                case "": continue
                case "u", "unplug", "pull": requests.continuation.yield(.pullCable)
                case "s", "stats": requests.continuation.yield(.printCounts)
                case "q", "quit": requests.continuation.yield(.stop)
                default:
                    print("unknown command \(line.debugDescription): u pulls the cable, s prints the counts, q quits")
                    fflush(nil)
                }
            }
        }

        // A cable pull (out, a pause, back in) runs beside the requests; the group waits for the
        // pulls under way after the proxy has stopped.
        let counts = await withDiscardingTaskGroup { pulls in
            loop: for await request in requests.stream {
                switch request {
                case .stop: break loop
                case .printCounts:
                    print(await proxy.statistics)
                    fflush(nil)
                case .pullCable:
                    pulls.addTask { await proxy.pullCable() }
                }
            }
            return await proxy.stop()
        }
        print(counts)
        print("stopped")
        fflush(nil)
    }

    private enum Request: Sendable {
        case stop, pullCable, printCounts
    }

    /// SIGINT and SIGTERM stop, SIGUSR1 pulls the cable (their default actions are turned off).
    private func signalRequests(_ continuation: AsyncStream<Request>.Continuation) -> [DispatchSourceSignal] {
        [(SIGINT, Request.stop), (SIGTERM, .stop), (SIGUSR1, .pullCable)].map { signalNumber, request in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { continuation.yield(request) }
            source.resume()
            return source
        }
    }
}
