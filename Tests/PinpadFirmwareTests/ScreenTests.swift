import PinpadFirmware
import PinpadProtocol
import Testing

@Suite struct ScreenLayoutTests {
    func show(_ lines: [ScreenLine], rows: Int = 4, columns: Int = 20) -> DisplayBuffer {
        var d = DisplayBuffer(rows: rows, columns: columns)
        d.show(Screen(lines: lines))
        return d
    }

    @Test func alignmentLeftCentreRight() {
        let d = show([
            ScreenLine(text: utf8("Til greiðslu"), alignment: .left),
            ScreenLine(text: utf8("4.990 kr."), alignment: .center),
            ScreenLine(text: utf8("Takk"), alignment: .right),
        ])
        #expect(d.paddedLines == [
            "Til greiðslu        ",
            "     4.990 kr.      ",
            "                Takk",
            "                    ",
        ])
    }

    @Test func everyIcelandicLetterIsShown() {
        let d = show([ScreenLine(text: utf8("ÞþÐðÆæÖöÁáÉéÍíÓóÚúÝý"))])
        #expect(d.lines[0] == "ÞþÐðÆæÖöÁáÉéÍíÓóÚúÝý")
        #expect(d.row(0).count == 20)
    }

    @Test func longLineIsCutToTheWidthCountedInCharactersWithATilde() {
        // 22 characters, 25 bytes: the width is counted in characters, not bytes.
        let d = show([ScreenLine(text: utf8("Þú greiðir með Netgíró"), alignment: .center)])
        #expect(d.lines[0] == "Þú greiðir með Netg~")
        // Exactly the width: not cut.
        let exact = show([ScreenLine(text: utf8("Þú greiðir með Netgí"))])
        #expect(exact.lines[0] == "Þú greiðir með Netgí")
    }

    @Test func invalidUTF8AndCharactersOutsideCharset1BecomeQuestionMarks() {
        // A lone continuation byte, a truncated 3-byte sequence (one maximal subpart), an
        // emoji (valid but outside charset 1), a control character, an overlong encoding
        // (C0 never starts a sequence, AF is then a lone continuation: two subparts).
        let text: [UInt8] = [0x41, 0x80, 0x42, 0xE2, 0x82, 0x43] + utf8("😀") + [0x07, 0xC0, 0xAF, 0x44]
        let d = show([ScreenLine(text: text)])
        #expect(d.lines[0] == "A?B?C????D")
    }

    @Test func linesBeyondTheRowsAreNotShownAndMissingRowsAreBlank() {
        let six = (1...6).map { ScreenLine(text: utf8("Lína \($0)")) }
        #expect(show(six).lines == ["Lína 1", "Lína 2", "Lína 3", "Lína 4"])
        #expect(show([ScreenLine(text: utf8("Ein"))]).lines == ["Ein", "", "", ""])
    }

    @Test func amountsUseADotAsThousandsSeparator() {
        func a(_ v: UInt32) -> String { String(decoding: PadText.amount(v).flatMap { c -> [UInt8] in var o: [UInt8] = []; PadText.appendUTF8(UInt32(c), to: &o); return o }, as: UTF8.self) }
        #expect(a(0) == "0 kr.")
        #expect(a(999) == "999 kr.")
        #expect(a(4990) == "4.990 kr.")
        #expect(a(1_234_567) == "1.234.567 kr.")
    }
}

@Suite struct PadScreenTests {
    func promptScreen(_ request: PromptRequest, profile: DeviceProfile = DeviceProfile(), typing: String = "", key: PadKey? = nil) -> [String] {
        var b = Bench(profile: profile)
        b.connect()
        b.send(.prompt(request))
        b.type(typing)
        if let key { b.press(key) }
        return b.screen
    }

    @Test func notConnectedBeforeTheLinkAndIdleAfter() {
        var b = Bench()
        #expect(b.screen == ["      Netgíró", "     Ekki tengt", "  Bíð eftir kassa", ""])
        b.connect()
        #expect(b.screen == ["", "      Netgíró", "    Góðan daginn", ""])
    }

    @Test func customerIDOnA4x20Display() {
        let rows = promptScreen(PromptRequest(token: 1, prompt: .customerID, amount: 4990), typing: "822328")
        #expect(rows == ["Netgíró    4.990 kr.", "App-kóði, sími eða", "kt.", "> 822328_"])
    }

    @Test func customerIDWithANoticeKeepsEveryPartLegible() {
        let rows = promptScreen(PromptRequest(token: 1, prompt: .customerID, amount: 4990, notice: .invalidEntry))
        #expect(rows == ["Netgíró    4.990 kr.", "Kóði, sími eða kt.", "> _", "Ógilt númer"])
    }

    @Test func smsCodeIsMaskedAndTheWrongCodeNoticeWraps() {
        let rows = promptScreen(PromptRequest(token: 1, prompt: .smsCode, notice: .wrongCode))
        #expect(rows == ["Netgíró", "Kóði úr SMS", "> _", "Rangur kóði"])
        let typed = promptScreen(PromptRequest(token: 1, prompt: .smsCode, amount: 12_500), typing: "1234")
        #expect(typed == ["Netgíró   12.500 kr.", "Kóði úr SMS", "> ****_", ""])
    }

    @Test func tooShortHint() {
        let rows = promptScreen(PromptRequest(token: 1, prompt: .smsCode), typing: "12", key: .ok)
        #expect(rows == ["Netgíró", "Kóði úr SMS", "> **_", "Of stutt"])
    }

    @Test func confirmAmount() {
        let rows = promptScreen(PromptRequest(token: 1, prompt: .confirmAmount, amount: 4990))
        #expect(rows == ["      Netgíró", "  Staðfestu upphæð", "     4.990 kr.", "OK = já, Hætta = nei"])
    }

    @Test func smallDisplaysKeepTheEntryAndTheMessage() {
        let twoBySixteen = DeviceProfile(rows: 2, columns: 16)
        #expect(promptScreen(PromptRequest(token: 1, prompt: .customerID, amount: 4990), profile: twoBySixteen, typing: "12")
            == ["Kóði, sími eða ~", "> 12_"])
        #expect(promptScreen(PromptRequest(token: 1, prompt: .smsCode), profile: twoBySixteen, typing: "1", key: .ok)
            == ["> *_", "Of stutt"])
        #expect(promptScreen(PromptRequest(token: 1, prompt: .confirmAmount, amount: 4990), profile: twoBySixteen)
            == ["   4.990 kr.", "   OK / Hætta"])
    }

    @Test func theEntryRowIsMarkedForMasking() {
        var b = Bench()
        b.connect()
        b.send(.prompt(PromptRequest(token: 1, prompt: .customerID)))
        b.type("8223281")
        #expect(b.display.entryRow == 3)
        #expect(b.screen[3] == "> 8223281_")
        b.press(.ok)
        #expect(b.display.entryRow == nil)
    }
}
