import AllocationCounter
import Foundation
import PinpadProtocol

/// Heap allocations per frame, counted by the malloc interposed in this executable
/// (`AllocationCounter`): every malloc, calloc, realloc, posix_memalign, aligned_alloc and
/// memalign call the measuring thread makes — Swift arrays, class instances, closures' contexts
/// and anything the runtime allocates on the way. Counts are per call of the code measured, for
/// `count` calls after `warmUp` calls; frees are not counted as allocations.
struct AllocationCounts {
    var perCall: [UInt64] = []
    var bytes: UInt64 = 0
    var calls: Int { perCall.count }
    var total: UInt64 { perCall.reduce(0, +) }
    var mean: Double { calls == 0 ? 0 : Double(total) / Double(calls) }
    private var sorted: [UInt64] { perCall.sorted() }
    var median: UInt64 { sorted.isEmpty ? 0 : sorted[sorted.count / 2] }
    var p99: UInt64 { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))] }

    /// Like `measure`, for code that counts its own parts: `body` returns the allocations to record.
    static func measureCounted(count: Int, warmUp: Int = 100, _ body: (Int) -> UInt64) -> AllocationCounts {
        var result = AllocationCounts()
        result.perCall.reserveCapacity(count)
        for i in 0..<warmUp { _ = body(i) }
        for i in 0..<count { result.perCall.append(body(warmUp + i)) }
        result.bytes = 0  // not tracked for self-counted parts
        return result
    }

    /// Runs `body` `warmUp + count` times on this thread, counting the allocations of the last `count`.
    static func measure(count: Int, warmUp: Int = 100, _ body: (Int) -> Void) -> AllocationCounts {
        var result = AllocationCounts()
        result.perCall.reserveCapacity(count)
        for i in 0..<warmUp { body(i) }
        let bytesBefore = ngb_thread_allocated_bytes()
        for i in 0..<count {
            let before = ngb_thread_allocations()
            body(warmUp + i)
            let after = ngb_thread_allocations()
            result.perCall.append(after - before)
        }
        // The perCall array's own growth is reserved up front, so it adds nothing inside the loop.
        result.bytes = ngb_thread_allocated_bytes() - bytesBefore
        return result
    }
}

func allocationLine(_ name: String, _ c: AllocationCounts, per: Double = 1, reference: AllocationCounts? = nil) -> String {
    var out = String(
        format: "%-48@ median %5.1f   p99 %5.1f   mean %6.2f allocs",
        name as NSString, Double(c.median) / per, Double(c.p99) / per, c.mean / per)
    out += c.bytes > 0 ? String(format: ", %6.0f B per frame", Double(c.bytes) / Double(max(1, c.calls)) / per) : ",      – B per frame"
    if let r = reference, r.mean > 0 {
        out += String(format: "   ratio %.2f× (mean)", c.mean / per / r.mean)
    }
    return out
}

@inline(never)
func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }

func allocationBenchmarks(count: Int) {
    guard ngb_allocation_counter_active() == 1 else {
        print("allocations per frame: skipped (malloc is not interposed on this platform)")
        return
    }
    // Calibrates the counter with Swift itself: one array copy of the line is one allocation.
    let screen = Message.showScreen(Screen(lines: [
        ScreenLine(text: Array("Staðfestu greiðslu".utf8), alignment: .center),
        ScreenLine(text: Array("í Netgíró appinu".utf8), alignment: .center),
        ScreenLine(text: Array("4.990 kr.".utf8), alignment: .center),
    ]))
    let entry = Message.entryResult(EntryResult(token: 7, prompt: .customerID, outcome: .entered, digits: Array("8223281".utf8)))
    let screenFrame = Frame(type: screen.type.rawValue, sequence: 7, payload: screen.encodePayload())
    let screenLine = screenFrame.encoded()
    let entryLine = Frame(type: entry.type.rawValue, sequence: 9, payload: entry.encodePayload()).encoded()

    let reference = AllocationCounts.measure(count: count) { _ in
        blackHole([UInt8](unsafeUninitializedCapacity: screenLine.count) { buffer, n in
            n = buffer.initialize(from: screenLine).1
        })
    }

    let encode = AllocationCounts.measure(count: count) { i in
        var f = screenFrame
        f.sequence = UInt8(truncatingIfNeeded: i | 1)
        blackHole(f.encoded())
    }
    let messageEncode = AllocationCounts.measure(count: count) { i in
        let f = Frame(type: screen.type.rawValue, sequence: UInt8(truncatingIfNeeded: i | 1), payload: screen.encodePayload())
        blackHole(f.encoded())
    }
    // One frame per read, as a pad's frames arrive (a few per key press).
    var decoder = FrameDecoder()
    let decodeOne = AllocationCounts.measure(count: count) { _ in
        for case .frame(let f) in decoder.feed(entryLine) { blackHole(f) }
    }
    var decoder2 = FrameDecoder()
    let decodeMessage = AllocationCounts.measure(count: count) { _ in
        for case .frame(let f) in decoder2.feed(entryLine) { blackHole(try? Message.decode(type: f.type, payload: f.payload)) }
    }
    // 4 KiB reads of back-to-back SHOW_SCREEN frames (as in the codec benchmark): per read, then per frame.
    var stream: [UInt8] = []
    for _ in 0..<(4096 / screenLine.count * 64) { stream += screenLine }
    var decoder3 = FrameDecoder()
    var offset = 0
    var framesDecoded = 0
    let chunks = count / 20
    let decodeChunks = AllocationCounts.measure(count: chunks, warmUp: 4) { _ in
        if offset >= stream.count { offset = 0 }
        let end = min(stream.count, offset + 4096)
        for case .frame(let f) in decoder3.feed(stream[offset..<end]) {
            framesDecoded += 1
            blackHole(f)
        }
        offset = end
    }
    let framesPerChunk = 4096.0 / Double(screenLine.count)

    // The link layer as PadLink runs it (host role, linked with a device-role peer in memory):
    // what the bridge allocates per message sent and per message received, frame codec included.
    var pair = LinkedPair()
    let hostSend = AllocationCounts.measureCounted(count: count) { _ in pair.hostSendsCounted(screen) }
    let hostReceive = AllocationCounts.measureCounted(count: count) { _ in pair.hostReceivesCounted(entry) }

    print(allocationLine("one [UInt8] copy of a 68 B line (calibration)", reference))
    print(allocationLine("frame encode (SHOW_SCREEN, payload prebuilt)", encode, reference: reference))
    print(allocationLine("message → frame → line (SHOW_SCREEN)", messageEncode, reference: reference))
    print(allocationLine("frame decode, one ENTRY_RESULT per read", decodeOne, reference: reference))
    print(allocationLine("frame + message decode, ENTRY_RESULT per read", decodeMessage, reference: reference))
    print(allocationLine("LinkLayer host: send SHOW_SCREEN, take its ACK", hostSend, reference: reference))
    print(allocationLine("LinkLayer host: ENTRY_RESULT in, deliver + ACK", hostReceive, reference: reference))
    print(allocationLine(String(format: "frame decode, 4 KiB reads (÷ %.1f frames/read)", framesPerChunk), decodeChunks, per: framesPerChunk, reference: reference))
}

/// A host-role and a device-role LinkLayer joined in memory, linked. Only the host's work is
/// counted; the device's side of each exchange runs between the counted parts.
struct LinkedPair {
    var host = LinkLayer(role: .host(HostHello(hostName: Array("bench".utf8))))
    var device = LinkLayer(role: .device(DeviceInfo(
        version: 1, maxPayload: 246, rows: 4, columns: 20, model: Array("BENCH".utf8),
        firmwareVersion: Array("1".utf8), serialNumber: Array("BENCH-1".utf8), prompts: [])))
    var now: UInt64 = 0

    init() {
        var toDevice = Self.writes(host.handle(.start, now: 0))
        var toHost = Self.writes(device.handle(.start, now: 0))
        for _ in 0..<50 where !(toDevice.isEmpty && toHost.isEmpty) {
            let d = toDevice, h = toHost
            toDevice = []; toHost = []
            for b in d { toHost += Self.writes(device.handle(.received(b), now: now)) }
            for b in h { toDevice += Self.writes(host.handle(.received(b), now: now)) }
        }
        precondition(host.isUp && device.isUp, "the in-memory link did not come up")
    }

    static func writes(_ actions: [LinkAction]) -> [[UInt8]] {
        actions.compactMap { if case .write(let b) = $0 { return b } else { return nil } }
    }

    /// Counted: the host sends `message` and then takes the device's ACK.
    mutating func hostSendsCounted(_ message: Message) -> UInt64 {
        now += 1
        let before = ngb_thread_allocations()
        let out = host.handle(.send(message), now: now)
        var counted = ngb_thread_allocations() - before
        // Not counted: the device reads the frame and answers.
        var acks: [[UInt8]] = []
        for b in Self.writes(out) { acks += Self.writes(device.handle(.received(b), now: now)) }
        let resume = ngb_thread_allocations()
        for b in acks { blackHole(host.handle(.received(b), now: now)) }
        counted += ngb_thread_allocations() - resume
        return counted
    }

    /// Counted: the host reads a frame carrying `message` from the device, delivers it and ACKs.
    mutating func hostReceivesCounted(_ message: Message) -> UInt64 {
        now += 1
        var incoming = Self.writes(device.handle(.send(message), now: now))
        let before = ngb_thread_allocations()
        var acks: [[UInt8]] = []
        for b in incoming { acks += Self.writes(host.handle(.received(b), now: now)) }
        let counted = ngb_thread_allocations() - before
        incoming = []
        for b in acks { blackHole(device.handle(.received(b), now: now)) }
        return counted
    }
}
