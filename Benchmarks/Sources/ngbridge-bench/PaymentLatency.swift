import Common
import AsyncHTTPClient
import Bridge
import Checkout
import Foundation
import Hummingbird
import Journal
import Logging
import NIOCore
import NIOHTTP1
import NetgiroAPI
import PinpadFirmware
import PinpadProtocol
import SerialLine
import ServiceLifecycle
import Synchronization
import NetgiroSim

#if canImport(Glibc)
import Glibc
#endif

// Issue 8's latency figures through the daemon's own pieces, in this process:
//   till API call → first frame on the pad (POST /v1/payments → the pad reads PROMPT/SHOW_SCREEN)
//   pad entry → InsertCart sent (the pad writes ENTRY_RESULT → Netgíró's side reads InsertCart)
// Bridge: TillAPIServer on a unix socket, DaemonPaymentService, PaymentRunner, PaymentJournal
// (SQLite, synchronous = FULL, in a temporary directory on the machine's disk), NetgiroClient,
// DaemonTerminals.keep(path:) — the path `ngbridge run --set device.path=…` takes.
// The pad: the pad firmware (PadFirmware) on a pty, driven by a thread of this file that
// stamps the time a frame is read from the line and the time ENTRY_RESULT is written.
// Netgíró: a stub HTTP server that stamps the arrival of each request, then passes it on to
// the Netgíró simulator (so the payment completes); response signatures are not checked
// because the stub's URL differs from the simulator's.

/// Nanoseconds of the monotonic clock, comparable across threads of this process.
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

extension Samples {
    mutating func record(nanos: UInt64) { histogram.record(nanos) }
}

/// A pad on a pty: `PadFirmware` driven by one thread, with timestamps at the line. When the
/// customer-id prompt opens, it keys `customerID` and OK at once.
final class TimedPad: @unchecked Sendable {
    struct Log {
        /// Arrival (read returned) of each PROMPT or SHOW_SCREEN data frame from the host.
        var screenFrames: [UInt64] = []
        /// Just before ENTRY_RESULT was written.
        var entryResults: [UInt64] = []
        var linkUp = false
    }

    let pty: PseudoTerminal
    let customerID: String
    let log = Locked(Log())
    private let stopFlag = Atomic<Bool>(false)

    init(path: String, customerID: String, serial: String = "BENCH001") throws {
        pty = try PseudoTerminal(linkPath: path)
        self.customerID = customerID
        let profile = DeviceProfile(serialNumber: Array(serial.utf8))
        let fd = pty.controller.rawValue
        let thread = Thread { [self] in run(fd: fd, profile: profile) }
        thread.name = "timed pad"
        thread.start()
    }

    func stop() {
        stopFlag.store(true, ordering: .relaxed)
    }

    private func run(fd: CInt, profile: DeviceProfile) {
        var firmware = PadFirmware(profile: profile)
        let origin = monotonicNanos()
        func now() -> UInt64 { (monotonicNanos() - origin) / 1_000_000 }
        var decoder = FrameDecoder()
        var outgoing = FrameDecoder()
        func perform(_ actions: [FirmwareAction]) -> [PadKey] {
            var keys: [PadKey] = []
            for action in actions {
                switch action {
                case .write(let bytes):
                    // ENTRY_RESULT goes out on OK, or on the last digit a prompt allows.
                    if outgoing.feed(bytes).contains(where: { if case .frame(let f) = $0 { f.type == MessageType.entryResult.rawValue } else { false } }) {
                        let t = monotonicNanos()
                        log.withLock { $0.entryResults.append(t) }
                    }
                    var written = 0
                    while written < bytes.count {
                        let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                        if n <= 0 { return keys }
                        written += n
                    }
                case .linkUp: log.withLock { $0.linkUp = true }
                case .linkDown: log.withLock { $0.linkUp = false }
                case .promptOpened(_, let id) where id == .customerID:
                    keys = customerID.unicodeScalars.map { PadKey.digit(UInt8($0.value - 48)) } + [.ok]
                default: break
                }
            }
            return keys
        }
        func press(_ keys: [PadKey]) {
            for key in keys { _ = perform(firmware.handle(.key(key), now: now())) }
        }
        press(perform(firmware.handle(.lineOpened, now: now())))
        var buffer = [UInt8](repeating: 0, count: 4096)
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !stopFlag.load(ordering: .relaxed) {
            let wait = firmware.nextDeadline.map { Int32(clamping: Int64($0) - Int64(now())) } ?? 100
            pfd.revents = 0
            if poll(&pfd, 1, max(0, min(wait, 100))) > 0 {
                let n = read(fd, &buffer, buffer.count)
                let t = monotonicNanos()
                if n <= 0 {
                    if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                    // Nobody has the device side open (EIO): wait for the host to open it.
                    usleep(1000)
                    continue
                }
                let bytes = Array(buffer[0..<n])
                for case .frame(let f) in decoder.feed(bytes)
                where f.type == MessageType.prompt.rawValue || f.type == MessageType.showScreen.rawValue {
                    log.withLock { $0.screenFrames.append(t) }
                }
                press(perform(firmware.handle(.received(bytes), now: now())))
            }
            press(perform(firmware.handle(.tick, now: now())))
        }
        pty.close()
    }
}

/// Stands in front of Netgíró: stamps each request's arrival (the head has been parsed), then
/// passes it on to `upstream` (when set) and answers with what came back.
final class StampingStub: Sendable {
    struct Arrival: Sendable {
        var path: String
        var at: UInt64
        var bodyBytes: Int
    }

    let arrivals = Locked<[Arrival]>([])
    let port: Int
    private let task: Task<Void, any Error>
    private let http: HTTPClient

    private init(port: Int, task: Task<Void, any Error>, http: HTTPClient) {
        self.port = port
        self.task = task
        self.http = http
    }

    var origin: String { "http://127.0.0.1:\(port)" }

    static func start(upstream: String?, logger: Logger) async throws -> StampingStub {
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
        let box = Locked<StampingStub?>(nil)
        let responder = CallbackResponder<BasicRequestContext> { request, _ in
            let at = monotonicNanos()
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            let path = request.uri.path
            guard let stub = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            stub.arrivals.withLock { $0.append(Arrival(path: path, at: at, bodyBytes: body.readableBytes)) }
            guard let upstream else { return Response(status: .ok) }
            var forward = HTTPClientRequest(url: upstream + request.uri.description)
            forward.method = .POST
            // Host too: the simulator checks the signature over the URL as the client called it.
            for field in request.headers where field.name.canonicalName != "content-length" {
                forward.headers.add(name: field.name.rawName, value: field.value)
            }
            if let authority = request.head.authority { forward.headers.replaceOrAdd(name: "Host", value: authority) }
            forward.body = .bytes(body)
            let answer = try await stub.http.execute(forward, timeout: .seconds(30))
            let bytes = try await answer.body.collect(upTo: 1 << 20)
            // Response signatures are not checked by this client: the body and its type suffice.
            return Response(
                status: .init(code: Int(answer.status.code)), headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: bytes))
        }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            responder: responder,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "stub"),
            onServerRunning: { channel in portSink.yield(channel.localAddress?.port ?? 0); portSink.finish() },
            logger: logger)
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw POSIXError(.EADDRNOTAVAIL) }
        let stub = StampingStub(port: port, task: task, http: http)
        box.withLock { $0 = stub }
        return stub
    }

    func shutdown() async {
        task.cancel()
        _ = try? await task.value
        try? await http.shutdown()
    }
}

/// A quiet logger: the benchmarks measure the work, not the log's formatting.
func benchLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .critical
    return logger
}

/// The daemon's payment path, in process, on `terminals` (already following a pad).
final class BridgeInProcess: Sendable {
    let netgiro: NetgiroClient
    let journal: PaymentJournal
    let runner: PaymentRunner
    let service: DaemonPaymentService
    let client: TillAPIClient
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(netgiro: NetgiroClient, journal: PaymentJournal, runner: PaymentRunner, service: DaemonPaymentService,
                 client: TillAPIClient, group: ServiceGroup, task: Task<Void, any Error>) {
        self.netgiro = netgiro
        self.journal = journal
        self.runner = runner
        self.service = service
        self.client = client
        self.group = group
        self.task = task
    }

    static func start(
        netgiroBaseURL: String, terminals: any PaymentTerminals, directory: String, journalDirectory: String? = nil,
        checkout: Checkout.Configuration
    ) async throws -> BridgeInProcess {
        let logger = benchLogger("ngbridge.bench")
        let configuration = try NetgiroConfiguration(
            baseURL: netgiroBaseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox, responseSignatures: .off)
        let netgiro = NetgiroClient(configuration: configuration, logger: logger)
        let journal = try PaymentJournal(path: (journalDirectory ?? directory) + "/journal.sqlite")
        let runner = PaymentRunner(gateway: netgiro, journal: journal, configuration: checkout, logger: logger)
        let metrics = TillAPIMetrics()
        let service = DaemonPaymentService(
            runner: runner, terminals: terminals, settings: .init(defaultConfirmation: .automatic), metrics: metrics, logger: logger)
        let (bound, boundSink) = AsyncStream.makeStream(of: DaemonConfiguration.ListenAddress.self)
        let api = TillAPIServer(options: .init(listen: .unix(path: directory + "/api.sock")), service: service, metrics: metrics, logger: logger)
            .application { address in boundSink.yield(address); boundSink.finish() }
        let group = ServiceGroup(configuration: .init(services: [api], logger: logger))
        let task = Task { try await group.run() }
        var iterator = bound.makeAsyncIterator()
        guard let address = await iterator.next() else { throw POSIXError(.EADDRNOTAVAIL) }
        return BridgeInProcess(
            netgiro: netgiro, journal: journal, runner: runner, service: service, client: TillAPIClient(address: address),
            group: group, task: task)
    }

    func stop() async {
        await client.shutdown()
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        try? await netgiro.shutdown()
        try? journal.close()
    }

    /// Waits until payment `id` is final (without polling); returns its state.
    func waitFinal(_ id: String) async -> TillPaymentState? {
        guard let handle = await runner.payment(id: id) else { return nil }
        _ = await handle.finalRecord()
        return await service.payment(id: id)?.state
    }
}

func benchDirectory(_ name: String) throws -> String {
    // Under /tmp (the machine's disk here, not tmpfs): unix socket paths must stay short.
    let path = "/tmp/ngb-\(name)-\(getpid())"
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// The daemon's terminals, with the moments the payment calls into the pad's terminal (show or
/// ask) and the moments an answer comes back from it, for splitting the latencies in two.
struct StampedTerminals: PaymentTerminals {
    let inner: DaemonTerminals
    let calls = Locked<[UInt64]>([])
    let answers = Locked<[UInt64]>([])
    func terminal(_ id: String) async -> (any CustomerTerminal)? {
        guard let t = await inner.terminal(id) else { return nil }
        return StampedTerminal(inner: t, calls: calls, answers: answers)
    }
    func onlineIDs() async -> [String] { await inner.onlineIDs() }
    func list() async -> [TillTerminal] { await inner.list() }
}

struct StampedTerminal: CustomerTerminal {
    let inner: any CustomerTerminal
    let calls: Locked<[UInt64]>
    let answers: Locked<[UInt64]>
    var terminalID: String { inner.terminalID }
    var owner: (any Actor)? { inner.owner }
    nonisolated(nonsending) func paymentStarted() async { await inner.paymentStarted() }
    nonisolated(nonsending) func paymentEnded() async { await inner.paymentEnded() }
    nonisolated(nonsending) func show(_ screen: CustomerScreen) async {
        let t = monotonicNanos()
        calls.withLock { $0.append(t) }
        await inner.show(screen)
    }
    nonisolated(nonsending) func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async {
        let t = monotonicNanos()
        calls.withLock { $0.append(t) }
        let answers = self.answers
        await inner.prompt(prompt, id: id) { entry in
            let a = monotonicNanos()
            answers.withLock { $0.append(a) }
            reply(entry)
        }
    }
    nonisolated(nonsending) func withdrawPrompt(_ id: Int) async { await inner.withdrawPrompt(id) }
}

struct PaymentLatencyResult {
    /// POST sent → the payment calls the terminal (show/ask); → the pad reads the frame.
    var tillToTerminalCall = Samples()
    var terminalCallToPad = Samples()
    /// ENTRY_RESULT written → the terminal replies with the entry; → InsertCart arrives.
    var entryToAnswer = Samples()
    var answerToInsertCart = Samples()
    var tillToPad = Samples()
    var healthz = Samples()
    var entryToInsertCart = Samples()
    var barePost = Samples()
    var insertCartBodyBytes = 0
    var outcomes: [TillPaymentState: Int] = [:]
    var journalDirectory = ""
    var fsync = Samples()
}

/// fdatasync of a 4 KiB write in `directory`: what one durable journal commit waits for at least.
func fsyncSamples(directory: String, count: Int) -> Samples {
    var samples = Samples()
    let path = directory + "/fsync-probe"
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
    guard fd >= 0 else { return samples }
    defer { close(fd); unlink(path) }
    let page = [UInt8](repeating: 0x5A, count: 4096)
    for i in 0..<count {
        let t0 = monotonicNanos()
        _ = pwrite(fd, page, page.count, off_t((i % 16) * 4096))
        _ = fdatasync(fd)
        samples.record(nanos: monotonicNanos() - t0)
    }
    return samples
}

/// Benchmarks 1 and 2: `count` payments one after another through the till API, the bridge
/// and the pad; the HTTP references interleaved with them.
func paymentLatencies(count: Int, journalIn journalParent: String? = nil) async throws -> PaymentLatencyResult {
    let dir = try benchDirectory("latency")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var journalDirectory: String?
    if let journalParent {
        journalDirectory = journalParent + "/ngb-journal-\(getpid())"
        try FileManager.default.createDirectory(atPath: journalDirectory!, withIntermediateDirectories: true)
    }
    defer { if let journalDirectory { try? FileManager.default.removeItem(atPath: journalDirectory) } }
    let logger = benchLogger("bench")

    var simOptions = NetgiroSimulator.Options()
    simOptions.core = .init(customers: NetgiroSimCustomers(acceptDelay: .zero), checkInterval: .milliseconds(10))
    simOptions.logger = logger
    let simulator = try await NetgiroSimulator.start(simOptions)
    let stub = try await StampingStub.start(upstream: simulator.origin, logger: logger)

    // The app-code customer: InsertCart itself pays; no app, no SMS.
    let pad = try TimedPad(path: dir + "/pad0", customerID: NetgiroSimCustomers.appCodePrefix + "1234")
    let terminals = DaemonTerminals(hello: HostHello(hostName: Array("bench".utf8)), reconnectGrace: .seconds(30), logger: logger)
    let padTask = Task { await terminals.keep(path: dir + "/pad0") }
    var checkout = Checkout.Configuration()
    checkout.pollIntervalBounds = .milliseconds(10) ... .seconds(5)
    checkout.outcomeDisplay = .milliseconds(1)
    let stamped = StampedTerminals(inner: terminals)
    let bridge = try await BridgeInProcess.start(
        netgiroBaseURL: stub.origin + NetgiroSimWire.basePath, terminals: stamped, directory: dir,
        journalDirectory: journalDirectory, checkout: checkout)
    let linkDeadline = ContinuousClock.now + .seconds(15)
    while await terminals.onlineIDs().isEmpty {
        guard ContinuousClock.now < linkDeadline else { throw POSIXError(.ETIMEDOUT) }
        try await Task.sleep(for: .milliseconds(5))
    }

    let refHTTP = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: .init(redirectConfiguration: .disallow))
    var result = PaymentLatencyResult()
    result.journalDirectory = journalDirectory ?? dir
    let warmUp = 20
    var i = 0
    var done = 0
    while done < count + warmUp {
        i += 1
        // Quiet line: the last payment's outcome and idle screens are out.
        try await Task.sleep(for: .milliseconds(5))
        let framesBefore = pad.log.withLock { $0.screenFrames.count }
        let entriesBefore = pad.log.withLock { $0.entryResults.count }
        let insertsBefore = stub.arrivals.withLock { $0.filter { $0.path.hasSuffix("InsertCart") }.count }
        let callsBefore = stamped.calls.withLock { $0.count }
        let answersBefore = stamped.answers.withLock { $0.count }
        let body = #"{"amount": 4990, "reference": "LAT-\#(i)", "description": "Kaffi"}"#
        let t0 = monotonicNanos()
        let answer = try await bridge.client.request(.POST, "/v1/payments", body: Data(body.utf8))
        guard answer.status == 201, let payment = try? answer.decode(TillPayment.self) else {
            try await Task.sleep(for: .milliseconds(20))  // the pad still busy with the last one
            continue
        }
        let state = await bridge.waitFinal(payment.id)
        result.outcomes[state ?? .unknown, default: 0] += 1
        let frame = pad.log.withLock { log in log.screenFrames.dropFirst(framesBefore).first { $0 > t0 } }
        let entry = pad.log.withLock { $0.entryResults.count > entriesBefore ? $0.entryResults[entriesBefore] : nil }
        let insert = stub.arrivals.withLock { $0.filter { $0.path.hasSuffix("InsertCart") }.dropFirst(insertsBefore).first }
        let call = stamped.calls.withLock { $0.count > callsBefore ? $0[callsBefore] : nil }
        let answer1 = stamped.answers.withLock { $0.count > answersBefore ? $0[answersBefore] : nil }

        // The references, right after, on the same connections and loops.
        let r0 = monotonicNanos()
        let health = try await bridge.client.request(.GET, "/healthz")
        let r1 = monotonicNanos()
        var bare = HTTPClientRequest(url: stub.origin + "/bare")
        bare.method = .POST
        bare.headers.add(name: "Content-Type", value: "application/json")
        bare.body = .bytes(ByteBuffer(repeating: UInt8(ascii: "x"), count: insert?.bodyBytes ?? 200))
        let b0 = monotonicNanos()
        let bareAnswer = try await refHTTP.execute(bare, timeout: .seconds(10))
        _ = try await bareAnswer.body.collect(upTo: 1 << 16)
        let bareArrival = stub.arrivals.withLock { $0.last { $0.path == "/bare" }?.at }

        done += 1
        guard done > warmUp else { continue }
        if let frame { result.tillToPad.record(nanos: frame - t0) }
        if let frame, let call, call > t0, frame > call {
            result.tillToTerminalCall.record(nanos: call - t0)
            result.terminalCallToPad.record(nanos: frame - call)
        }
        if let entry, let answer1, let insert, answer1 > entry, insert.at > answer1 {
            result.entryToAnswer.record(nanos: answer1 - entry)
            result.answerToInsertCart.record(nanos: insert.at - answer1)
        }
        if health.status == 200 { result.healthz.record(nanos: r1 - r0) }
        if let entry, let insert, insert.at > entry { result.entryToInsertCart.record(nanos: insert.at - entry) }
        if let bareArrival, bareArrival > b0 { result.barePost.record(nanos: bareArrival - b0) }
        if let insert { result.insertCartBodyBytes = insert.bodyBytes }
    }
    result.fsync = fsyncSamples(directory: journalDirectory ?? dir, count: 200)
    try? await refHTTP.shutdown()
    await bridge.stop()
    padTask.cancel()
    await terminals.closeAll()
    pad.stop()
    await stub.shutdown()
    await simulator.shutdown()
    return result
}
