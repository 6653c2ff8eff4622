import Common
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds PIN pads by enumeration and follows them through hotplug.
///
/// On start it enumerates the `tty` devices and reports every matching pad as `.attached`;
/// then it waits in `poll(2)` on a udev monitor for add/remove events, and re-enumerates every
/// `rescanInterval` seconds as a safety net for events that were missed. Nothing runs between
/// events: no busy polling. All libudev work happens on the watcher's own thread.
///
/// A pad given by explicit path (a simulator's pty) needs none of this: open it with
/// `SerialPort.open` directly.
public final class DeviceWatcher: Sendable {
    /// Attach and detach events, in order. Single consumer; finishes after `stop()`.
    public let events: AsyncStream<DeviceEvent>
    /// The hotplug source in use.
    public let source: HotplugSource
    public let filter: PadFilter

    private let shared: Shared

    /// Starts watching. `source` nil picks `HotplugSource.detect()`.
    public init(filter: PadFilter, source: HotplugSource? = nil, rescanInterval: Double = 10) throws(DeviceWatchError) {
        let source = source ?? HotplugSource.detect()
        self.source = source
        self.filter = filter
        let context = try UdevContext()
        // Listen before the first scan, so nothing that happens in between is lost.
        let monitor = try UdevMonitor(context: context, source: source)
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw DeviceWatchError(operation: "create a wake-up pipe", errno: errno) }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: DeviceEvent.self, bufferingPolicy: .unbounded)
        self.events = stream
        self.shared = Shared(wakeReader: pipeEnds[0], wakeWriter: pipeEnds[1])
        let loop = WatchLoop(
            monitor: monitor, tracker: DeviceTracker(filter: filter), events: continuation,
            shared: shared, rescanMilliseconds: Int32(max(0.1, rescanInterval) * 1000))
        // A thread, not a task: it blocks in poll(2) on libudev's monitor socket and the wake-up pipe.
        let thread = Thread { loop.run() }
        thread.name = "device watch"
        thread.start()
    }

    deinit { stop() }

    /// Stops watching and finishes `events`. Safe to call more than once.
    public func stop() {
        shared.requestStop()
    }

    /// The matching pads present as of the last event or scan.
    public var present: [SerialDeviceInfo] {
        shared.present
    }

    /// Thread-safe state shared between the caller and the watcher thread.
    final class Shared: Sendable {
        private let state = Locked((stopping: false, present: [SerialDeviceInfo]()))
        let wakeReader: Int32
        let wakeWriter: Int32

        init(wakeReader: Int32, wakeWriter: Int32) {
            self.wakeReader = wakeReader
            self.wakeWriter = wakeWriter
        }

        func requestStop() {
            // The wake-up byte is written under the lock, so it cannot race `closePipe`.
            state.withLock {
                let first = !$0.stopping
                $0.stopping = true
                if first {
                    var byte: UInt8 = 1
                    _ = write(wakeWriter, &byte, 1)
                }
            }
        }

        var isStopping: Bool { state.withLock { $0.stopping } }

        var present: [SerialDeviceInfo] {
            get { state.withLock { $0.present } }
            set { state.withLock { $0.present = newValue } }
        }

        /// Closes the wake-up pipe; from now on `requestStop` writes nothing (the numbers may be reused).
        func closePipe() {
            state.withLock {
                $0.stopping = true
                close(wakeReader)
                close(wakeWriter)
            }
        }
    }
}

/// The watcher thread's state; touched by that thread only.
private final class WatchLoop: @unchecked Sendable {
    let monitor: UdevMonitor
    var tracker: DeviceTracker
    let events: AsyncStream<DeviceEvent>.Continuation
    let shared: DeviceWatcher.Shared
    let rescanMilliseconds: Int32

    init(
        monitor: UdevMonitor, tracker: DeviceTracker, events: AsyncStream<DeviceEvent>.Continuation,
        shared: DeviceWatcher.Shared, rescanMilliseconds: Int32
    ) {
        self.monitor = monitor
        self.tracker = tracker
        self.events = events
        self.shared = shared
        self.rescanMilliseconds = rescanMilliseconds
    }

    func run() {
        rescan()
        var lastScan = monotonicMilliseconds()
        while !shared.isStopping {
            let untilScan = max(0, rescanMilliseconds - Int32(clamping: monotonicMilliseconds() - lastScan))
            var fds = [
                pollfd(fd: monitor.descriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: shared.wakeReader, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, untilScan)
            if ready < 0 && errno != EINTR { break }
            if shared.isStopping { break }
            if fds[0].revents & Int16(POLLIN) != 0 {
                while let received = monitor.receive() {
                    if case .observation(let observation) = received { apply(observation) }
                }
            }
            if monotonicMilliseconds() - lastScan >= Int64(rescanMilliseconds) {
                rescan()
                lastScan = monotonicMilliseconds()
            }
        }
        shared.closePipe()
        events.finish()
    }

    private func rescan() {
        // A failed scan (sysfs briefly unreadable) is retried at the next interval.
        guard let devices = try? monitor.context.serialDevices() else { return }
        apply(.enumerated(devices))
    }

    private func apply(_ observation: DeviceObservation) {
        let changes = tracker.handle(observation)
        guard !changes.isEmpty else { return }
        shared.present = tracker.present.values.sorted { $0.path < $1.path }
        for change in changes { events.yield(change) }
    }

    private func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
