import PinpadProtocol
import SerialLine

/// The host end of one PIN-pad line: a `LinkLayer` in the host role driven by a `SerialPort`
/// and a timer. It holds no business rule — it turns bytes and time into link events and
/// messages, and messages into bytes.
///
/// Use: create it, start `run()` in a task, read `events`, call `send(_:)`. `run()` returns when
/// the line ends (closed locally or device gone), after the last event.
public actor PadLink {
    public enum Event: Sendable, Equatable {
        case linkUp(DeviceInfo)
        case linkDown(LinkDownReason)
        case message(Message)
        /// A data frame from the pad whose payload is not a valid message (already acknowledged).
        case invalidMessage(type: UInt8, sequence: UInt8, error: MessageError)
        /// The pad acknowledged this message.
        case delivered(Message)
        case sendFailed(Message, SendFailure)
        /// The pad speaks no protocol version this host speaks.
        case incompatiblePad(DeviceInfo)
        /// A damaged frame arrived (the link layer has already NAKed it).
        case frameError(FrameError)
        /// The line ended; this is the last event.
        case lineClosed(SerialPort.CloseReason)
    }

    public nonisolated let events: AsyncStream<Event>
    public nonisolated let path: String
    private let eventSink: AsyncStream<Event>.Continuation
    private let port: SerialPort
    private var link: LinkLayer
    private let origin = ContinuousClock.now
    private var stopped = false
    private var timerGeneration: UInt64 = 0
    private var timer: Task<Void, Never>?
    private var timerDeadline: UInt64?

    public init(port: SerialPort, hello: HostHello, timings: LinkTimings = LinkTimings()) {
        self.port = port
        self.path = port.path
        self.link = LinkLayer(role: .host(hello), timings: timings)
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    /// Milliseconds since this link was created, from the monotonic clock.
    private var now: UInt64 {
        let elapsed = ContinuousClock.now - origin
        return UInt64(elapsed.components.seconds) * 1000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    public var isUp: Bool { link.isUp }
    public var statistics: LinkStatistics { link.statistics }

    /// Runs the link until the line ends. Bytes from the line are handled here, as they come;
    /// the link layer's deadlines arrive as separate calls on the actor (`tick`).
    public func run() async {
        apply(link.handle(.start, now: now))
        for await event in port.events {
            if case .received(let bytes) = event {
                apply(link.handle(.received(bytes), now: now))
            }
            // `.deviceGone`: the stream finishes next; the close reason says why.
        }
        stopped = true
        timer?.cancel()
        timer = nil
        apply(link.handle(.stop, now: now))
        let reason = await port.closed()
        eventSink.yield(.lineClosed(reason))
        eventSink.finish()
    }

    private func tick(_ generation: UInt64) {
        guard generation == timerGeneration else { return }  // a timer replaced after it woke
        timerDeadline = nil
        timer = nil
        guard !stopped else { return }
        apply(link.handle(.tick, now: now))
    }

    /// Sends a message reliably; the outcome comes back as `.delivered` or `.sendFailed`.
    public func send(_ message: Message) {
        apply(link.handle(.send(message), now: now))
    }

    /// Closes the line; `run()` then finishes.
    public func close() async {
        await port.close()
    }

    private func apply(_ actions: [LinkAction]) {
        for action in actions {
            switch action {
            case .write(let bytes):
                try? port.send(bytes)  // a failure means the line is ending; run() reports it
            case .deliver(let message): eventSink.yield(.message(message))
            case .deliverInvalid(let type, let sequence, let error): eventSink.yield(.invalidMessage(type: type, sequence: sequence, error: error))
            case .linkUp(.device(let info)): eventSink.yield(.linkUp(info))
            case .linkUp(.host): break  // not for a host
            case .linkDown(let reason): eventSink.yield(.linkDown(reason))
            case .delivered(let message): eventSink.yield(.delivered(message))
            case .sendFailed(let message, let failure): eventSink.yield(.sendFailed(message, failure))
            case .incompatiblePeer(let info): eventSink.yield(.incompatiblePad(info))
            case .frameError(let error): eventSink.yield(.frameError(error))
            }
        }
        scheduleTimer()
    }

    /// Keeps one sleeping task for the link layer's earliest deadline.
    private func scheduleTimer() {
        guard let deadline = link.nextDeadline else {
            timer?.cancel()
            timer = nil
            timerDeadline = nil
            return
        }
        if let scheduled = timerDeadline, scheduled <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timerGeneration &+= 1
        let generation = timerGeneration
        let delay = deadline > now ? deadline - now : 0
        timer = Task { [weak self] in
            if delay > 0 {
                try? await Task.sleep(for: .milliseconds(Int64(delay)))
                if Task.isCancelled { return }
            }
            await self?.tick(generation)
        }
    }
}
