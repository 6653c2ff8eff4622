import Common
import Testing
@testable import PinpadProtocol

@Suite struct COBSTests {
    func encode(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        COBS.encode(bytes, into: &out)
        return out
    }

    @Test func examplesFromTheSpec() {
        #expect(encode([0x01]) == [0x02, 0x01])
        #expect(encode([0x00]) == [0x01, 0x01])
        #expect(encode([0x11, 0x22, 0x00, 0x33]) == [0x03, 0x11, 0x22, 0x02, 0x33])
        #expect(encode([UInt8](repeating: 1, count: 254)) == [0xFF] + [UInt8](repeating: 1, count: 254) + [0x01])
        #expect(encode([]) == [0x01])
    }

    @Test func roundTripOfRandomData() {
        var rng = SeededRandom(seed: 1)
        for length in [0, 1, 2, 253, 254, 255, 256, 300, 600] {
            for _ in 0..<20 {
                var data = rng.bytes(length)
                if length > 3 { data[length / 2] = 0 }
                let encoded = encode(data)
                #expect(!encoded.contains(0))
                #expect(encoded.count <= COBS.maxEncodedLength(length))
                var decoded: [UInt8] = []
                #expect(COBS.decode(encoded, into: &decoded))
                #expect(decoded == data)
            }
        }
    }

    @Test func rejectsCodeRunningPastTheEnd() {
        var out: [UInt8] = []
        #expect(!COBS.decode([0x05, 0x01, 0x02], into: &out))
    }
}

@Suite struct FrameTests {
    @Test func bodyLayoutIsHeaderPayloadCRC() {
        let frame = Frame(type: 0x60, flags: .retransmission, sequence: 7, payload: [0xAA, 0xBB])
        let body = frame.body()
        #expect(Array(body[0..<6]) == [0x01, 0x60, 0x01, 0x07, 0x02, 0x00])
        #expect(Array(body[6..<8]) == [0xAA, 0xBB])
        let crc = CRC32C.checksum(body[0..<8])
        #expect(Array(body[8...]) == [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)])
    }

    @Test func lineFormIsDelimitedCOBS() throws {
        let frame = Frame(type: 0x20, sequence: 1, payload: utf8("Góðan daginn"))
        let line = frame.encoded()
        #expect(line.first == 0 && line.last == 0)
        #expect(!line.dropFirst().dropLast().contains(0))
        var decoder = FrameDecoder()
        #expect(decoder.feed(line) == [.frame(frame)])
    }

    @Test func largestFrameFitsTheLimits() {
        let frame = Frame(type: 0x60, sequence: 1, payload: [UInt8](repeating: 7, count: ProtocolLimits.maxPayload))
        let line = frame.encoded()
        #expect(line.count - 2 <= ProtocolLimits.maxEncodedLength)
        var decoder = FrameDecoder()
        #expect(decoder.feed(line) == [.frame(frame)])
    }

    @Test func parseChecksInTheSpecOrder() {
        #expect(throws: FrameError.tooShort(length: 9)) { try Frame.parse(body: [UInt8](repeating: 1, count: 9)) }
        var body = Frame(type: 0x60, sequence: 1, payload: [1, 2, 3]).body()
        body[4] = 4
        #expect(throws: FrameError.lengthMismatch(declared: 4, actual: 3)) { try Frame.parse(body: body) }
        body = Frame(type: 0x60, sequence: 1, payload: [1, 2, 3]).body()
        body[7] ^= 0x10
        #expect(throws: FrameError.self) { try Frame.parse(body: body) }
        // Version 2 with a correct CRC.
        var v2 = Array(Frame(type: 0x60, sequence: 1, payload: []).body()[0..<6])
        v2[0] = 2
        let crc = CRC32C.checksum(v2)
        v2 += [UInt8(crc & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8((crc >> 16) & 0xFF), UInt8(crc >> 24)]
        #expect(throws: FrameError.unsupportedVersion(2)) { try Frame.parse(body: v2) }
    }
}

@Suite struct FrameDecoderTests {
    let frames: [Frame] = (0..<12).map { i in
        Frame(type: 0x60, sequence: UInt8(i + 1), payload: (0..<(i * 21)).map { UInt8(truncatingIfNeeded: $0 * 7) })
    }

    @Test func anyChunkingGivesTheSameFrames() {
        var rng = SeededRandom(seed: 2)
        let stream = frames.flatMap { $0.encoded() }
        for _ in 0..<200 {
            var decoder = FrameDecoder()
            var results: [FrameDecoder.Output] = []
            var index = 0
            while index < stream.count {
                let n = Int.random(in: 1...40, using: &rng)
                let end = min(stream.count, index + n)
                results += decoder.feed(stream[index..<end])
                index = end
            }
            #expect(results == frames.map { .frame($0) })
        }
    }

    @Test func garbageBeforeAFrameIsCutOffByTheLeadingDelimiter() {
        var decoder = FrameDecoder()
        let results = decoder.feed([0x12, 0x34, 0x56] + frames[3].encoded())
        #expect(results.count == 2)
        #expect(results.last == .frame(frames[3]))
    }

    @Test func oversizedRunIsDiscardedAndTheNextFrameDecodes() {
        var decoder = FrameDecoder()
        let results = decoder.feed([UInt8](repeating: 0x41, count: 1000) + frames[2].encoded())
        #expect(results == [.error(.oversized(length: 1000)), .frame(frames[2])])
    }

    @Test func interByteTimeoutEndsAnOversizedDiscardRun() {
        // §3.3 rule 5 (1.1): after the timeout the next byte starts a new block, so a frame whose
        // leading delimiter was lost still decodes instead of being discarded with the noise.
        var decoder = FrameDecoder()
        #expect(decoder.feed([UInt8](repeating: 0x41, count: 300)).isEmpty)
        #expect(decoder.isInsideFrame)
        #expect(decoder.abandonPartialFrame() == .interByteTimeout(length: 300))
        let line = frames[2].encoded()
        #expect(decoder.feed(Array(line.dropFirst())) == [.frame(frames[2])])
    }

    @Test func interByteTimeoutDropsThePartialFrame() {
        var decoder = FrameDecoder()
        let line = frames[5].encoded()
        _ = decoder.feed(line[0..<20])
        #expect(decoder.isInsideFrame)
        #expect(decoder.abandonPartialFrame() == .interByteTimeout(length: 19))
        #expect(!decoder.isInsideFrame)
        #expect(decoder.feed(line) == [.frame(frames[5])])
    }

    /// Random corruption never yields a wrong frame: each damaged frame is either reported or
    /// (when the damage hit only delimiters/padding) not seen at all, and every frame that comes
    /// out is one that was sent. Resynchronisation happens at the next frame.
    @Test func randomCorruptionNeverYieldsAWrongFrame() {
        var rng = SeededRandom(seed: 3)
        var wrong = 0
        var recovered = 0
        for round in 0..<3000 {
            let sent = Frame(type: 0x20 + UInt8(round % 16), sequence: UInt8(round % 255) + 1, payload: rng.bytes(Int.random(in: 0...120, using: &rng)))
            var line = sent.encoded()
            // Flip, drop or insert a few bytes.
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<line.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: line[i] ^= UInt8.random(in: 1...255, using: &rng)
                case 1: line.remove(at: i)
                default: line.insert(UInt8.random(in: 0...255, using: &rng), at: i)
                }
            }
            let follower = Frame(type: 0x61, sequence: 9, payload: [1, 2, 3])
            var decoder = FrameDecoder()
            let results = decoder.feed(line + follower.encoded())
            for case .frame(let f) in results where f != sent && f != follower { wrong += 1 }
            if results.last == .frame(follower) { recovered += 1 }
        }
        #expect(wrong == 0)
        #expect(recovered == 3000)
    }
}
