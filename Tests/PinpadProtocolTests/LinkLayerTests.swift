import Common
import Testing
@testable import PinpadProtocol

// MARK: - Helpers

extension Array where Element == LinkAction {
    var writes: [[UInt8]] { compactMap { if case .write(let b) = $0 { return b } else { return nil } } }
    var framesWritten: [Frame] {
        var decoder = FrameDecoder()
        return writes.flatMap { decoder.feed($0) }.compactMap { if case .frame(let f) = $0 { return f } else { return nil } }
    }
    var delivered: [Message] { compactMap { if case .deliver(let m) = $0 { return m } else { return nil } } }
    var linkEvents: [LinkAction] {
        filter {
            switch $0 {
            case .linkUp, .linkDown: return true
            default: return false
            }
        }
    }
}

/// Brings a host and a pad link layer up by passing their frames directly, at time `now`.
func linkedPair(now: UInt64 = 0, timings: LinkTimings = LinkTimings()) -> (host: LinkLayer, pad: LinkLayer) {
    var host = LinkLayer(role: .host(referenceHostHello), timings: timings)
    var pad = LinkLayer(role: .device(referenceDeviceInfo), timings: timings)
    _ = pad.handle(.start, now: now)
    let hello = host.handle(.start, now: now).writes.flatMap { $0 }
    let reply = pad.handle(.received(hello), now: now).writes.flatMap { $0 }
    _ = host.handle(.received(reply), now: now)
    precondition(host.isUp && pad.isUp)
    return (host, pad)
}

// MARK: - Scenario tests

@Suite struct LinkEstablishmentTests {
    @Test func helloAndReplyBringBothEndsUp() {
        var host = LinkLayer(role: .host(referenceHostHello))
        var pad = LinkLayer(role: .device(referenceDeviceInfo))
        let announce = pad.handle(.start, now: 0)
        #expect(announce.framesWritten.map(\.type) == [MessageType.announce.rawValue])
        #expect(announce.framesWritten.first?.payload == [AnnounceReason.powerOn.rawValue])

        let hello = host.handle(.start, now: 0)
        #expect(hello.framesWritten.map(\.type) == [MessageType.hello.rawValue])
        #expect(host.state == .linking)

        let padSide = pad.handle(.received(hello.writes.flatMap { $0 }), now: 1)
        #expect(padSide.linkEvents == [.linkUp(.host(referenceHostHello))])
        #expect(padSide.framesWritten.map(\.type) == [MessageType.helloReply.rawValue])

        let hostSide = host.handle(.received(padSide.writes.flatMap { $0 }), now: 2)
        var expected = referenceDeviceInfo
        expected.version = 1
        #expect(hostSide.linkEvents == [.linkUp(.device(expected))])
    }

    @Test func helloRepeatsUntilThePadAnswers() {
        var host = LinkLayer(role: .host(referenceHostHello))
        _ = host.handle(.start, now: 0)
        #expect(host.nextDeadline == 250)
        #expect(host.handle(.tick, now: 100).writes.isEmpty)
        #expect(host.handle(.tick, now: 250).framesWritten.map(\.type) == [MessageType.hello.rawValue])
        #expect(host.nextDeadline == 500)
    }

    @Test func announceWhileLinkingDoesNotAddAHello() {
        // §6.2 step 1 (1.1): one HELLO per 250 ms; 1.0 sent a second one at once on ANNOUNCE.
        var host = LinkLayer(role: .host(referenceHostHello))
        _ = host.handle(.start, now: 0)
        let announce = Frame(type: MessageType.announce.rawValue, payload: [0]).encoded()
        #expect(host.handle(.received(announce), now: 10).framesWritten.isEmpty)
        #expect(host.handle(.tick, now: 250).framesWritten.map(\.type) == [MessageType.hello.rawValue])
    }

    @Test func announceRepetitionsKeepTheReasonThatStartedThem() {
        // §6.2 (1.1): reason 0 after power-on on every repetition; 3 only answers a data frame.
        var pad = LinkLayer(role: .device(referenceDeviceInfo))
        _ = pad.handle(.start, now: 0)
        let stray = pad.handle(.received(Frame(type: MessageType.reset.rawValue, sequence: 1).encoded()), now: 500)
        #expect(stray.framesWritten.map(\.payload) == [[AnnounceReason.notLinked.rawValue]])
        for t in [UInt64(1000), 2000] {
            #expect(pad.handle(.tick, now: t).framesWritten.map(\.payload) == [[AnnounceReason.powerOn.rawValue]])
        }
        // After a lost link: reason 2, repeated.
        var (_, linked) = linkedPair()
        let lost = linked.handle(.tick, now: 2500)
        #expect(lost.framesWritten.last?.payload == [AnnounceReason.linkLost.rawValue])
        #expect(linked.handle(.tick, now: 3500).framesWritten.map(\.payload) == [[AnnounceReason.linkLost.rawValue]])
    }

    @Test func helloReplyWhileUpAfterAnExchangeIsThePadsReset() {
        // §6.2 step 5 (1.1): the pad took a repeated HELLO for a host restart.
        var (host, pad) = linkedPair()
        _ = pad
        let sent = host.handle(.send(.reset), now: 1)
        #expect(sent.framesWritten.map(\.type) == [MessageType.reset.rawValue])
        var info = referenceDeviceInfo
        info.version = 1
        let reply = Frame(type: MessageType.helloReply.rawValue, payload: info.encodePayload()).encoded()
        // More than T_late after the host's last HELLO (at 0): the pad's reset.
        let out = host.handle(.received(reply), now: 1005)
        #expect(out.linkEvents == [.linkDown(.peerReset), .linkUp(.device(info))])
        #expect(out.contains(.sendFailed(.reset, .linkDown)))
        #expect(host.isUp)
        // Fresh sequence state: the next data frame is seq 1 again.
        #expect(host.handle(.send(.statusRequest), now: 1006).framesWritten.map(\.sequence) == [1])
    }

    @Test func aSlowPadsAnswerToARepeatedHelloAfterDataIsStillALateAnswer() {
        // §6.2 step 5 (1.1), T_late: a slow pad answers the first HELLO, the link comes up and
        // data flows, then its answer to the host's repeated HELLO arrives. The pad saw the
        // repeat before any data and did not reset, so neither may the host.
        var (host, _) = linkedPair()
        _ = host.handle(.send(.reset), now: 1)
        var info = referenceDeviceInfo
        info.version = 1
        let reply = Frame(type: MessageType.helloReply.rawValue, payload: info.encodePayload()).encoded()
        let out = host.handle(.received(reply), now: 400)
        #expect(out.linkEvents.isEmpty)
        #expect(!out.contains(.sendFailed(.reset, .linkDown)))
        #expect(host.isUp)
    }

    @Test func lateHelloReplyBeforeAnyExchangeIsIgnored() {
        var (host, _) = linkedPair()
        var info = referenceDeviceInfo
        info.version = 1
        let reply = Frame(type: MessageType.helloReply.rawValue, payload: info.encodePayload()).encoded()
        let out = host.handle(.received(reply), now: 5)
        #expect(out.linkEvents.isEmpty)
        #expect(out.writes.isEmpty)
    }

    @Test func padSeesADataFrameItSentButNobodyAckedAsAnExchange() {
        // §6.2 (1.1): a frame still in flight counts; the HELLO after it is a host restart.
        var (_, pad) = linkedPair()
        _ = pad.handle(.send(.ping([1])), now: 1)
        let hello = Frame(type: MessageType.hello.rawValue, payload: referenceHostHello.encodePayload()).encoded()
        #expect(pad.handle(.received(hello), now: 3).linkEvents == [.linkDown(.peerRestarted), .linkUp(.host(referenceHostHello))])
    }

    @Test func versionZeroHelloTakesALinkedPadDownAndItKeepsAnnouncing() {
        var (_, pad) = linkedPair()
        let hello = Frame(type: MessageType.hello.rawValue, payload: HostHello(minVersion: 2, maxVersion: 3, hostName: utf8("future")).encodePayload()).encoded()
        let out = pad.handle(.received(hello), now: 10)
        #expect(out.framesWritten.map(\.type) == [MessageType.helloReply.rawValue, MessageType.announce.rawValue])
        #expect(out.framesWritten.first?.payload.first == 0)
        #expect(!pad.isUp)
        #expect(pad.handle(.tick, now: 1010).framesWritten.map(\.type) == [MessageType.announce.rawValue])
    }

    @Test func repeatedHelloBeforeAnyExchangeOnlyGetsAnotherReply() {
        var (host, pad) = linkedPair()
        _ = host
        let hello = Frame(type: MessageType.hello.rawValue, payload: referenceHostHello.encodePayload()).encoded()
        let actions = pad.handle(.received(hello), now: 5)
        #expect(actions.linkEvents.isEmpty)
        #expect(actions.framesWritten.map(\.type) == [MessageType.helloReply.rawValue])
    }

    @Test func helloAfterAnExchangeMeansTheHostRestarted() {
        var (host, pad) = linkedPair()
        let data = host.handle(.send(.reset), now: 1).writes.flatMap { $0 }
        _ = pad.handle(.received(data), now: 2)
        let hello = Frame(type: MessageType.hello.rawValue, payload: referenceHostHello.encodePayload()).encoded()
        let actions = pad.handle(.received(hello), now: 3)
        #expect(actions.linkEvents == [.linkDown(.peerRestarted), .linkUp(.host(referenceHostHello))])
    }

    @Test func incompatibleVersionIsReportedOnceAndHelloGoesOn() {
        var host = LinkLayer(role: .host(HostHello(minVersion: 2, maxVersion: 3, hostName: utf8("future"))))
        var pad = LinkLayer(role: .device(referenceDeviceInfo))
        _ = pad.handle(.start, now: 0)
        var reports = 0
        for t in stride(from: UInt64(0), through: 1000, by: 250) {
            let out = t == 0 ? host.handle(.start, now: 0) : host.handle(.tick, now: t)
            let reply = pad.handle(.received(out.writes.flatMap { $0 }), now: t)
            #expect(!pad.isUp)
            for case .incompatiblePeer(let info) in host.handle(.received(reply.writes.flatMap { $0 }), now: t) {
                #expect(info.version == 0)
                reports += 1
            }
        }
        #expect(reports == 1)
        #expect(!host.isUp)
    }

    @Test func padThatIsNotLinkedAnswersDataWithAnnounce() {
        var pad = LinkLayer(role: .device(referenceDeviceInfo))
        _ = pad.handle(.start, now: 0)
        let data = Frame(type: MessageType.reset.rawValue, sequence: 1).encoded()
        let out = pad.handle(.received(data), now: 100)
        #expect(out.framesWritten.map(\.type) == [MessageType.announce.rawValue])
        #expect(out.framesWritten.first?.payload == [AnnounceReason.notLinked.rawValue])
        #expect(out.delivered.isEmpty)
    }

    @Test func announceWhileUpMeansThePadRestarted() {
        var (host, _) = linkedPair()
        let announce = Frame(type: MessageType.announce.rawValue, payload: [0]).encoded()
        let out = host.handle(.received(announce), now: 50)
        #expect(out.linkEvents == [.linkDown(.peerRestarted)])
        #expect(host.state == .linking)
        // §6.2 step 1 (1.1): the HELLO that brought the link up went out at 0; the next waits
        // until T_hello has passed, ANNOUNCE or not.
        #expect(out.framesWritten.isEmpty)
        #expect(host.nextDeadline == 250)
        #expect(host.handle(.tick, now: 249).framesWritten.isEmpty)
        #expect(host.handle(.tick, now: 250).framesWritten.map(\.type) == [MessageType.hello.rawValue])
    }

    @Test func announceLongAfterTheLastHelloIsAnsweredWithHelloAtOnce() {
        var (host, _) = linkedPair()
        let announce = Frame(type: MessageType.announce.rawValue, payload: [0]).encoded()
        _ = host.handle(.received(Frame(type: MessageType.heartbeat.rawValue).encoded()), now: 2000)
        let out = host.handle(.received(announce), now: 2100)
        #expect(out.linkEvents == [.linkDown(.peerRestarted)])
        #expect(out.framesWritten.map(\.type) == [MessageType.hello.rawValue])
    }
}

@Suite struct LinkReliabilityTests {
    @Test func dataIsAcknowledgedAndDeliveredOnce() {
        var (host, pad) = linkedPair()
        let sent = host.handle(.send(.cancelPrompt(token: 9)), now: 1)
        #expect(sent.framesWritten.map(\.sequence) == [1])
        let received = pad.handle(.received(sent.writes.flatMap { $0 }), now: 2)
        #expect(received.delivered == [.cancelPrompt(token: 9)])
        #expect(received.framesWritten.map(\.type) == [MessageType.ack.rawValue])
        let acked = host.handle(.received(received.writes.flatMap { $0 }), now: 3)
        #expect(acked == [.delivered(.cancelPrompt(token: 9))])
        #expect(host.pendingCount == 0)
    }

    @Test func lostAckLeadsToRetransmissionAndTheDuplicateIsDroppedButAcknowledged() {
        var (host, pad) = linkedPair()
        let first = host.handle(.send(.reset), now: 0).writes.flatMap { $0 }
        #expect(pad.handle(.received(first), now: 1).delivered == [.reset])  // its ACK is lost
        let retry = host.handle(.tick, now: 200)
        #expect(retry.framesWritten.map(\.sequence) == [1])
        #expect(retry.framesWritten.first?.flags.contains(.retransmission) == true)
        let second = pad.handle(.received(retry.writes.flatMap { $0 }), now: 201)
        #expect(second.delivered.isEmpty)
        #expect(second.framesWritten.map(\.type) == [MessageType.ack.rawValue])
        #expect(pad.statistics.duplicatesDropped == 1)
        #expect(host.handle(.received(second.writes.flatMap { $0 }), now: 202) == [.delivered(.reset)])
    }

    @Test func nakMakesTheSenderRetransmitAtOnce() {
        var (host, pad) = linkedPair()
        var line = host.handle(.send(.statusRequest), now: 0).writes.flatMap { $0 }
        line[line.count - 3] ^= 0x40  // damage the CRC
        let nak = pad.handle(.received(line), now: 1)
        #expect(nak.framesWritten.map(\.type) == [MessageType.nak.rawValue])
        #expect(nak.framesWritten.first?.sequence == 1)
        let retransmit = host.handle(.received(nak.writes.flatMap { $0 }), now: 2)
        #expect(retransmit.framesWritten.map(\.sequence) == [1])
        #expect(pad.handle(.received(retransmit.writes.flatMap { $0 }), now: 3).delivered == [.statusRequest])
    }

    @Test func retransmitExhaustionTakesTheLinkDownAndFailsPendingMessages() {
        var (host, _) = linkedPair()
        _ = host.handle(.send(.reset), now: 0)
        _ = host.handle(.send(.statusRequest), now: 0)
        var transmissions = 1
        var down: [LinkAction] = []
        var t: UInt64 = 0
        while host.isUp, t < 10_000 {
            t = host.nextDeadline!
            let out = host.handle(.tick, now: t)
            transmissions += out.framesWritten.filter { $0.type == MessageType.reset.rawValue }.count
            down += out.filter { if case .linkDown = $0 { return true } else if case .sendFailed = $0 { return true } else { return false } }
        }
        #expect(transmissions == 8)
        #expect(t == 8 * 200)
        #expect(down == [.sendFailed(.reset, .linkDown), .sendFailed(.statusRequest, .linkDown), .linkDown(.noAcknowledgement)])
        #expect(host.state == .linking)
    }

    @Test func heartbeatWhenIdleAndSilenceTakesTheLinkDown() {
        var (host, _) = linkedPair()
        #expect(host.nextDeadline == 1000)
        #expect(host.handle(.tick, now: 1000).framesWritten.map(\.type) == [MessageType.heartbeat.rawValue])
        #expect(host.handle(.tick, now: 2000).framesWritten.map(\.type) == [MessageType.heartbeat.rawValue])
        let down = host.handle(.tick, now: 2500)
        #expect(down.linkEvents == [.linkDown(.silence)])
    }

    @Test func heartbeatsKeepTheLinkUp() {
        var (host, pad) = linkedPair()
        var t: UInt64 = 0
        while t < 20_000 {
            t += 100
            let h = host.handle(.tick, now: t).writes.flatMap { $0 }
            let p = pad.handle(.tick, now: t).writes.flatMap { $0 }
            _ = pad.handle(.received(h), now: t)
            _ = host.handle(.received(p), now: t)
        }
        #expect(host.isUp && pad.isUp)
        #expect(host.statistics.linkDowns == 0)
    }

    @Test func interByteTimeoutDropsTheFrameAndNaks() {
        var (host, pad) = linkedPair()
        let line = host.handle(.send(.reset), now: 0).writes.flatMap { $0 }
        _ = pad.handle(.received(Array(line.prefix(6))), now: 10)
        #expect(pad.nextDeadline == 110)
        let out = pad.handle(.tick, now: 110)
        #expect(out.contains(.frameError(.interByteTimeout(length: 5))))
        #expect(out.framesWritten.map(\.type) == [MessageType.nak.rawValue])
    }

    @Test func sendFailuresAreReported() {
        var host = LinkLayer(role: .host(referenceHostHello))
        #expect(host.handle(.send(.reset), now: 0) == [.sendFailed(.reset, .linkDown)])
        var timings = LinkTimings()
        timings.queueLimit = 1
        var (up, _) = linkedPair(timings: timings)
        _ = up.handle(.send(.reset), now: 0)  // in flight
        _ = up.handle(.send(.reset), now: 0)  // queued
        #expect(up.handle(.send(.statusRequest), now: 0) == [.sendFailed(.statusRequest, .queueFull)])
        let big = Message.ping([UInt8](repeating: 1, count: 247))
        #expect(up.handle(.send(big), now: 0) == [.sendFailed(big, .tooLarge)])
    }

    @Test func sequenceNumbersWrapFrom255To1() {
        var (host, pad) = linkedPair()
        var seen: [UInt8] = []
        for i in 0..<300 {
            let out = host.handle(.send(.ping([UInt8(i & 0xFF)])), now: UInt64(i))
            seen += out.framesWritten.map(\.sequence)
            let ack = pad.handle(.received(out.writes.flatMap { $0 }), now: UInt64(i))
            #expect(ack.delivered == [.ping([UInt8(i & 0xFF)])])
            _ = host.handle(.received(ack.writes.flatMap { $0 }), now: UInt64(i))
        }
        #expect(seen.count == 300)
        #expect(!seen.contains(0))
        #expect(seen[254] == 255 && seen[255] == 1)
    }

    @Test func unknownDataTypeIsAcknowledgedAndReportedAsInvalid() {
        var (_, pad) = linkedPair()
        let frame = Frame(type: 0x7F, sequence: 1, payload: [1, 2]).encoded()
        let out = pad.handle(.received(frame), now: 1)
        #expect(out.framesWritten.map(\.type) == [MessageType.ack.rawValue])
        #expect(out.contains(.deliverInvalid(type: 0x7F, sequence: 1, error: .unknownType(0x7F), payload: [1, 2])))
    }

    @Test func dataTypeTravellingTheWrongWayIsReportedWithItsSequence() {
        // §4 (1.1): KEY_EVENT at a pad, PROMPT at a host: code 3, ref_seq = the frame's seq.
        var (host, pad) = linkedPair()
        let key = Frame(type: MessageType.keyEvent.rawValue, sequence: 7, payload: [1, 0, 0, 1]).encoded()
        let atPad = pad.handle(.received(key), now: 1)
        #expect(atPad.delivered.isEmpty)
        #expect(atPad.contains(.deliverInvalid(type: 0x40, sequence: 7, error: .wrongDirection(0x40), payload: [1, 0, 0, 1])))
        #expect(MessageError.wrongDirection(0x40).reportCode == .notAllowedNow)
        let prompt = Frame(type: MessageType.prompt.rawValue, sequence: 4, payload: [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]).encoded()
        let atHost = host.handle(.received(prompt), now: 1)
        #expect(atHost.delivered.isEmpty)
        #expect(atHost.contains(.deliverInvalid(type: 0x21, sequence: 4, error: .wrongDirection(0x21), payload: [1, 0, 1, 0, 0, 0, 0, 0, 0, 0])))
        #expect(MessageError.unknownType(0x44).reportCode == .unknownMessageType)
        #expect(MessageError.truncated.reportCode == .malformedPayload)
    }
}

// MARK: - Simulated lossy line

/// Host and pad link layers joined by a simulated line with seeded faults and a virtual clock.
struct SimulatedLine {
    var host = LinkLayer(role: .host(referenceHostHello))
    var pad = LinkLayer(role: .device(referenceDeviceInfo))
    var rng: SeededRandom
    var corruptByte = 0.0
    var dropByte = 0.0
    var duplicateChunk = 0.0
    var now: UInt64 = 0
    /// Bytes in flight: (arrival time, to the pad?, bytes).
    var inFlight: [(at: UInt64, toPad: Bool, bytes: [UInt8])] = []
    var hostLog: [LinkAction] = []
    var padLog: [LinkAction] = []

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    mutating func transmit(_ actions: [LinkAction], toPad: Bool) {
        for bytes in actions.writes {
            var damaged: [UInt8] = []
            for b in bytes {
                if rng.chance(dropByte) { continue }
                damaged.append(rng.chance(corruptByte) ? b ^ UInt8.random(in: 1...255, using: &rng) : b)
            }
            // A serial line never reorders: each chunk arrives after the previous one in its direction.
            let latency = UInt64.random(in: 1...3, using: &rng)
            let previous = inFlight.filter { $0.toPad == toPad }.map(\.at).max() ?? 0
            let arrival = max(now + latency, previous)
            inFlight.append((arrival, toPad, damaged))
            if rng.chance(duplicateChunk) { inFlight.append((arrival, toPad, damaged)) }
        }
    }

    mutating func record(_ actions: [LinkAction], fromPad: Bool) {
        if fromPad { padLog += actions } else { hostLog += actions }
        transmit(actions, toPad: !fromPad)
    }

    mutating func start() {
        record(pad.handle(.start, now: now), fromPad: true)
        record(host.handle(.start, now: now), fromPad: false)
    }

    mutating func send(_ m: Message, fromPad: Bool) {
        if fromPad { record(pad.handle(.send(m), now: now), fromPad: true) } else { record(host.handle(.send(m), now: now), fromPad: false) }
    }

    /// Advances virtual time until `until`, delivering bytes and firing timers in order.
    mutating func run(until end: UInt64) {
        while true {
            let nextArrival = inFlight.map(\.at).min()
            let candidates = [nextArrival, host.nextDeadline, pad.nextDeadline].compactMap { $0 }
            guard let next = candidates.min(), next <= end else { now = end; return }
            now = max(now, next)
            if let i = inFlight.firstIndex(where: { $0.at <= now }) {  // first due, in sending order
                let chunk = inFlight.remove(at: i)
                if chunk.toPad { record(pad.handle(.received(chunk.bytes), now: now), fromPad: true) } else { record(host.handle(.received(chunk.bytes), now: now), fromPad: false) }
                continue
            }
            if let d = host.nextDeadline, d <= now { record(host.handle(.tick, now: now), fromPad: false) }
            if let d = pad.nextDeadline, d <= now { record(pad.handle(.tick, now: now), fromPad: true) }
        }
    }
}

@Suite struct LossyLineTests {
    /// With 1 % corrupted and 1 % dropped bytes and duplicated chunks, every message sent while
    /// the link stays up arrives exactly once and in order, and nothing arrives that was not sent.
    @Test(arguments: [UInt64(11), 12, 13, 14])
    func faultsNeverDuplicateReorderOrForgeMessages(seed: UInt64) {
        var line = SimulatedLine(seed: seed)
        line.corruptByte = 0.01
        line.dropByte = 0.01
        line.duplicateChunk = 0.02
        line.start()
        // Linking through the faults may take a few HELLOs (one per 250 ms).
        while !(line.host.isUp && line.pad.isUp), line.now < 10_000 { line.run(until: line.now + 250) }
        line.run(until: line.now + 500)
        #expect(line.host.isUp && line.pad.isUp)

        var sentToPad: [Message] = []
        var sentToHost: [Message] = []
        for i in 0..<200 {
            let toPad = Message.prompt(PromptRequest(token: UInt16(i + 1), prompt: .customerID, amount: UInt32(i)))
            let toHost = Message.keyEvent(KeyEvent(token: UInt16(i + 1), key: .digit, length: UInt8(i % 10)))
            sentToPad.append(toPad)
            sentToHost.append(toHost)
            line.send(toPad, fromPad: false)
            line.send(toHost, fromPad: true)
            line.run(until: line.now + 40)
        }
        line.run(until: line.now + 5000)

        let atPad = line.padLog.delivered
        let atHost = line.hostLog.delivered.filter { if case .keyEvent = $0 { return true } else { return false } }
        let failedToPad = line.hostLog.compactMap { if case .sendFailed(let m, _) = $0 { return m } else { return nil } }
        let failedToHost = line.padLog.compactMap { if case .sendFailed(let m, _) = $0 { return m } else { return nil } }
        // Exactly once, in order: what arrived is what was sent, minus what was reported failed
        // (a failed message may still have arrived if only its ACK was lost).
        #expect(isOrderedSubsequence(atPad, of: sentToPad) && Set(atPad).count == atPad.count)
        #expect(isOrderedSubsequence(atHost, of: sentToHost) && Set(atHost).count == atHost.count)
        for m in sentToPad where !atPad.contains(m) { #expect(failedToPad.contains(m), "lost without a report: \(m)") }
        for m in sentToHost where !atHost.contains(m) { #expect(failedToHost.contains(m), "lost without a report: \(m)") }
        #expect(line.host.statistics.frameErrors + line.pad.statistics.frameErrors > 0, "the faults must actually have hit frames")
    }

    /// On a clean line nothing is lost, retransmitted or reported.
    @Test func cleanLineDeliversEverything() {
        var line = SimulatedLine(seed: 5)
        line.start()
        line.run(until: 100)
        // Each message in its own direction (§4): host → pad types from the host, pad → host
        // types from the pad, the two-way types both ways.
        let toPad = sampleMessages.filter { !(0x40...0x5F).contains($0.type.rawValue) }
        let toHost = sampleMessages.filter { !(0x20...0x3F).contains($0.type.rawValue) }
        for m in toPad { line.send(m, fromPad: false) }
        for m in toHost { line.send(m, fromPad: true) }
        line.run(until: line.now + 1000)
        #expect(line.padLog.delivered == toPad)
        #expect(line.hostLog.delivered == toHost)
        #expect(line.host.statistics.retransmissions == 0 && line.pad.statistics.retransmissions == 0)
        #expect(line.hostLog.filter { if case .delivered = $0 { return true } else { return false } }.count == toPad.count)
    }

    /// A line that goes dead: both ends notice within 2.5 s, and come back when it returns.
    @Test func deadLineIsDetectedWithinTheLimitAndRecovers() {
        var line = SimulatedLine(seed: 6)
        line.start()
        line.run(until: 500)
        #expect(line.host.isUp)
        line.dropByte = 1.0
        let died = line.now
        line.run(until: died + 3000)
        let downs = line.hostLog.compactMap { if case .linkDown(let r) = $0 { return r } else { return nil } }
        #expect(downs == [.silence])
        #expect(!line.host.isUp && !line.pad.isUp)
        line.dropByte = 0
        line.run(until: line.now + 1500)
        #expect(line.host.isUp && line.pad.isUp)
    }
}

func isOrderedSubsequence(_ sub: [Message], of seq: [Message]) -> Bool {
    var it = seq.makeIterator()
    outer: for m in sub {
        while let n = it.next() { if n == m { continue outer } }
        return false
    }
    return true
}
