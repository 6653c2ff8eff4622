import Common
import PinpadProtocol
import SerialLine

/// The host end of one PIN-pad line: a `LinkLayer` in the host role driven by a `SerialPort`
/// and a timer. It holds no business rule — it turns bytes and time into link events and
/// messages, and messages into bytes.
///
/// Use: create it, start `run()` in a task, read `events`, call `send(_:)`. `run()` returns when
/// the line ends (closed locally or device gone), after the last event.
///
/// Bytes from the pad are handled on the line's own thread as they are read (`SerialPort.receive`),
/// and the answer (an ACK, say) is written from there at once: no task hop between the kernel and
/// the link layer. Its deadlines (retransmit, heartbeat, HELLO) are served by the same thread:
/// the line's poll() waits until the nearest one (`SerialPort.wake(at:)`), so there is no timer
/// task. The link layer's state is behind a lock, shared by that thread and the senders.
public final class PadLink: Sendable {
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

    public let events: AsyncStream<Event>
    public let path: String
    private let eventSink: AsyncStream<Event>.Continuation
    private let port: SerialPort
    private let origin = ContinuousClock.now
    /// Lock: the line's thread (bytes, alarm) and the terminal's sends both drive the link layer.
    /// An NSLock (a pthread mutex) rather than Synchronization's Mutex, so that the thread
    /// sanitizer sees the lock and checks everything done under it.
    private let state: Locked<State>

    private struct State {
        var link: LinkLayer
        var stopped = false
        /// Where events go instead of `events`, once a terminal takes the link.
        var sink: (@Sendable (Event) -> Void)?
        /// The deadline the line's thread was last given (ms since `origin`).
        var timerDeadline: UInt64?
    }

    public init(port: SerialPort, hello: HostHello, timings: LinkTimings = LinkTimings()) {
        self.port = port
        self.path = port.path
        self.state = Locked(State(link: LinkLayer(role: .host(hello), timings: timings)))
        (events, eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    /// Milliseconds since this link was created, from the monotonic clock.
    private var now: UInt64 {
        let elapsed = ContinuousClock.now - origin
        return UInt64(elapsed.components.seconds) * 1000 + UInt64(elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    public var isUp: Bool { state.withLock { $0.link.isUp } }
    public var statistics: LinkStatistics { state.withLock { $0.link.statistics } }

    /// Runs the link until the line ends, then reports `.lineClosed` as the last event.
    public func run() async {
        handle(.start)
        port.receive(
            { [weak self] event in
                // `.deviceGone`: the line ends next; the close reason says why.
                if case .received(let bytes) = event { self?.handle(.received(bytes)) }
            },
            alarm: { [weak self] in self?.tick() })
        let reason = await port.closed()
        state.withLock { state in
            state.stopped = true
            apply(state.link.handle(.stop, now: now), to: &state)
            emit(.lineClosed(reason), &state)
        }
        eventSink.finish()
    }

    /// Sends a message reliably; the outcome comes back as `.delivered` or `.sendFailed`.
    public func send(_ message: Message) async {
        handle(.send(message))
    }

    /// Sends a message reliably, from synchronous code: a caller that sends several in a row
    /// from one actor turn keeps their order without a suspension between them.
    public func enqueue(_ message: Message) {
        handle(.send(message))
    }

    /// Closes the line; `run()` then finishes.
    public func close() async {
        await port.close()
    }

    /// Starts closing the line and returns at once; `run()` finishes when it is closed.
    public func beginClose() {
        port.beginClose()
    }

    /// From now on the link's events go to `sink` — called on the line's thread, in order, one
    /// at a time — instead of `events`: its owner's inbox, with no task between. Call it before
    /// `run()`.
    public func deliver(to sink: @escaping @Sendable (Event) -> Void) {
        state.withLock { $0.sink = sink }
    }

    private func emit(_ event: Event, _ state: inout State) {
        if let sink = state.sink { sink(event) } else { eventSink.yield(event) }
    }

    private func handle(_ event: LinkEvent) {
        state.withLock { state in
            guard !state.stopped else { return }
            apply(state.link.handle(event, now: now), to: &state)
        }
    }

    private func tick() {
        state.withLock { state in
            state.timerDeadline = nil
            guard !state.stopped else { return }
            apply(state.link.handle(.tick, now: now), to: &state)
        }
    }

    /// Carries out the link layer's actions, in order, under the lock (so writes keep the
    /// order the link layer chose, whichever thread drives it).
    private func apply(_ actions: [LinkAction], to state: inout State) {
        for action in actions {
            switch action {
            case .write(let bytes):
                try? port.send(bytes)  // a failure means the line is ending; run() reports it
            case .deliver(let message): emit(.message(message), &state)
            case .deliverInvalid(let type, let sequence, let error, _): emit(.invalidMessage(type: type, sequence: sequence, error: error), &state)
            case .linkUp(.device(let info)): emit(.linkUp(info), &state)
            case .linkUp(.host): break  // not for a host
            case .linkDown(let reason): emit(.linkDown(reason), &state)
            case .delivered(let message): emit(.delivered(message), &state)
            case .sendFailed(let message, let failure): emit(.sendFailed(message, failure), &state)
            case .incompatiblePeer(let info): emit(.incompatiblePad(info), &state)
            case .frameError(let error): emit(.frameError(error), &state)
            }
        }
        scheduleTimer(&state)
    }

    /// Tells the line's thread when the link layer's earliest deadline is (only when it changed).
    private func scheduleTimer(_ state: inout State) {
        let deadline = state.stopped ? nil : state.link.nextDeadline
        guard deadline != state.timerDeadline else { return }
        state.timerDeadline = deadline
        port.wake(at: deadline.map { origin + .milliseconds(Int64($0)) })
    }
}
