import Common
import Bridge
import Checkout
import Foundation
import Journal
import Logging
import NetgiroAPI
import PinpadFirmware
import PinpadProtocol
import SerialLine
import NetgiroSim
import PinpadSim

#if canImport(Glibc)
import Glibc
#endif

// Payments per second with N simulated pads, all at once, through both simulators:
// each pad is a PinpadSimulator (the pad firmware on its own pty and thread) whose customer
// keys a phone number as soon as the customer-id prompt opens; the bridge is what the daemon
// runs — PadLine.keepOpen → PadLink → PadTerminal per pad, one DaemonPaymentService,
// PaymentRunner, PaymentJournal (SQLite, synchronous = FULL, on the machine's disk) and
// NetgiroClient — and the till is a task per pad calling the payment service directly
// (start → wait for the outcome → next; no HTTP between till and bridge).
// Netgíró: the simulator, in this process, or with --netgiro-binary PATH as `PATH sim netgiro`
// in its own process (then its CPU time is read from /proc apart from the bridge's).
// Customer: GSM 8223281, accepts at once (accept delay 0), automatic confirmation; the
// simulator announces a 10 ms ProcessCartCheckInterval and the bridge polls no faster than that.

struct ThroughputResult {
    var pads: Int
    var seconds: Double
    var journal = ""
    var paid = 0
    var other = 0
    var otherPhases: [String: Int] = [:]
    var simulatorThreadsSeen = 0
    var latency = Samples()
    var cpu = CPUSplit()
    /// Journal writes and commits (fsyncs) over the window: fewer commits than writes when
    /// payments' writes were committed together.
    var journalWrites = JournalWriteCounts()
    var perSecond: Double { Double(paid) / seconds }
}

/// CPU seconds over the measured window: the pad simulators' threads, the rest of this process
/// (the bridge, the till tasks, and Netgíró when it runs in process), and Netgíró's process.
struct CPUSplit {
    var padSimulators = 0.0
    var restOfProcess = 0.0
    var netgiroProcess: Double?
}

/// The kernel's id of the calling thread (from /proc/thread-self → "PID/task/TID").
func currentThreadID() -> pid_t? {
    guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
    return target.split(separator: "/").last.flatMap { pid_t($0) }
}

/// utime + stime of every thread of this process, by thread id and name (comm, 15 characters;
/// Foundation's Thread.name does not reach it here, so the pad simulators are told by thread id).
func threadCPU() -> [(tid: pid_t, name: String, seconds: Double)] {
    let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
    guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
    return tids.compactMap { tid in
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return nil }
        let name = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
        return (pid_t(tid) ?? 0, name, (u + s) / tick)
    }
}

/// utime + stime of process `pid`, from /proc.
func benchProcessCPU(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let u = Double(fields[11]), let s = Double(fields[12]) else { return nil }
    return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

struct CPUSnapshot {
    var pads = 0.0
    var all = 0.0
    var netgiro: Double?
    static func take(netgiroPID: Int32?, simulatorThreads: Set<pid_t>) -> CPUSnapshot {
        var s = CPUSnapshot()
        // Threads that ended in between are lost from the per-thread sums; none end while measuring.
        for t in threadCPU() {
            s.all += t.seconds
            if simulatorThreads.contains(t.tid) { s.pads += t.seconds }
        }
        s.netgiro = netgiroPID.flatMap(benchProcessCPU)
        return s
    }
}

/// The terminals of the benchmark: one PadTerminal per pad, all online.
struct ManyPads: PaymentTerminals {
    let pads: [String: PadTerminal]
    func terminal(_ id: String) async -> (any CustomerTerminal)? { pads[id] }
    func onlineIDs() async -> [String] { pads.keys.sorted() }
    func list() async -> [TillTerminal] { pads.keys.sorted().map { TillTerminal(id: $0, status: "online") } }
}

/// `ngbridge sim netgiro` in its own process; its event lines go to a file.
final class ExternalNetgiro {
    let process = Process()
    let baseURL: String
    init(binary: String, directory: String) throws {
        let out = directory + "/netgiro.log"
        FileManager.default.createFile(atPath: out, contents: nil)
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["sim", "netgiro", "--port", "0", "--accept-delay-ms", "0", "--check-interval-ms", "10"]
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: out)
        try process.run()
        var found: String?
        for _ in 0..<300 where found == nil {
            usleep(20_000)
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let r = text.range(of: "base URL ") {
                found = String(text[r.upperBound...].prefix { !$0.isWhitespace && $0 != ";" })
            }
        }
        guard let found else {
            process.terminate()
            throw POSIXError(.ETIMEDOUT)
        }
        baseURL = found
    }
    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

func throughput(
    pads count: Int, seconds: Double, warmUp: Double = 1.5, netgiroBinary: String?, journalIn journalParent: String? = nil
) async throws -> ThroughputResult {
    let dir = try benchDirectory("tput\(count)")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var journalDirectory = dir
    if let journalParent {
        journalDirectory = journalParent + "/ngb-journal-tput-\(getpid())"
        try FileManager.default.createDirectory(atPath: journalDirectory, withIntermediateDirectories: true)
    }
    defer { if journalParent != nil { try? FileManager.default.removeItem(atPath: journalDirectory) } }
    let logger = benchLogger("bench")

    var simulator: NetgiroSimulator?
    var external: ExternalNetgiro?
    let baseURL: String
    if let netgiroBinary {
        let e = try ExternalNetgiro(binary: netgiroBinary, directory: dir)
        external = e
        baseURL = e.baseURL
    } else {
        var options = NetgiroSimulator.Options()
        options.core = .init(customers: NetgiroSimCustomers(acceptDelay: .zero), checkInterval: .milliseconds(10))
        options.logger = logger
        let s = try await NetgiroSimulator.start(options)
        simulator = s
        baseURL = s.baseURL
    }

    let hello = HostHello(hostName: Array("bench".utf8))
    let simulatorThreads = Locked(Set<pid_t>())
    var sims: [PinpadSimulator] = []
    var terminals: [String: PadTerminal] = [:]
    var lines: [Task<Void, Never>] = []
    for k in 0..<count {
        let id = String(format: "SIM%05d", k + 1)
        let path = dir + "/pad\(k)"
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path, profile: DeviceProfile(serialNumber: Array(id.utf8))))
        // The customer: keys the phone number the moment the customer-id prompt opens.
        let lastSerial = Locked(0)
        pad.onChange { [weak pad] snapshot in
            if let tid = currentThreadID() { simulatorThreads.withLock { _ = $0.insert(tid) } }
            guard let prompt = snapshot.prompt, prompt.id == .customerID else { return }
            let fresh = lastSerial.withLock { last in
                defer { last = max(last, prompt.serial) }
                return prompt.serial > last
            }
            guard fresh, let pad else { return }
            pad.type(NetgiroSimCustomers.acceptingGSM)
            pad.press(.ok)
        }
        pad.start()
        sims.append(pad)
        let terminal = PadTerminal(terminalID: id, reconnectGrace: .seconds(10))
        terminals[id] = terminal
        lines.append(Task { await PadLine.keepOpen(path: path, terminal: terminal, hello: hello, retryInterval: .milliseconds(200)) })
    }
    for pad in sims { _ = await pad.waitForLink(up: true, timeout: .seconds(30)) }

    var checkout = Checkout.Configuration()
    checkout.pollIntervalBounds = .milliseconds(10) ... .seconds(5)
    checkout.outcomeDisplay = .milliseconds(1)
    let configuration = try NetgiroConfiguration(
        baseURL: baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox, responseSignatures: .verify)
    let client = NetgiroClient(configuration: configuration, logger: logger)
    let journal = try PaymentJournal(path: journalDirectory + "/journal.sqlite")
    let runner = PaymentRunner(gateway: client, journal: journal, configuration: checkout, logger: logger)
    let service = DaemonPaymentService(
        runner: runner, terminals: ManyPads(pads: terminals), settings: .init(defaultConfirmation: .automatic), metrics: TillAPIMetrics(),
        logger: logger)

    struct Tally {
        var measuring = false
        var stopping = false
        var paid = 0
        var other = 0
        var otherPhases: [String: Int] = [:]
        var latency = Samples()
    }
    let tally = Locked(Tally())
    var result0SimThreads = 0
    let tills = terminals.keys.sorted().map { id in
        Task {
            var n = 0
            while !tally.withLock({ $0.stopping }) {
                n += 1
                let started = monotonicNanos()
                let request = TillPaymentRequest(amount: 1_000 + n, reference: "\(id)-\(n)", terminal: id)
                guard let start = try? await service.start(request, idempotencyKey: nil) else {
                    try? await Task.sleep(for: .milliseconds(1))  // the pad's last payment is still being let go
                    continue
                }
                guard let handle = await runner.payment(id: start.payment.id) else { continue }
                let record = await handle.finalRecord()
                let ended = monotonicNanos()
                tally.withLock { t in
                    guard t.measuring else { return }
                    if record.phase == .paid {
                        t.paid += 1
                    } else {
                        t.other += 1
                        t.otherPhases["\(record.phase.rawValue): \(record.outcome?.lastMessage ?? "")", default: 0] += 1
                    }
                    t.latency.record(nanos: ended - started)
                }
            }
        }
    }
    try await Task.sleep(for: .milliseconds(Int(warmUp * 1000)))
    let netgiroPID = external.map { $0.process.processIdentifier }
    let simTIDs = simulatorThreads.withLock { $0 }
    let cpu0 = CPUSnapshot.take(netgiroPID: netgiroPID, simulatorThreads: simTIDs)
    let t0 = monotonicNanos()
    let writes0 = journal.writeCounts
    tally.withLock { $0.measuring = true }
    try await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
    tally.withLock { $0.measuring = false }
    let t1 = monotonicNanos()
    let writes1 = journal.writeCounts
    let cpu1 = CPUSnapshot.take(netgiroPID: netgiroPID, simulatorThreads: simTIDs)
    result0SimThreads = simTIDs.count
    tally.withLock { $0.stopping = true }
    for till in tills { await till.value }

    let final = tally.withLock { $0 }
    var result = ThroughputResult(pads: count, seconds: Double(t1 - t0) / 1e9)
    result.simulatorThreadsSeen = result0SimThreads
    result.paid = final.paid
    result.other = final.other
    result.otherPhases = final.otherPhases
    result.journal = journalParent ?? "/tmp (disk)"
    result.latency = final.latency
    result.journalWrites = JournalWriteCounts(writes: writes1.writes - writes0.writes, commits: writes1.commits - writes0.commits)
    result.cpu.padSimulators = cpu1.pads - cpu0.pads
    result.cpu.restOfProcess = (cpu1.all - cpu0.all) - result.cpu.padSimulators
    if let a = cpu0.netgiro, let b = cpu1.netgiro { result.cpu.netgiroProcess = b - a }

    for line in lines { line.cancel() }
    for pad in sims { pad.stop() }
    for pad in sims { await pad.waitUntilStopped() }
    try? await client.shutdown()
    try? journal.close()
    await simulator?.shutdown()
    external?.stop()
    return result
}

func throughputLine(_ r: ThroughputResult) -> String {
    var out = String(
        format: "payments/s with %2d pads, journal in %@   %7.1f /s  (%d paid, %d other in %.1f s)   payment median %6.1f ms  p99 %6.1f ms",
        r.pads, r.journal as NSString, r.perSecond, r.paid, r.other, r.seconds, r.latency.median / 1000, r.latency.p99 / 1000)
    for (phase, n) in r.otherPhases.sorted(by: { $0.value > $1.value }) { out += "\n    not paid: \(n) × \(phase)" }
    let c = r.cpu
    let total = c.padSimulators + c.restOfProcess + (c.netgiroProcess ?? 0)
    out += String(format: "\n    CPU %.2f s in %.1f s (%.0f%% of 2 cores): pad simulators (%d threads) %.2f s", total, r.seconds, total / r.seconds / 2 * 100, r.simulatorThreadsSeen, c.padSimulators)
    if let n = c.netgiroProcess {
        out += String(format: ", Netgíró simulator (own process) %.2f s, bridge + tills %.2f s ", n, c.restOfProcess)
    } else {
        out += String(format: ", bridge + tills + Netgíró simulator (in process) %.2f s", c.restOfProcess)
    }
    if r.paid > 0 {
        out += String(format: "; %.2f ms CPU per payment", total / Double(r.paid) * 1000)
    }
    let w = r.journalWrites
    if w.commits > 0 {
        out += String(format: "\n    journal: %d writes in %d commits (%.2f writes per fsync)", w.writes, w.commits, Double(w.writes) / Double(w.commits))
    }
    return out
}
