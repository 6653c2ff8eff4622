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

    private enum Input: Sendable {
        case line(SerialPort.Event)
        case tick
    }

    public nonisolated let events: AsyncStream<Event>
    public nonisolated let path: String
    private let eventSink: AsyncStream<Event>.Continuation
    private let port: SerialPort
    private var link: LinkLayer
    private let origin = ContinuousClock.now
    private let inputs: AsyncStream<Input>
    private let inputSink: AsyncStream<Input>.Continuation
    private var timer: Task<Void, Never>?
    private var timerDeadline: UInt64?

    public init(port: SerialPort, hello: HostHello, timings: LinkTimings = LinkTimings()) {
        self.port = port
        self.path = port.path
        self.link = LinkLayer(role: .host(hello), timings: timings)
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        (inputs, inputSink) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .unbounded)
    }

    /// Milliseconds since this link was created, from the monotonic clock.
    private var now: UInt64 {
        let elapsed = ContinuousClock.now - origin
        return UInt64(elapsed.components.seconds) * 1000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    public var isUp: Bool { link.isUp }
    public var statistics: LinkStatistics { link.statistics }

    /// Runs the link until the line ends.
    public func run() async {
        let forward = Task { [port, inputSink] in
            for await event in port.events { inputSink.yield(.line(event)) }
            inputSink.finish()
        }
        apply(link.handle(.start, now: now))
        for await input in inputs {
            switch input {
            case .line(.received(let bytes)):
                apply(link.handle(.received(bytes), now: now))
            case .line(.deviceGone):
                break  // the stream finishes next; the close reason says why
            case .tick:
                timerDeadline = nil
                apply(link.handle(.tick, now: now))
            }
        }
        forward.cancel()
        timer?.cancel()
        apply(link.handle(.stop, now: now))
        let reason = await port.closed()
        eventSink.yield(.lineClosed(reason))
        eventSink.finish()
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
        let delay = deadline > now ? deadline - now : 0
        timer = Task { [inputSink] in
            if delay > 0 {
                try? await Task.sleep(for: .milliseconds(Int64(delay)))
                if Task.isCancelled { return }
            }
            inputSink.yield(.tick)
        }
    }
}
