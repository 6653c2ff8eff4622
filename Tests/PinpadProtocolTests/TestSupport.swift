import Common
import Foundation
@testable import PinpadProtocol

/// Every "random" test draws from the repository's seeded generator, so it is reproducible.
extension SeededRandom {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

extension Array where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
    init(hex: String) {
        var out: [UInt8] = []
        var it = hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        self = out
    }
}

func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The repository's `protocol/` folder, found from this file's path.
let protocolDirectory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("protocol")

/// A reference pad description used across tests.
let referenceDeviceInfo = DeviceInfo(
    version: 1, maxPayload: 246, rows: 4, columns: 20, charset: 1, keys: .standard,
    model: utf8("NG-PAD-1"), firmwareVersion: utf8("1.0.0"), serialNumber: utf8("NGP-000123"),
    prompts: [
        PromptSpec(id: .customerID, minDigits: 7, maxDigits: 10, echo: .clear, defaultTimeoutSeconds: 60),
        PromptSpec(id: .smsCode, minDigits: 4, maxDigits: 6, echo: .masked, defaultTimeoutSeconds: 120),
        PromptSpec(id: .confirmAmount, minDigits: 0, maxDigits: 0, echo: .hidden, defaultTimeoutSeconds: 60),
    ])

let referenceHostHello = HostHello(hostName: utf8("till-1"))

/// One example of every application message, for round trips and link tests.
let sampleMessages: [Message] = [
    .showScreen(Screen(lines: [ScreenLine(text: utf8("Þú greiðir"), alignment: .center), ScreenLine(text: utf8("4.990 kr."), alignment: .right)])),
    .showScreen(Screen(lines: [])),
    .prompt(PromptRequest(token: 1, prompt: .customerID, timeoutSeconds: 90, amount: 4990, notice: .none)),
    .prompt(PromptRequest(token: 65535, prompt: .smsCode, notice: .wrongCode)),
    .cancelPrompt(token: 7),
    .indicate(Indication(beep: .success, light: .green)),
    .reset,
    .statusRequest,
    .keyEvent(KeyEvent(token: 3, key: .digit, length: 4)),
    .entryResult(EntryResult(token: 3, prompt: .customerID, outcome: .entered, digits: utf8("8223281"))),
    .entryResult(EntryResult(token: 4, prompt: .smsCode, outcome: .timedOut)),
    .status(DeviceStatus(state: .prompting, activeToken: 9, uptimeSeconds: 123_456, faults: [.keypad])),
    .busy(BusyNotice(token: 9, secondsRemaining: 55)),
    .errorReport(ErrorReport(code: .unknownMessageType, referenceType: 0x3F, referenceSequence: 12, text: utf8("unknown type"))),
    .ping([]),
    .ping([0, 0, 1, 0, 255]),
]
