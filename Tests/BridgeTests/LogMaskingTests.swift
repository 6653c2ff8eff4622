import Testing
@testable import Bridge

@Suite struct LogMaskingTests {
    @Test func customerIdentifiersAreMasked() {
        #expect(DaemonLogHandler.maskDigits("customer 8223281 entered") == "customer *****81 entered")
        #expect(DaemonLogHandler.maskDigits("kt=1111111119") == "kt=*******119")
        #expect(DaemonLogHandler.maskDigits("kt 010203-4567,") == "kt *******567,")
        #expect(DaemonLogHandler.maskDigits("8223281") == "*****81")
    }

    @Test func identifiersThatOnlyContainDigitsStayReadable() {
        let id = "8223283f-3e6a-4654-b1ca-a489d0b08b2c"
        #expect(DaemonLogHandler.maskDigits("payment=\(id)") == "payment=\(id)")
        #expect(DaemonLogHandler.maskDigits("amount=4990 invoice=100001") == "amount=4990 invoice=100001")
        #expect(DaemonLogHandler.maskDigits("nonce 12345678901234") == "nonce 12345678901234")
        #expect(DaemonLogHandler.maskDigits("ab1234567") == "ab1234567")
    }

    @Test func textsWithOtherLettersAreMaskedToo() {
        #expect(DaemonLogHandler.maskDigits("viðskiptavinur 8223281 slær inn") == "viðskiptavinur *****81 slær inn")
        #expect(DaemonLogHandler.maskDigits("kennitala: 010203-4567 ✓") == "kennitala: *******567 ✓")
        #expect(DaemonLogHandler.maskDigits("Þ1111111119") == "Þ*******119")
        #expect(DaemonLogHandler.maskDigits("\r\n8223281\r\n") == "\r\n*****81\r\n")
        #expect(DaemonLogHandler.maskDigits("símanúmer:8223281…") == "símanúmer:*****81…")
        #expect(DaemonLogHandler.maskDigits("ó8223281") == "ó*****81")
    }

    /// The byte path for ASCII texts decides exactly as the per-Character path: every text of up
    /// to 12 characters drawn from digits, a letter, a dash and a space, at random (fixed seed).
    @Test func asciiBytePathAgreesWithThePerCharacterPath() {
        let alphabet = Array("0123456789-a Z=")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        var masked = 0
        for _ in 0..<20_000 {
            // Mostly digits, so 7- and 10-digit runs and DDMMYY-NNNN shapes come up often.
            let text = String((0..<(next() % 13)).map { _ in next() % 3 == 0 ? alphabet[next() % alphabet.count] : alphabet[next() % 10] })
            let fast = DaemonLogHandler.maskDigits(text)
            #expect(fast == DaemonLogHandler.maskDigitsByCharacter(text), "\(text)")
            if fast != text { masked += 1 }
        }
        #expect(masked > 100)
    }
}
