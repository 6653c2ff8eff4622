import Checkout
import PinpadProtocol
import Testing
@testable import Bridge

@Suite struct PadScreensTests {
    static let allScreens: [CustomerScreen] = [
        .idle, .working(amount: 4990), .confirmInApp(amount: 1_234_567), .paid(amount: 4990),
        .declined(message: "Customer declined the payment"), .cancelled, .outcomeUnknown, .outOfService,
    ]

    @Test func amountsAreWrittenTheIcelandicWay() {
        #expect(PadScreens.krónur(0) == "0 kr.")
        #expect(PadScreens.krónur(999) == "999 kr.")
        #expect(PadScreens.krónur(4990) == "4.990 kr.")
        #expect(PadScreens.krónur(1_234_567) == "1.234.567 kr.")
    }

    /// Every screen fits the reference pad (4 rows × 20 columns) and uses only characters a
    /// charset-1 pad can show (PROTOCOL.md §2), so nothing is cut or shown as `?`.
    @Test(arguments: allScreens)
    func screensFitTheReferencePad(_ screen: CustomerScreen) {
        let s = PadScreens.screen(for: screen)
        #expect(!s.lines.isEmpty && s.lines.count <= 4)
        for line in s.lines {
            let text = String(decoding: line.text, as: UTF8.self)
            #expect(text.unicodeScalars.count <= 20, "\(text) is wider than 20 columns")
            for scalar in text.unicodeScalars {
                let v = scalar.value
                #expect((0x20...0x7E).contains(v) || (0xA0...0xFF).contains(v), "\(text) has \(scalar), outside charset 1")
            }
        }
        #expect(Message.showScreen(s).encodePayload().count <= 246)
    }

    @Test func declinedScreenDoesNotShowNetgirosMessageToTheCustomer() {
        let s = PadScreens.screen(for: .declined(message: "secret detail"))
        #expect(!s.lines.contains { String(decoding: $0.text, as: UTF8.self).contains("secret") })
    }

    @Test func promptsMapOntoThePadsPromptTable() {
        #expect(PadScreens.promptID(.customerID) == .customerID)
        #expect(PadScreens.promptID(.smsCode) == .smsCode)
        #expect(PadScreens.notice(.wrongCode) == .wrongCode)
        #expect(PadScreens.notice(.invalidEntry) == .invalidEntry)
        #expect(PadScreens.notice(.none) == PromptNotice.none)
    }
}
