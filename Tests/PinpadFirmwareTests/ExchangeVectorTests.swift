import Foundation
import PinpadFirmware
import PinpadProtocol
import Testing

/// `protocol/vectors/exchanges.json` (made by the independent Python reference from PROTOCOL.md
/// 1.1): what a linked pad answers to one frame from the host. The firmware must answer byte for
/// byte — except ERROR_REPORT's `text`, which is free diagnostic text.
@Suite struct ExchangeVectorTests {
    nonisolated(unsafe) static let vectors: [[String: Any]] = {  // read-only after loading
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("protocol/vectors/exchanges.json")
        guard let data = try? Data(contentsOf: url),
            let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return doc["exchanges"] as? [[String: Any]] ?? []
    }()

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test func thereAreVectors() {
        #expect(Self.vectors.count >= 15)
    }

    @Test func thePadAnswersEveryExchangeAsTheVectorSays() throws {
        for v in Self.vectors {
            let name = v["name"] as? String ?? "?"
            var pad = PadFirmware(profile: DeviceProfile())
            var decoder = FrameDecoder()
            var now: UInt64 = 0
            func run(_ bytes: [UInt8]) -> [Frame] {
                now += 10
                var frames: [Frame] = []
                for case .write(let out) in pad.handle(.received(bytes), now: now) {
                    for case .frame(let f) in decoder.feed(out) { frames.append(f) }
                }
                return frames
            }
            _ = pad.handle(.lineOpened, now: 0)
            _ = run(Frame(type: MessageType.hello.rawValue, payload: HostHello(hostName: Array("t".utf8)).encodePayload()).encoded())
            let host = try #require(v["host_sends"] as? [String: Any])
            let seq = UInt8(host["seq"] as! Int)
            if let open = v["open_prompt"] as? [String: Any] {
                let request = PromptRequest(token: UInt16(open["token"] as! Int), prompt: PromptID(rawValue: UInt8(open["prompt"] as! Int)))
                let opened = run(Frame(type: MessageType.prompt.rawValue, sequence: seq &- 1, payload: Message.prompt(request).encodePayload()).encoded())
                #expect(opened.map(\.type) == [MessageType.ack.rawValue], "\(name): opening the prompt")
            }
            // Feed the host's frame; acknowledge each data frame the pad sends, as a host does.
            var got: [Frame] = []
            var pending = run(Self.bytes(host["line"] as! String))
            while let f = pending.first {
                pending.removeFirst()
                got.append(f)
                if MessageType.isData(f.type) {
                    pending += run(Frame(type: MessageType.ack.rawValue, sequence: f.sequence).encoded())
                }
            }
            got = got.filter { $0.type != MessageType.heartbeat.rawValue }
            let expected = try #require(v["pad_sends"] as? [[String: Any]])
            #expect(got.count == expected.count, "\(name): \(got.count) frames, expected \(expected.count)")
            for (f, e) in zip(got, expected) {
                let line = Self.bytes(e["line"] as! String)
                if f.type == MessageType.errorReport.rawValue, case .errorReport(let r)? = try? Message.decode(type: f.type, payload: f.payload) {
                    let fields = e["fields"] as! [String: Any]
                    let gotFields: [Int] = [Int(r.code.rawValue), Int(r.referenceType), Int(r.referenceSequence), Int(f.sequence)]
                    let code = fields["code"] as! Int, refType = fields["ref_type"] as! Int
                    let refSeq = fields["ref_seq"] as! Int, seq = e["seq"] as! Int
                    let wanted: [Int] = [code, refType, refSeq, seq]
                    #expect(gotFields == wanted, "\(name): ERROR_REPORT")
                } else {
                    #expect(f.encoded() == line, "\(name): frame \(f.type) seq \(f.sequence)")
                }
            }
        }
    }
}
