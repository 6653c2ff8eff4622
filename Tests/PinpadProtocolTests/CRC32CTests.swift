import Testing
@testable import PinpadProtocol

@Suite struct CRC32CTests {
    @Test func checkValueOfTheCatalogue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func emptyInputIsZero() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func incrementalEqualsOneShot() {
        let data = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var crc = CRC32C()
        crc.update(data[0..<100])
        crc.update(data[100...])
        #expect(crc.value == CRC32C.checksum(data))
    }
}
