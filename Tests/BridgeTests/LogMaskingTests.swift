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
}
