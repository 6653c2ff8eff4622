import Bridge
import Foundation
import PinpadFirmware
import PinpadProtocol
import SerialLine
import LineFaults
import PinpadSim
import Testing

/// The faulty cable of `ngbridge sim line`: its fault core on a virtual clock, and the proxy
/// itself over ptys between a pad and the bridge's `PadLink`.
@Suite(.serialized) struct LineFaultProxyTests {
    // MARK: - The fault core

    @Test func withoutFaultsBytesPassUnchanged() {
        var injector = LineFaultInjector(faults: PinpadFaults(), seed: 1)
        let bytes = (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        #expect(injector.pass(bytes) == bytes)
        #expect(injector.counts.bytesIn == bytes.count)
        #expect(injector.counts.bytesOut == bytes.count)
        #expect(injector.counts.faults == 0)
    }

    @Test func seededFaultsRepeatHoweverTheBytesAreCut() {
        var faults = PinpadFaults()
        faults.noiseCorruptPerByte = 0.01
        faults.noiseDropPerByte = 0.01
        faults.corrupt = 0.05
        faults.drop = 0.05
        faults.duplicate = 0.1
        var frames: [UInt8] = []
        for i in 0..<200 {
            let payload = [UInt8](repeating: UInt8(i % 7 + 1), count: i % 40)
            frames += Frame(type: MessageType.ping.rawValue, sequence: UInt8(i), payload: payload).encoded()
        }
        var whole = LineFaultInjector(faults: faults, seed: 99)
        var cut = LineFaultInjector(faults: faults, seed: 99)
        var other = LineFaultInjector(faults: faults, seed: 100)
        let once = whole.pass(frames)
        var pieces: [UInt8] = []
        var offset = 0
        var size = 1
        while offset < frames.count {
            let end = min(frames.count, offset + size)
            pieces += cut.pass(Array(frames[offset..<end]))
            offset = end
            size = size % 13 + 1
        }
        #expect(pieces == once)
        #expect(cut.counts == whole.counts)
        #expect(other.pass(frames) != once, "another seed, other faults")

        let c = whole.counts
        #expect(c.frames == 200)
        #expect(c.bytesIn == frames.count)
        #expect(c.bytesCorrupted > 0 && c.bytesDropped > 0)
        #expect(c.framesCorrupted > 0 && c.framesDropped > 0 && c.framesDuplicated > 0)
    }

    @Test func aDuplicateIsTheWholeFrameAgain() {
        var faults = PinpadFaults()
        faults.duplicate = 1
        var injector = LineFaultInjector(faults: faults, seed: 3)
        let frame = Frame(type: MessageType.ping.rawValue, sequence: 4, payload: Array("abc".utf8)).encoded()
        let out = injector.pass(frame)
        #expect(out == frame + frame)
        var decoder = FrameDecoder()
        let decoded = decoder.feed(out).compactMap { if case .frame(let f) = $0 { f } else { nil } }
        #expect(decoded.count == 2 && decoded[0] == decoded[1])
        #expect(injector.counts.framesDuplicated == 1)
    }

    /// Both link layers of the protocol on a virtual clock, each direction through its own
    /// injector: every message arrives exactly once and in order, both ways, and the link never
    /// goes down — at several seeds. The faults start once the link is up: a HELLO the line
    /// repeats after the pad has begun to send reads to the pad as a new host (§6.2), and then
    /// "once" is the application's business, not the link layer's.
    @Test(arguments: Array(1...12) as [UInt64])
    func theLinkLayerDeliversEverythingExactlyOnceThroughFaults(seed: UInt64) {
        // Enough to damage about one frame in six, not enough to make 8 transmissions of one
        // frame fail (which takes the link down, and then "once" is the application's business).
        var faults = PinpadFaults()
        faults.noiseCorruptPerByte = 0.003
        faults.noiseDropPerByte = 0.003
        faults.corrupt = 0.01
        faults.drop = 0.01
        faults.duplicate = 0.05
        var bench = VirtualLine(faults: faults, seed: seed)
        let count = 60
        let toPad = (0..<count).map { Message.ping(Array("host \($0)".utf8)) }
        let toHost = (0..<count).map { Message.ping(Array("pad \($0)".utf8)) }
        bench.run(hostSends: toPad, padSends: toHost)
        #expect(bench.padReceived == toPad)
        #expect(bench.hostReceived == toHost)
        #expect(bench.linkDowns == 0)
        let c = (bench.toPad.counts, bench.toHost.counts)
        #expect(c.0.faults > 0 && c.1.faults > 0)
    }

    // MARK: - The proxy over ptys

    @Test func bytesPassUnchangedBothWaysWithoutFaults() async throws {
        let padPath = uniqueLinkPath()
        let link = uniqueLinkPath()
        // A bare pty stands in for the pad: the test writes and reads its controller side.
        let padLine = try PseudoTerminal(linkPath: padPath)
        let pad = try SerialPort(adopting: padLine.takeController(), name: "test pad")
        let proxy = try await LineFaultProxy.start(LineFaultProxyOptions(devicePath: padPath, linkPath: link))
        let bridge = try SerialPort.open(link)

        let upstream = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let downstream = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 3) }
        try await bridge.write(upstream)
        try await pad.write(downstream)
        #expect(await collect(upstream.count, from: pad) == upstream)
        #expect(await collect(downstream.count, from: bridge) == downstream)

        let counts = await proxy.stop()
        #expect(counts.toPad.bytesIn == upstream.count && counts.toPad.bytesOut == upstream.count)
        #expect(counts.toHost.bytesIn == downstream.count && counts.toHost.bytesOut == downstream.count)
        #expect(!FileManager.default.fileExists(atPath: link), "the link goes with the proxy")
        await bridge.close()
        await pad.close()
        padLine.close()
    }

    @Test func thePadSimulatorAnswersEveryPromptOnceThroughAFaultyLine() async throws {
        let padPath = uniqueLinkPath()
        let link = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: padPath))
        pad.start()
        var faults = PinpadFaults()
        faults.noiseCorruptPerByte = 0.003
        faults.noiseDropPerByte = 0.003
        faults.drop = 0.02
        faults.duplicate = 0.05
        let proxy = try await LineFaultProxy.start(LineFaultProxyOptions(
            devicePath: padPath, linkPath: link, toPad: faults, toHost: faults, seed: 11))
        let host = try TestHost(path: link)
        await host.waitForLinkUp()

        let entries = ["8223281", "1111111119", "5000041234"]
        for (i, digits) in entries.enumerated() {
            let token = UInt16(i + 1)
            await host.send(.prompt(PromptRequest(token: token, prompt: .customerID)))
            #expect(await pad.waitForPrompt(.customerID, after: i, timeout: .seconds(10)) != nil)
            pad.type(digits)
            pad.press(.ok)
            let result = await host.waitForResult(token: token)
            #expect(result?.digits == Array(digits.utf8))
        }
        #expect(await host.entryResults().count == entries.count, "one ENTRY_RESULT per prompt")
        #expect(pad.snapshot.promptsOpened == entries.count, "each PROMPT opened once")
        let keyEvents = await host.log.events.filter { if case .message(.keyEvent) = $0 { true } else { false } }
        #expect(keyEvents.count == entries.map { $0.count + 1 }.reduce(0, +), "each key reported once")
        #expect(!(await host.log.events.contains { if case .linkDown = $0 { true } else { false } }))

        let counts = await proxy.stop()
        #expect(counts.toPad.frames > 0 && counts.toHost.frames > 0)
        await host.close()
        pad.stop()
        await pad.waitUntilStopped()
    }

    @Test func aCablePullHangsUpTheBridgeAndTheLineComesBack() async throws {
        let padPath = uniqueLinkPath()
        let link = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: padPath))
        pad.start()
        let proxy = try await LineFaultProxy.start(LineFaultProxyOptions(devicePath: padPath, linkPath: link))
        let host = try TestHost(path: link)
        await host.waitForLinkUp()

        await proxy.unplug()
        await host.waitFor("hang-up") { if case .lineClosed(.deviceGone) = $0 { true } else { false } }
        #expect(!FileManager.default.fileExists(atPath: link))
        #expect(await proxy.isPlugged == false)

        try await proxy.replug()
        let again = try TestHost(path: link)
        await again.waitForLinkUp()
        await again.send(.prompt(PromptRequest(token: 9, prompt: .customerID)))
        _ = await pad.waitForPrompt(.customerID, timeout: .seconds(10))
        pad.type("8223281")
        pad.press(.ok)
        #expect(await again.waitForResult(token: 9)?.digits == Array("8223281".utf8))

        // The same through pullCable, as the command does on SIGUSR1.
        await proxy.pullCable(for: .milliseconds(10))
        await again.waitFor("hang-up") { if case .lineClosed(.deviceGone) = $0 { true } else { false } }
        let third = try TestHost(path: link)
        await third.waitForLinkUp()
        #expect(await proxy.statistics.cablePulls == 2)

        await proxy.stop()
        await host.close()
        await again.close()
        await third.close()
        pad.stop()
        await pad.waitUntilStopped()
    }

    @Test func whenThePadGoesTheBridgesLineGoesAndComesBackWithIt() async throws {
        let padPath = uniqueLinkPath()
        let link = uniqueLinkPath()
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: padPath))
        pad.start()
        let proxy = try await LineFaultProxy.start(LineFaultProxyOptions(
            devicePath: padPath, linkPath: link, reopenInterval: .milliseconds(20)))
        let host = try TestHost(path: link)
        await host.waitForLinkUp()

        pad.unplug()
        await host.waitFor("hang-up") { if case .lineClosed(.deviceGone) = $0 { true } else { false } }
        pad.replug()
        var back = false
        for _ in 0..<500 where !back {
            back = await proxy.isPlugged
            if !back { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(back, "the bridge's line is published again once the pad is back")
        let again = try TestHost(path: link)
        await again.waitForLinkUp()
        #expect(await proxy.statistics.padLosses == 1)

        await proxy.stop()
        await host.close()
        await again.close()
        pad.stop()
        await pad.waitUntilStopped()
    }

    /// Reads from a line until `count` bytes have come (10 s at most, a guard against hangs).
    private func collect(_ count: Int, from port: SerialPort) async -> [UInt8] {
        let reader = Task {
            var bytes: [UInt8] = []
            for await event in port.events {
                if case .received(let b) = event { bytes += b }
                if bytes.count >= count { break }
            }
            return bytes
        }
        let guardTask = Task {
            try? await Task.sleep(for: .seconds(10))
            reader.cancel()
        }
        let bytes = await reader.value
        guardTask.cancel()
        return bytes
    }
}

/// Host and pad link layers joined by two `LineFaultInjector`s, on a virtual clock: bytes
/// written are received at once; when nothing is moving, time jumps to the next deadline.
struct VirtualLine {
    var host = LinkLayer(role: .host(HostHello(hostName: Array("till-1".utf8))))
    var pad = LinkLayer(role: .device(DeviceInfo(
        version: 1, maxPayload: 246, rows: 4, columns: 20, model: Array("NG-PAD-1".utf8),
        firmwareVersion: Array("1.0.0".utf8), serialNumber: Array("LINE-1".utf8),
        prompts: [PromptSpec(id: .customerID, minDigits: 7, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60)])))
    var toPad: LineFaultInjector
    var toHost: LineFaultInjector
    var now: UInt64 = 0
    var hostReceived: [Message] = []
    var padReceived: [Message] = []
    var linkDowns = 0
    /// Whether the injectors are in the line (from link-up on).
    private var faulty = false
    private var wireToPad: [UInt8] = []
    private var wireToHost: [UInt8] = []
    private var hostDelivered = 0
    private var padDelivered = 0

    init(faults: PinpadFaults, seed: UInt64) {
        toPad = LineFaultInjector(faults: faults, seed: LineFaultInjector.seed(seed, .toPad))
        toHost = LineFaultInjector(faults: faults, seed: LineFaultInjector.seed(seed, .toHost))
    }

    /// Links up, then sends each side's messages one at a time (the next when the last was
    /// acknowledged), until all are delivered or 10 virtual minutes pass.
    mutating func run(hostSends: [Message], padSends: [Message]) {
        hostActions(host.handle(.start, now: now))
        padActions(pad.handle(.start, now: now))
        var hostNext = 0
        var padNext = 0
        var hostInFlight = false
        var padInFlight = false
        while now < 600_000 {
            settle()
            // Messages go once both ends are linked: a pad that spoke before the host heard its
            // HELLO_REPLY would see the host's repeated HELLO as a restart (§6.2).
            let linked = host.isUp && pad.isUp
            if linked { faulty = true }
            if linked, !hostInFlight, hostNext < hostSends.count {
                hostInFlight = true
                hostActions(host.handle(.send(hostSends[hostNext]), now: now))
                hostNext += 1
            }
            if linked, !padInFlight, padNext < padSends.count {
                padInFlight = true
                padActions(pad.handle(.send(padSends[padNext]), now: now))
                padNext += 1
            }
            settle()
            if hostDelivered == hostNext { hostInFlight = false }
            if padDelivered == padNext { padInFlight = false }
            if hostDelivered == hostSends.count, padDelivered == padSends.count,
                hostReceived.count == padSends.count, padReceived.count == hostSends.count
            {
                return
            }
            let hostCanSend = !hostInFlight && hostNext < hostSends.count
            let padCanSend = !padInFlight && padNext < padSends.count
            if host.isUp && pad.isUp && (hostCanSend || padCanSend) { continue }
            let deadlines = [host.nextDeadline, pad.nextDeadline].compactMap { $0 }
            now = max(now + 1, deadlines.min() ?? now + 1)
            hostActions(host.handle(.tick, now: now))
            padActions(pad.handle(.tick, now: now))
        }
        Issue.record("not everything was delivered within 10 virtual minutes")
    }

    /// Carries bytes across until neither side has anything more to say at this instant.
    private mutating func settle() {
        while !wireToPad.isEmpty || !wireToHost.isEmpty {
            let a = faulty ? toPad.pass(wireToPad) : wireToPad
            wireToPad = []
            if !a.isEmpty { padActions(pad.handle(.received(a), now: now)) }
            let b = faulty ? toHost.pass(wireToHost) : wireToHost
            wireToHost = []
            if !b.isEmpty { hostActions(host.handle(.received(b), now: now)) }
        }
    }

    private mutating func hostActions(_ actions: [LinkAction]) {
        for action in actions {
            switch action {
            case .write(let bytes): wireToPad += bytes
            case .deliver(let m): hostReceived.append(m)
            case .delivered: hostDelivered += 1
            case .linkDown: linkDowns += 1
            default: break
            }
        }
    }

    private mutating func padActions(_ actions: [LinkAction]) {
        for action in actions {
            switch action {
            case .write(let bytes): wireToHost += bytes
            case .deliver(let m): padReceived.append(m)
            case .delivered: padDelivered += 1
            case .linkDown: linkDowns += 1
            default: break
            }
        }
    }
}
