/// Timers and limits of the link layer (`PROTOCOL.md` §6, timing table). All durations in
/// milliseconds.
public struct LinkTimings: Sendable, Hashable {
    /// A data frame not acknowledged within this time is sent again.
    public var ackTimeout: UInt64 = 200
    /// Transmissions of one data frame (the first and the retransmissions) before the link is
    /// declared down.
    public var maxTransmissions: Int = 8
    /// An up link with nothing else to send sends HEARTBEAT this long after its last frame.
    public var heartbeatInterval: UInt64 = 1000
    /// No valid frame from the peer for this long: the link is down.
    public var deadTimeout: UInt64 = 2500
    /// A started frame whose next byte does not come within this time is dropped (and NAKed).
    public var interByteTimeout: UInt64 = 100
    /// Host: HELLO is repeated at this interval until HELLO_REPLY comes.
    public var helloInterval: UInt64 = 250
    /// Host: a HELLO_REPLY arriving while up within this time of the host's last HELLO is a late
    /// answer to a repeated HELLO, whatever was exchanged since (§6.2 step 5, T_late).
    public var lateHelloReplyWindow: UInt64 = 1000
    /// Pad: ANNOUNCE is repeated at this interval while no host has said HELLO.
    public var announceInterval: UInt64 = 1000
    /// At most one NAK (or ANNOUNCE in reply to a stray data frame) per this interval.
    public var nakHoldoff: UInt64 = 20
    /// Data messages waiting behind the one in flight; more are refused with `.queueFull`.
    public var queueLimit: Int = 16

    public init() {}
}

/// Which end of the line this link layer is, with what it tells the other end.
public enum LinkRole: Sendable, Hashable {
    case host(HostHello)
    /// The pad: `DeviceInfo.version` is ignored (the version is chosen per HELLO).
    case device(DeviceInfo)
}

public enum LinkPeer: Sendable, Hashable {
    case device(DeviceInfo)
    case host(HostHello)
}

public enum LinkDownReason: Sendable, Hashable {
    /// No valid frame from the peer for `deadTimeout`.
    case silence
    /// A data frame went unacknowledged `maxTransmissions` times.
    case noAcknowledgement
    /// The peer restarted: the pad sent ANNOUNCE, or the host sent a new HELLO.
    case peerRestarted
    /// Host: the pad answered HELLO_REPLY while up, after data had been exchanged since the last
    /// HELLO — it took a (repeated) HELLO for a host restart and reset. The link comes up again at
    /// once (`PROTOCOL.md` §6.2 step 5, 1.1).
    case peerReset
    /// The line was closed (`LinkEvent.stop`).
    case closed
}

public enum SendFailure: Sendable, Hashable {
    case linkDown
    case queueFull
    case tooLarge
}

public enum LinkEvent: Sendable, Hashable {
    /// The line was opened: the host starts saying HELLO, the pad starts announcing itself.
    case start
    /// Bytes read from the line, in any chunking.
    case received([UInt8])
    /// Time passed; call at `nextDeadline` (earlier is harmless).
    case tick
    /// Send an application message reliably.
    case send(Message)
    /// The line was closed.
    case stop
}

public enum LinkAction: Sendable, Hashable {
    /// Bytes to write to the line, in order.
    case write([UInt8])
    /// A message from the peer, delivered once and in order.
    case deliver(Message)
    /// An intact, new data frame that is not a message this end takes: an unknown type, a type
    /// travelling the wrong way, or a malformed payload (it was acknowledged). The application
    /// answers it with ERROR_REPORT `error.reportCode` (`PROTOCOL.md` §4); `payload` lets a pad
    /// identify a malformed PROMPT (§5.4).
    case deliverInvalid(type: UInt8, sequence: UInt8, error: MessageError, payload: [UInt8])
    case linkUp(LinkPeer)
    case linkDown(LinkDownReason)
    /// The peer acknowledged this message.
    case delivered(Message)
    case sendFailed(Message, SendFailure)
    /// The pad answered HELLO with version 0 or one outside the host's range.
    case incompatiblePeer(DeviceInfo)
    /// A damaged frame was seen (for counters and logs; the link layer already reacted).
    case frameError(FrameError)
}

/// Counters for logs, metrics and soak reports.
public struct LinkStatistics: Sendable, Hashable {
    public var framesWritten = 0
    public var validFramesReceived = 0
    public var dataFramesDelivered = 0
    public var retransmissions = 0
    public var duplicatesDropped = 0
    public var frameErrors = 0
    public var naksSent = 0
    public var naksReceived = 0
    public var heartbeatsSent = 0
    public var linkDowns = 0
    public init() {}
}

/// The link layer of protocol v1 as a pure state machine (`PROTOCOL.md` §6): framing, HELLO,
/// ACK/NAK, retransmission, duplicate suppression, heartbeat, link loss. It does no I/O and reads
/// no clock: bytes and time come in as events, bytes to write and messages to deliver go out as
/// actions. The same code runs in the host bridge, the simulator and the pad's firmware.
///
/// The firmware image is built with `-D PINPAD_DEVICE_ONLY`, which leaves out what only the host
/// role does (saying HELLO, taking HELLO_REPLY and ANNOUNCE): close to 3 KB of the pad's 32 KB of
/// flash (`firmware/README.md`). The device role behaves the same either way; the host role must
/// not be used in such a build.
public struct LinkLayer: Sendable {
    public enum State: Sendable, Hashable {
        /// The line is closed.
        case closed
        /// Host: saying HELLO until the pad replies. Pad: announcing itself until a HELLO comes.
        case linking
        case up(LinkPeer)
    }

    private struct InFlight: Sendable {
        var message: Message
        var sequence: UInt8
        var payload: [UInt8]
        var transmissions: Int
        var deadline: UInt64
    }

    public let role: LinkRole
    public let timings: LinkTimings
    public private(set) var state: State = .closed
    public private(set) var statistics = LinkStatistics()

    private var decoder = FrameDecoder()
    private var lastByteAt: UInt64 = 0
    private var lastValidFrameAt: UInt64 = 0
    private var lastWriteAt: UInt64 = 0
    private var linkingDueAt: UInt64 = 0
    private var lastNakAt: UInt64?
    private var nextAnnounceReason: AnnounceReason = .powerOn
    /// A data frame was sent (acknowledged or not) or accepted since the last HELLO (§6.2, 1.1).
    private var exchangedSinceHello = false
    /// When the host last sent HELLO (host role only).
    private var lastHelloAt: UInt64 = 0
    /// Whether the host has sent a HELLO since the line was opened (host role only).
    private var helloSent = false
    private var reportedIncompatible = false

    private var lastSentSequence: UInt8 = 0
    private var lastReceivedSequence: UInt8 = 0
    private var inFlight: InFlight?
    private var queue: [Message] = []
    private var peerMaxPayload = ProtocolLimits.maxPayload

    public init(role: LinkRole, timings: LinkTimings = LinkTimings()) {
        self.role = role
        self.timings = timings
    }

    public var isUp: Bool {
        if case .up = state { return true }
        return false
    }

    /// Data messages accepted but not yet acknowledged (in flight and queued).
    public var pendingCount: Int { queue.count + (inFlight == nil ? 0 : 1) }

    /// When `handle(.tick, now:)` must next be called, or nil when no timer runs.
    public var nextDeadline: UInt64? {
        var deadline: UInt64?
        func consider(_ t: UInt64) {
            if let d = deadline { deadline = min(d, t) } else { deadline = t }
        }
        switch state {
        case .closed:
            return nil
        case .linking:
            consider(linkingDueAt)
        case .up:
            consider(lastWriteAt + timings.heartbeatInterval)
            consider(lastValidFrameAt + timings.deadTimeout)
            if let f = inFlight { consider(f.deadline) }
        }
        if decoder.isInsideFrame { consider(lastByteAt + timings.interByteTimeout) }
        return deadline
    }

    public mutating func handle(_ event: LinkEvent, now: UInt64) -> [LinkAction] {
        var actions: [LinkAction] = []
        switch event {
        case .start:
            guard case .closed = state else { break }
            enterLinking(now: now, reason: .powerOn, actions: &actions)
        case .stop:
            guard state != .closed else { break }
            let wasUp = isUp
            failPending(.linkDown, actions: &actions)
            state = .closed
            decoder = FrameDecoder()
            helloSent = false  // a line opened again says HELLO at once
            if wasUp {
                statistics.linkDowns += 1
                actions.emit(.linkDown(.closed))
            }
        case .received(let bytes):
            guard state != .closed else { break }
            if !bytes.isEmpty { lastByteAt = now }
            for byte in bytes {
                guard let output = decoder.feed(byte) else { continue }
                switch output {
                case .frame(let frame): handleFrame(frame, now: now, actions: &actions)
                case .error(let error): handleFrameError(error, now: now, actions: &actions)
                }
            }
        case .tick:
            handleTick(now: now, actions: &actions)
        case .send(let message):
            enqueue(message, now: now, actions: &actions)
        }
        return actions
    }

    // MARK: - Timers

    private mutating func handleTick(now: UInt64, actions: inout [LinkAction]) {
        if decoder.isInsideFrame, now >= lastByteAt + timings.interByteTimeout,
            let error = decoder.abandonPartialFrame()
        {
            handleFrameError(error, now: now, actions: &actions)
        }
        switch state {
        case .closed:
            return
        case .linking:
            if now >= linkingDueAt { sendLinkingFrame(now: now, actions: &actions) }
        case .up:
            if now >= lastValidFrameAt + timings.deadTimeout {
                linkLost(.silence, now: now, actions: &actions)
                return
            }
            if let f = inFlight, now >= f.deadline {
                guard retransmit(now: now, actions: &actions) else { return }
            }
            if now >= lastWriteAt + timings.heartbeatInterval {
                statistics.heartbeatsSent += 1
                write(Frame(type: MessageType.heartbeat.rawValue), now: now, actions: &actions)
            }
        }
    }

    // MARK: - Receiving

    private mutating func handleFrameError(_ error: FrameError, now: UInt64, actions: inout [LinkAction]) {
        statistics.frameErrors += 1
        actions.emit(.frameError(error))
        guard isUp, nakAllowed(now: now) else { return }
        statistics.naksSent += 1
        write(Frame(type: MessageType.nak.rawValue, sequence: nextExpectedSequence), now: now, actions: &actions)
    }

    private var nextExpectedSequence: UInt8 {
        lastReceivedSequence == 255 ? 1 : lastReceivedSequence + 1
    }

    private mutating func nakAllowed(now: UInt64) -> Bool {
        if let last = lastNakAt, now < last + timings.nakHoldoff { return false }
        lastNakAt = now
        return true
    }

    private mutating func handleFrame(_ frame: Frame, now: UInt64, actions: inout [LinkAction]) {
        statistics.validFramesReceived += 1
        if MessageType.isData(frame.type) {
            handleDataFrame(frame, now: now, actions: &actions)
            return
        }
        guard let type = MessageType(rawValue: frame.type) else {
            // An unknown link-control type from a newer peer: liveness only.
            if isUp { lastValidFrameAt = now }
            return
        }
        switch (type, role) {
        case (.hello, .device(let info)):
            handleHello(frame, info: info, now: now, actions: &actions)
#if !PINPAD_DEVICE_ONLY
        case (.helloReply, .host(let hello)):
            handleHelloReply(frame, hello: hello, now: now, actions: &actions)
        case (.announce, .host):
            if isUp {
                linkLost(.peerRestarted, now: now, actions: &actions)
            }
            // While linking, HELLO keeps its own 250 ms schedule: one HELLO per interval, never
            // an extra one because the pad announced itself (§6.2 step 1, 1.1).
#endif
        case (.ack, _):
            guard isUp else { return }
            lastValidFrameAt = now
            if let f = inFlight, f.sequence == frame.sequence {
                inFlight = nil
                actions.emit(.delivered(f.message))
                sendNext(now: now, actions: &actions)
            }
        case (.nak, _):
            guard isUp else { return }
            lastValidFrameAt = now
            statistics.naksReceived += 1
            if inFlight != nil { _ = retransmit(now: now, actions: &actions) }
        case (.heartbeat, _):
            if isUp { lastValidFrameAt = now }
        default:
            // HELLO at a host, HELLO_REPLY or ANNOUNCE at a pad: not for this end; ignored.
            break
        }
    }

    private mutating func handleDataFrame(_ frame: Frame, now: UInt64, actions: inout [LinkAction]) {
        guard isUp else {
            // A pad that is not linked tells the sender so (it may have rebooted); a host that
            // is not linked has nothing to say until the pad replies to HELLO.
            if case .device = role, case .linking = state, nakAllowed(now: now) {
                write(Frame(type: MessageType.announce.rawValue, payload: [AnnounceReason.notLinked.rawValue]), now: now, actions: &actions)
            }
            return
        }
        guard frame.sequence != 0 else { return }  // data frames never use sequence 0
        lastValidFrameAt = now
        write(Frame(type: MessageType.ack.rawValue, sequence: frame.sequence), now: now, actions: &actions)
        if frame.sequence == lastReceivedSequence {
            statistics.duplicatesDropped += 1
            return
        }
        lastReceivedSequence = frame.sequence
        exchangedSinceHello = true
        statistics.dataFramesDelivered += 1
        do {
            let message = try Message.decode(type: frame.type, payload: frame.payload)
            guard Self.travelsTo(role, frame.type) else {
                actions.emit(.deliverInvalid(type: frame.type, sequence: frame.sequence, error: .wrongDirection(frame.type), payload: frame.payload))
                return
            }
            actions.emit(.deliver(message))
        } catch {
            actions.emit(.deliverInvalid(type: frame.type, sequence: frame.sequence, error: error, payload: frame.payload))
        }
    }

    /// Whether a defined data type may arrive at this end: host → pad types at a pad, pad → host
    /// types at a host, the two-way types at both (`PROTOCOL.md` §4).
    static func travelsTo(_ role: LinkRole, _ type: UInt8) -> Bool {
        switch role {
        case .device: return !(0x40...0x5F).contains(type)
        case .host: return !(0x20...0x3F).contains(type)
        }
    }

    private mutating func handleHello(_ frame: Frame, info: DeviceInfo, now: UInt64, actions: inout [LinkAction]) {
        guard let hello = try? HostHello.decode(frame.payload) else { return }
        var reply = info
        reply.version = (hello.minVersion...hello.maxVersion).contains(ProtocolLimits.version) ? ProtocolLimits.version : 0
        guard reply.version != 0 else {
            // No version in common: answer, stay (or become) unlinked and keep announcing
            // (§6.2 step 2, 1.1). A linked pad takes it as a restart of its host.
            write(Frame(type: MessageType.helloReply.rawValue, payload: reply.encodePayload()), now: now, actions: &actions)
            if isUp { linkLost(.peerRestarted, now: now, actions: &actions) }
            return
        }
        // A repeated HELLO before any data frame was sent or accepted since the last HELLO (the
        // host said HELLO more than once while the line was slow) only gets another reply.
        if case .up = state, !exchangedSinceHello {
            lastValidFrameAt = now
            write(Frame(type: MessageType.helloReply.rawValue, payload: reply.encodePayload()), now: now, actions: &actions)
            return
        }
        if isUp {
            // The host restarted: whatever was under way with it is gone.
            statistics.linkDowns += 1
            failPending(.linkDown, actions: &actions)
            actions.emit(.linkDown(.peerRestarted))
        }
        resetSequences()
        peerMaxPayload = min(Int(hello.maxPayload), ProtocolLimits.maxPayload)
        state = .up(.host(hello))
        lastValidFrameAt = now
        write(Frame(type: MessageType.helloReply.rawValue, payload: reply.encodePayload()), now: now, actions: &actions)
        actions.emit(.linkUp(.host(hello)))
    }

    private mutating func handleHelloReply(_ frame: Frame, hello: HostHello, now: UInt64, actions: inout [LinkAction]) {
        guard let info = try? DeviceInfo.decode(frame.payload) else { return }
        if isUp {
            // Nothing exchanged since the last HELLO, or within T_late of it: a late answer to a
            // repeated HELLO (a slow pad answers the first HELLO, the link comes up and data
            // flows, then its answer to the repeat arrives). Otherwise the pad took a HELLO for a
            // host restart and has reset (§6.2 step 5, 1.1): the link goes down and, if the reply
            // is acceptable, comes up again at once.
            lastValidFrameAt = now
            guard exchangedSinceHello, now >= lastHelloAt + timings.lateHelloReplyWindow else { return }
            statistics.linkDowns += 1
            failPending(.linkDown, actions: &actions)
            actions.emit(.linkDown(.peerReset))
            state = .linking
            linkingDueAt = now
        }
        guard case .linking = state else { return }
        guard info.version != 0, (hello.minVersion...hello.maxVersion).contains(info.version) else {
            if !reportedIncompatible {
                reportedIncompatible = true
                actions.emit(.incompatiblePeer(info))
            }
            return
        }
        resetSequences()
        peerMaxPayload = min(Int(info.maxPayload), ProtocolLimits.maxPayload)
        state = .up(.device(info))
        lastValidFrameAt = now
        lastWriteAt = now
        actions.emit(.linkUp(.device(info)))
    }

    // MARK: - Sending

    private mutating func enqueue(_ message: Message, now: UInt64, actions: inout [LinkAction]) {
        guard isUp else {
            actions.emit(.sendFailed(message, .linkDown))
            return
        }
        let payload = message.encodePayload()
        guard payload.count <= peerMaxPayload else {
            actions.emit(.sendFailed(message, .tooLarge))
            return
        }
        guard queue.count < timings.queueLimit else {
            actions.emit(.sendFailed(message, .queueFull))
            return
        }
        queue.append(message)
        if inFlight == nil { sendNext(now: now, actions: &actions) }
    }

    private mutating func sendNext(now: UInt64, actions: inout [LinkAction]) {
        guard inFlight == nil, !queue.isEmpty else { return }
        let message = queue.removeFirst()
        exchangedSinceHello = true
        lastSentSequence = lastSentSequence == 255 ? 1 : lastSentSequence + 1
        let payload = message.encodePayload()
        inFlight = InFlight(message: message, sequence: lastSentSequence, payload: payload, transmissions: 1, deadline: now + timings.ackTimeout)
        write(Frame(type: message.type.rawValue, sequence: lastSentSequence, payload: payload), now: now, actions: &actions)
    }

    /// Sends the frame in flight again (after T_ack or a NAK), or, when it has been sent
    /// `maxTransmissions` times already, takes the link down. Returns false when the link went down.
    private mutating func retransmit(now: UInt64, actions: inout [LinkAction]) -> Bool {
        guard var f = inFlight else { return true }
        if f.transmissions >= timings.maxTransmissions {
            linkLost(.noAcknowledgement, now: now, actions: &actions)
            return false
        }
        f.transmissions += 1
        f.deadline = now + timings.ackTimeout
        inFlight = f
        statistics.retransmissions += 1
        write(Frame(type: f.message.type.rawValue, flags: .retransmission, sequence: f.sequence, payload: f.payload), now: now, actions: &actions)
        return true
    }

    private mutating func write(_ frame: Frame, now: UInt64, actions: inout [LinkAction]) {
        statistics.framesWritten += 1
        lastWriteAt = now
        actions.emit(.write(frame.encoded()))
    }

    // MARK: - Link state

    private mutating func sendLinkingFrame(now: UInt64, actions: inout [LinkAction]) {
        switch role {
#if PINPAD_DEVICE_ONLY
        case .host:
            break  // not in the pad's image
#else
        case .host(let hello):
            write(Frame(type: MessageType.hello.rawValue, payload: hello.encodePayload()), now: now, actions: &actions)
            exchangedSinceHello = false
            lastHelloAt = now
            helloSent = true
            linkingDueAt = now + timings.helloInterval
#endif
        case .device:
            // Every repetition carries the reason that started the announcing (§6.2, 1.1).
            write(Frame(type: MessageType.announce.rawValue, payload: [nextAnnounceReason.rawValue]), now: now, actions: &actions)
            linkingDueAt = now + timings.announceInterval
        }
    }

    private mutating func enterLinking(now: UInt64, reason: AnnounceReason, actions: inout [LinkAction]) {
        state = .linking
        reportedIncompatible = false
        nextAnnounceReason = reason
        resetSequences()
        linkingDueAt = now
        // One HELLO per T_hello, even when the link goes down just after one went out (an
        // ANNOUNCE right after link-up, §6.2 step 1, 1.1): the next HELLO waits its turn.
#if !PINPAD_DEVICE_ONLY
        if case .host = role, helloSent { linkingDueAt = max(now, lastHelloAt + timings.helloInterval) }
#endif
        if now >= linkingDueAt { sendLinkingFrame(now: now, actions: &actions) }
    }

    private mutating func linkLost(_ reason: LinkDownReason, now: UInt64, actions: inout [LinkAction]) {
        statistics.linkDowns += 1
        failPending(.linkDown, actions: &actions)
        actions.emit(.linkDown(reason))
        enterLinking(now: now, reason: .linkLost, actions: &actions)
    }

    private mutating func failPending(_ failure: SendFailure, actions: inout [LinkAction]) {
        if let f = inFlight { actions.emit(.sendFailed(f.message, failure)) }
        for m in queue { actions.emit(.sendFailed(m, failure)) }
        inFlight = nil
        queue.removeAll()
    }

    private mutating func resetSequences() {
        exchangedSinceHello = false
        lastSentSequence = 0
        lastReceivedSequence = 0
        inFlight = nil
        queue.removeAll()
        lastNakAt = nil
    }
}

extension Array where Element == LinkAction {
    /// `append`, kept out of line: one copy instead of one per call site (flash on the pad).
    @inline(never)
    fileprivate mutating func emit(_ action: LinkAction) { append(action) }
}
