import Admission
import Checkout
import Common
import DeviceWatch
import Foundation
import Logging
import PinpadProtocol
import SerialLine

/// Something that knows terminals by id: the daemon's sessions, or a test's scripted customers.
public protocol PaymentTerminals: Sendable {
    func terminal(_ id: String) async -> (any CustomerTerminal)?
    func onlineIDs() async -> [String]
    func list() async -> [TillTerminal]
    /// A stream that yields whenever a terminal comes, goes or changes link state, so that a
    /// request waiting for an absent pad looks again at once rather than on a timer; nil when
    /// the source cannot tell (it is then looked at every 50 ms).
    func watchChanges() async -> AsyncStream<Void>?
    /// What admission looks at, in one call: every terminal, the linked ones, and the prompts
    /// each linked pad announced.
    func admissionTerminals() async -> Admission.Terminals
}

extension PaymentTerminals {
    public func watchChanges() async -> AsyncStream<Void>? { nil }

    public func admissionTerminals() async -> Admission.Terminals {
        let listed = await list()
        return Admission.Terminals(
            known: listed.map(\.id), online: await onlineIDs(),
            prompts: Dictionary(listed.compactMap { t in t.prompts.map { (t.id, $0) } }, uniquingKeysWith: { a, _ in a }))
    }
}

/// Returns at the first change `changes` reports (or its end), or at `deadline`, whichever
/// comes first; with no stream, after 50 ms at most. Both waits are children of this call. For
/// a wait on an absent pad: `changes` is ``PaymentTerminals/watchChanges()``, taken before looking.
func firstTerminalChange(_ changes: AsyncStream<Void>?, orAt deadline: Date) async {
    let left = Duration.milliseconds(Int64(max(0, deadline.timeIntervalSinceNow * 1000).rounded(.up)))
    guard let changes else {
        try? await Task.sleep(for: min(left, .milliseconds(50)))
        return
    }
    await withTaskGroup(of: Void.self) { group in
        group.addTask { for await _ in changes { return } }
        group.addTask { try? await Task.sleep(for: left) }
        await group.next()
        group.cancelAll()
    }
}

/// The daemon's terminal sessions: one ``PadTerminal`` per pad, named by the pad's serial
/// number, kept across unplug and replug so a payment waiting on a pad picks it up again.
///
/// Pads come from `DeviceWatch` (hotplug, `device.match`) or from one fixed path
/// (`device.path`, e.g. a simulator's pty), reopened after loss. A pad at a fixed path is named
/// by the serial number it reports in HELLO_REPLY: the line is opened once to learn it.
public actor DaemonTerminals: PaymentTerminals {
    struct Session {
        let terminal: PadTerminal
        var path: String?
        var online = false
        var info: DeviceInfo?
        /// The pad answered HELLO with no version in common (until it links).
        var incompatible: DeviceInfo?
        /// The hotplugged pad's open line (closing it ends its `PadLine.serve`).
        var port: SerialPort?
    }

    private var sessions: [String: Session] = [:]
    /// Who hears of a change, by a key each listener's stream drops itself by when its reader
    /// is done with it (every new payment listens while it looks). Lock: a stream ends on its
    /// reader's side, synchronously and outside this actor.
    private nonisolated let changeListeners = Locked<(next: Int, listeners: [Int: AsyncStream<Void>.Continuation])>((0, [:]))
    let hello: HostHello
    let reconnectGrace: Duration
    let entryTimeout: Duration?
    let tokenStore: (any PromptTokenStore)?
    let logger: Logger
    /// Every terminal's link reports, each terminal's in its order, into this actor.
    private nonisolated let statusInbox: AsyncStream<(String, PadTerminal.TerminalStatus)>.Continuation

    public init(
        hello: HostHello, reconnectGrace: Duration, entryTimeout: Duration? = nil, tokenStore: (any PromptTokenStore)? = nil,
        logger: Logger
    ) {
        self.hello = hello
        self.reconnectGrace = reconnectGrace
        self.entryTimeout = entryTimeout
        self.tokenStore = tokenStore
        self.logger = logger
        let (reports, statusInbox) = AsyncStream.makeStream(of: (String, PadTerminal.TerminalStatus).self)
        self.statusInbox = statusInbox
        // One for all terminals, for as long as this table exists (it ends when the inbox is
        // finished, in deinit): unstructured because the table outlives whoever made it, and an
        // actor's state can only be changed on the actor, not from the terminal's loop.
        Task { [weak self] in
            for await (id, status) in reports { await self?.update(id, status) }
        }
    }

    deinit {
        statusInbox.finish()
    }

    public func pad(_ id: String) -> PadTerminal? { sessions[id]?.terminal }

    public func terminal(_ id: String) -> (any CustomerTerminal)? { sessions[id]?.terminal }

    public var ids: [String] { sessions.keys.sorted() }

    public func onlineIDs() -> [String] { sessions.filter { $0.value.online }.keys.sorted() }

    public func isOnline(_ id: String) -> Bool { sessions[id]?.online ?? false }

    /// The same terminals and prompts as ``list()`` gives admission, without the till's view
    /// of each pad (names decoded, problems described) that a new payment does not need.
    public func admissionTerminals() -> Admission.Terminals {
        var online: [String] = []
        var prompts: [String: [String]] = [:]
        for (id, s) in sessions where s.online {
            online.append(id)
            if let info = s.info { prompts[id] = Self.promptNames(info) }
        }
        return Admission.Terminals(known: sessions.keys, online: online, prompts: prompts)
    }

    public func list() -> [TillTerminal] {
        sessions.keys.sorted().map { id in
            let s = sessions[id]!
            if !s.online, let pad = s.incompatible {
                return TillTerminal(
                    id: id, status: "incompatible", model: String(decoding: pad.model, as: UTF8.self),
                    firmware: String(decoding: pad.firmwareVersion, as: UTF8.self), path: s.path,
                    detail: Self.incompatibility(pad, hello: hello))
            }
            var terminal = TillTerminal(
                id: id, status: s.online ? "online" : "offline",
                model: s.info.map { String(decoding: $0.model, as: UTF8.self) },
                firmware: s.info.map { String(decoding: $0.firmwareVersion, as: UTF8.self) }, path: s.path)
            if s.online, let info = s.info {
                terminal.prompts = Self.promptNames(info)
                terminal.detail = Self.promptProblem(info)
            }
            return terminal
        }
    }

    /// Each terminal's link state and counters, for `/metrics`.
    public func linkSnapshots() async -> [TerminalLinkSnapshot] {
        var snapshots: [TerminalLinkSnapshot] = []
        for id in sessions.keys.sorted() {
            guard let s = sessions[id] else { continue }
            snapshots.append(TerminalLinkSnapshot(terminal: id, linked: s.online, statistics: await s.terminal.linkStatistics))
        }
        return snapshots
    }

    /// Fires whenever a terminal comes or goes or changes link state. A listener whose stream
    /// has ended (its reader gone) is dropped at the next change.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let key = changeListeners.withLock { table in
            table.next += 1
            table.listeners[table.next] = continuation
            return table.next
        }
        let listeners = changeListeners
        continuation.onTermination = { _ in _ = listeners.withLock { $0.listeners.removeValue(forKey: key) } }
        return stream
    }

    public func watchChanges() -> AsyncStream<Void>? { changes() }

    /// How many change listeners are registered now.
    nonisolated var changeListenerCount: Int { changeListeners.withLock { $0.listeners.count } }

    /// Adds a terminal that is not a pad (tests, the demo's scripted customer) — or returns the
    /// session's terminal if one by that id exists.
    @discardableResult
    func session(for id: String, path: String?) -> PadTerminal {
        if let existing = sessions[id] {
            if let path { sessions[id]?.path = path }
            return existing.terminal
        }
        let inbox = statusInbox
        let terminal = PadTerminal(
            terminalID: id,
            configuration: TerminalSession.Configuration(reconnectGrace: reconnectGrace, entryTimeout: entryTimeout),
            tokenStore: tokenStore, statusSink: { inbox.yield((id, $0)) })
        sessions[id] = Session(terminal: terminal, path: path)
        notify()
        return terminal
    }

    private func update(_ id: String, _ status: PadTerminal.TerminalStatus) {
        switch status {
        case .incompatible(let pad):
            let first = sessions[id]?.incompatible == nil
            sessions[id]?.incompatible = pad
            if first {  // once per pad, not at every HELLO
                logger.warning(
                    "PIN pad speaks no protocol version of this host; it cannot take payments",
                    metadata: [
                        "terminal": "\(id)", "detail": "\(Self.incompatibility(pad, hello: hello))",
                        "model": "\(String(decoding: pad.model, as: UTF8.self))",
                        "firmware": "\(String(decoding: pad.firmwareVersion, as: UTF8.self))",
                        "serial": "\(String(decoding: pad.serialNumber, as: UTF8.self))",
                    ])
            }
        case .linkUp(let info):
            sessions[id]?.online = true
            sessions[id]?.incompatible = nil
            sessions[id]?.info = info
            logger.info(
                "terminal linked",
                metadata: ["terminal": "\(id)", "model": "\(String(decoding: info.model, as: UTF8.self))", "firmware": "\(String(decoding: info.firmwareVersion, as: UTF8.self))"])
        case .linkDown(let reason):
            sessions[id]?.online = false
            logger.notice("terminal link down", metadata: ["terminal": "\(id)", "reason": "\(reason)"])
        case .lineClosed:
            sessions[id]?.online = false
            logger.notice("terminal line closed", metadata: ["terminal": "\(id)"])
        }
        notify()
    }

    /// The prompts a pad announced, by the till API's names.
    static func promptNames(_ info: DeviceInfo) -> [String] {
        info.prompts.map { spec in
            switch spec.id {
            case .customerID: return "customer-id"
            case .smsCode: return "sms-code"
            case .confirmAmount: return "confirm-amount"
            default: return "0x" + String(spec.id.rawValue, radix: 16)
            }
        }
    }

    /// Why a linked pad cannot take payments (v1.1 D4), or nil.
    static func promptProblem(_ info: DeviceInfo) -> String? {
        guard info.prompt(.customerID) == nil else { return nil }
        return "cannot take payments: the pad announced no customer-id prompt (PROTOCOL.md §5.2); it needs firmware with one"
    }

    /// Why a pad cannot be used, in words a person can act on.
    static func incompatibility(_ pad: DeviceInfo, hello: HostHello) -> String {
        let host = hello.minVersion == hello.maxVersion ? "\(hello.minVersion)" : "\(hello.minVersion)–\(hello.maxVersion)"
        let padSays = pad.version == 0 ? "no version in common (HELLO_REPLY version 0)" : "version \(pad.version)"
        return "the pad answered \(padSays); this host speaks protocol version \(host): update the pad's firmware or ngbridge"
    }

    private func notify() {
        for listener in changeListeners.withLock({ Array($0.listeners.values) }) { listener.yield() }
    }

    // MARK: - Sources of pads

    /// Follows USB pads through hotplug until cancelled.
    public func follow(_ filter: PadFilter) async throws(DeviceWatchError) {
        let watcher = try DeviceWatcher(filter: filter)
        logger.info("watching for PIN pads", metadata: ["match": "\(filter.ids.map(\.description).joined(separator: ","))", "hotplug": "\(watcher.source)"])
        await withTaskCancellationHandler {
            // Each plugged-in pad's line runs as a child of the watch: until unplugged (detach
            // closes its port) or until the watch ends.
            await withDiscardingTaskGroup { lines in
                for await event in watcher.events {
                    switch event {
                    case .attached(let device):
                        guard let (terminal, port) = attach(device) else { continue }
                        let hello = self.hello
                        lines.addTask { await PadLine.serve(port, terminal: terminal, hello: hello) }
                    case .detached(let device): detach(device)
                    }
                }
            }
        } onCancel: {
            watcher.stop()
        }
    }

    /// Opens a plugged-in pad's line for its session; nil (logged) when it cannot be opened.
    private func attach(_ device: SerialDeviceInfo) -> (PadTerminal, SerialPort)? {
        let id = device.usb?.serial ?? device.identity.description
        let terminal = session(for: id, path: device.path)
        sessions[id]?.port?.beginClose()
        sessions[id]?.port = nil
        logger.info("pad attached", metadata: ["terminal": "\(id)", "path": "\(device.path)"])
        do {
            let port = try SerialPort.open(device.path)
            sessions[id]?.port = port
            return (terminal, port)
        } catch {
            logger.error("cannot open pad", metadata: ["terminal": "\(id)", "path": "\(device.path)", "error": "\(error)"])
            return nil
        }
    }

    private func detach(_ device: SerialDeviceInfo) {
        let id = device.usb?.serial ?? device.identity.description
        logger.notice("pad detached", metadata: ["terminal": "\(id)", "path": "\(device.path)"])
        sessions[id]?.port?.beginClose()
        sessions[id]?.port = nil
        sessions[id]?.online = false
        notify()
    }

    /// Keeps the pad at `path` open until cancelled: learns its serial number from HELLO_REPLY,
    /// then hands the line to that terminal's session (``PadLine/keepOpen``).
    ///
    /// While the pad is away the path is tried every `retryInterval`: a failed open() ten times
    /// a second costs nothing measurable, and a pad plugged back in is linked within about
    /// 100 ms of its device node appearing (with 1 s it was 400 ms at the median).
    public func keep(path: String, retryInterval: Duration = .milliseconds(100)) async {
        var reported: SerialLineError?
        while !Task.isCancelled {
            do {
                let id = try await probeSerialNumber(path: path)
                let terminal = session(for: id, path: path)
                // The probe said HELLO on this line moments ago: the session's own link says it
                // again only after T_hello, so the pad sees one HELLO per interval (§6.2 step 1).
                try? await Task.sleep(for: .milliseconds(Int(LinkTimings().helloInterval)))
                logger.info("pad at fixed path", metadata: ["terminal": "\(id)", "path": "\(path)"])
                let logger = self.logger
                await PadLine.keepOpen(path: path, terminal: terminal, hello: hello, retryInterval: retryInterval) { error in
                    logger.error("cannot open pad", metadata: ["terminal": "\(id)", "path": "\(path)", "error": "\(error)"])
                }
                return
            } catch let error as SerialLineError {
                if error != reported { logger.error("cannot open pad", metadata: ["path": "\(path)", "error": "\(error)"]) }
                reported = error
            } catch {
                // No HELLO_REPLY in time: try again.
            }
            try? await Task.sleep(for: retryInterval)
        }
    }

    struct NoHelloReply: Error {}

    /// Opens the line, waits for the link to come up, and closes it again.
    func probeSerialNumber(path: String, within limit: Duration = .seconds(10)) async throws -> String {
        let port = try SerialPort.open(path)
        let link = PadLink(port: port, hello: hello)
        // The line runs and the time limit waits as children of this call: both end with it.
        let serial = await withTaskGroup(of: Void.self) { group -> String? in
            group.addTask { await link.run() }
            group.addTask {
                guard (try? await Task.sleep(for: limit)) != nil else { return }
                await link.close()
            }
            var serial: String?
            for await event in link.events {
                // An incompatible pad is named too, so that it is listed (as incompatible).
                if case .linkUp(let info) = event {
                    serial = String(decoding: info.serialNumber, as: UTF8.self)
                    break
                }
                if case .incompatiblePad(let info) = event {
                    serial = String(decoding: info.serialNumber, as: UTF8.self)
                    break
                }
            }
            await link.close()
            group.cancelAll()
            return serial
        }
        guard let serial, !serial.isEmpty else { throw NoHelloReply() }
        return serial
    }

    /// Every pad shows "out of service" (on shutdown), after its open prompt has ended.
    public func showOutOfService() async {
        await withTaskGroup(of: Void.self) { group in
            for session in sessions.values {
                group.addTask { await session.terminal.shutDown() }
            }
        }
    }

    /// Closes every line.
    public func closeAll() {
        for (id, session) in sessions {
            session.port?.beginClose()
            sessions[id]?.port = nil
        }
        // Taken out first: finishing runs each stream's onTermination, which takes the lock.
        let listeners = changeListeners.withLock { table in
            defer { table.listeners = [:] }
            return Array(table.listeners.values)
        }
        for listener in listeners { listener.finish() }
    }
}
