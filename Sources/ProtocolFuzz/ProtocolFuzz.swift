// Fuzz target for the PIN-pad protocol's receiving side: the streaming frame decoder, message
// decoding, and both ends' link-layer state machines fed arbitrary bytes and time.
//
// Fuzzing build (libFuzzer):
//   swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING --product ProtocolFuzz
//   SWIFT_BACKTRACE=enable=no .build-fuzz/release/ProtocolFuzz -max_total_time=60 Tests/Fuzz/corpus-protocol
// Plain build: `ProtocolFuzz FILE...` runs the given inputs once each (regression runs of crashes found).
import Foundation
import FuzzSupport
import PinpadProtocol

/// Checks every property that must hold for any input; traps (a fuzzer finding) when one fails.
func fuzzOne(_ data: [UInt8]) {
    // 1. The decoder, fed in chunks whose sizes come from the input itself.
    var decoder = FrameDecoder()
    var index = 0
    var chunk = 1
    while index < data.count {
        let end = min(data.count, index + chunk)
        for output in decoder.feed(data[index..<end]) {
            guard case .frame(let frame) = output else { continue }
            // A decoded frame re-encodes to a line that decodes to the same frame.
            precondition(frame.payload.count <= ProtocolLimits.maxPayload)
            var again = FrameDecoder()
            precondition(again.feed(frame.encoded()) == [.frame(frame)], "re-encoding changed a frame")
            // A message that decodes re-encodes to a payload that decodes to the same message.
            if let message = try? Message.decode(type: frame.type, payload: frame.payload) {
                precondition((try? Message.decode(type: frame.type, payload: message.encodePayload())) == message)
            }
        }
        chunk = Int(data[index] % 64) + 1
        index = end
    }
    // 2. Both link-layer ends, fed the bytes with time advancing by the byte values.
    for role in [LinkRole.host(HostHello(hostName: Array("fuzz".utf8))), .device(fuzzDevice)] {
        var link = LinkLayer(role: role)
        var now: UInt64 = 0
        _ = link.handle(.start, now: now)
        var i = 0
        while i < data.count {
            let n = min(data.count - i, Int(data[i] % 32) + 1)
            now += UInt64(data[i] % 128) * 10
            _ = link.handle(.received(Array(data[i..<(i + n)])), now: now)
            if let deadline = link.nextDeadline, deadline <= now + 5000 {
                _ = link.handle(.tick, now: max(now, deadline))
            }
            if data[i] & 0x80 != 0 { _ = link.handle(.send(.ping([data[i]])), now: now) }
            i += n
        }
        precondition(link.pendingCount <= LinkTimings().queueLimit + 1)
    }
}

let fuzzDevice = DeviceInfo(
    version: 1, maxPayload: 246, rows: 4, columns: 20, model: Array("NG-PAD-1".utf8),
    firmwareVersion: Array("1.0.0".utf8), serialNumber: Array("FUZZ".utf8),
    prompts: [PromptSpec(id: .customerID, minDigits: 7, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60)])

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzMain.input(start, count, fuzzOne)
}
#endif

@main
struct ProtocolFuzz {
    static func main() {
        #if FUZZING
        FuzzMain.runLibFuzzer(fuzzTestOneInput)
        #else
        FuzzMain.replay(name: "ProtocolFuzz", fuzzOne)
        #endif
    }
}
