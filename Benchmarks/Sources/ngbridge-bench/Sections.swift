import Foundation

// The benchmarks added for issue 8 and how to pick them:
//   ngbridge-bench [--quick]                       everything, in this order
//   ngbridge-bench --only alloc,payment,replug,throughput,codec,link [--quick]
//   --pads 1,4,16,64          pad counts for `throughput`
//   --seconds S               measuring window per pad count (default 10, quick 4)
//   --netgiro-binary PATH     run Netgíró's simulator as `PATH sim netgiro` in its own process
//                             (throughput only), so its CPU time is told apart from the bridge's
//   --journal-dir DIR         throughput: the journal in DIR (e.g. /dev/shm) instead of /tmp

struct AddedOptions {
    var quick = false
    var only: Set<String>?
    var pads = [1, 4, 16, 64]
    var seconds: Double?
    var netgiroBinary: String?
    var journalDirectory: String?

    init(_ arguments: [String]) {
        quick = arguments.contains("--quick")
        func value(_ flag: String) -> String? {
            guard let i = arguments.firstIndex(of: flag), i + 1 < arguments.count else { return nil }
            return arguments[i + 1]
        }
        if let o = value("--only") { only = Set(o.split(separator: ",").map(String.init)) }
        if let p = value("--pads") { pads = p.split(separator: ",").compactMap { Int($0) } }
        if let s = value("--seconds") { seconds = Double(s) }
        netgiroBinary = value("--netgiro-binary")
        journalDirectory = value("--journal-dir")
    }

    func wants(_ section: String) -> Bool { only?.contains(section) ?? true }
}

/// `--only …`: runs the sections named (the first two are the original ones) and returns true.
func selectedBenchmarks(_ arguments: [String]) async throws -> Bool {
    let options = AddedOptions(arguments)
    guard let only = options.only else { return false }
    print("netgiro-pos-bridge benchmarks (\(options.quick ? "quick" : "full") run: \(only.sorted().joined(separator: ", ")))")
    print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(ProcessInfo.processInfo.operatingSystemVersionString)")
    print()
    if only.contains("codec") {
        codecBenchmarks(count: options.quick ? 50_000 : 500_000)
        print()
    }
    if only.contains("link") {
        let n = options.quick ? 2_000 : 20_000
        let raw = try rawRoundTrips(count: n)
        let (link, handled) = try await linkRoundTripsBothWays(count: n)
        print(line("pty round trip, raw read/write (the floor)", raw))
        print(line("link round trip, PING 16 B → ACK via PadLink", link, reference: raw))
        print(line("  the same, ACK handled on the line's thread", handled, reference: raw))
        print()
    }
    try await addedBenchmarks(options)
    return true
}

/// The issue-8 sections, each printed as it finishes.
func addedBenchmarks(_ options: AddedOptions) async throws {
    if options.wants("alloc") {
        allocationBenchmarks(count: options.quick ? 2_000 : 20_000)
        print()
    }
    if options.wants("payment") {
        let count = options.quick ? 100 : 500
        // The journal where the daemon keeps it (the machine's disk), then on tmpfs (no fsync cost).
        var places: [String?] = [nil]
        if FileManager.default.fileExists(atPath: "/dev/shm") { places.append("/dev/shm") }
        for place in places {
            let r = try await paymentLatencies(count: count, journalIn: place)
            print("payments through the till API and a pad, journal in \(place ?? "/tmp (disk)") (\(r.tillToPad.histogram.totalCount) samples; outcomes \(r.outcomes.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", ")))")
            print(line("HTTP round trip GET /healthz (reference)", r.healthz))
            print(line("till POST /v1/payments → PROMPT/SHOW_SCREEN read", r.tillToPad, reference: r.healthz))
            print(line("  of which POST → payment calls the terminal", r.tillToTerminalCall))
            print(line("  and terminal call → pad reads the frame", r.terminalCallToPad))
            print(line("bare HTTP POST \(r.insertCartBodyBytes) B → server has it (ref.)", r.barePost))
            print(line("pad writes ENTRY_RESULT → InsertCart arrives", r.entryToInsertCart, reference: r.barePost))
            print(line("  of which ENTRY_RESULT → the terminal answers", r.entryToAnswer))
            print(line("  and answer → InsertCart arrives", r.answerToInsertCart))
            print(line("4 KiB write + fdatasync in the journal's directory", r.fsync))
        }
        print()
    }
    if options.wants("replug") {
        let r = try await replugBenchmarks(count: options.quick ? 6 : 20)
        print("replug → link up (\(r.fixedPathDaemon.histogram.totalCount) replugs each; \(r.missed) without link up in 5 s)")
        print(line("node opened on the hotplug event (no udev)", r.onEvent))
        print(line("fixed path, reopen every 100 ms", r.fixedPathFast, reference: r.onEvent))
        print(line("fixed path, reopen every 1 s (the daemon)", r.fixedPathDaemon, reference: r.onEvent))
        print()
    }
    if options.wants("throughput") {
        let seconds = options.seconds ?? (options.quick ? 4 : 10)
        for pads in options.pads {
            let r = try await throughput(pads: pads, seconds: seconds, netgiroBinary: options.netgiroBinary, journalIn: options.journalDirectory)
            print(throughputLine(r))
        }
        print()
    }
}
