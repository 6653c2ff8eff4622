import Testing
@testable import PinpadProtocol

@Suite struct MessageTests {
    @Test(arguments: sampleMessages)
    func roundTrip(_ message: Message) throws {
        let payload = message.encodePayload()
        #expect(payload.count <= ProtocolLimits.maxPayload)
        #expect(try Message.decode(type: message.type.rawValue, payload: payload) == message)
    }

    @Test func everyTruncationIsRejected() {
        for message in sampleMessages {
            let payload = message.encodePayload()
            guard !payload.isEmpty, message.type != .ping, message.type != .showScreen else { continue }
            for cut in 0..<payload.count {
                #expect(throws: MessageError.self) { try Message.decode(type: message.type.rawValue, payload: Array(payload[0..<cut])) }
            }
        }
    }

    @Test func extraTrailingBytesAreIgnored() throws {
        let message = Message.cancelPrompt(token: 42)
        #expect(try Message.decode(type: 0x22, payload: message.encodePayload() + [9, 9]) == message)
    }

    @Test func unknownAndLinkTypesAreNotMessages() {
        #expect(throws: MessageError.unknownType(0x3F)) { try Message.decode(type: 0x3F, payload: []) }
        #expect(throws: MessageError.unknownType(0x01)) { try Message.decode(type: 0x01, payload: []) }
    }

    @Test func entryResultDigitsMustBeDigitsAndOnlyWhenEntered() {
        let notDigits = Message.entryResult(EntryResult(token: 1, prompt: .customerID, outcome: .entered, digits: utf8("12a4567")))
        #expect(throws: MessageError.self) { try Message.decode(type: 0x41, payload: notDigits.encodePayload()) }
        let digitsOnCancel = Message.entryResult(EntryResult(token: 1, prompt: .customerID, outcome: .cancelledByCustomer, digits: utf8("1")))
        #expect(throws: MessageError.self) { try Message.decode(type: 0x41, payload: digitsOnCancel.encodePayload()) }
    }

    @Test func outOfRangeEnumsAreInvalidValues() {
        #expect(throws: MessageError.invalidValue(offset: 0)) { try Message.decode(type: 0x23, payload: [9, 0]) }
        #expect(throws: MessageError.invalidValue(offset: 1)) { try Message.decode(type: 0x20, payload: [1, 7, 0]) }
    }

    @Test func helloAndDeviceInfoRoundTrip() throws {
        #expect(try HostHello.decode(referenceHostHello.encodePayload()) == referenceHostHello)
        #expect(try DeviceInfo.decode(referenceDeviceInfo.encodePayload()) == referenceDeviceInfo)
        #expect(referenceDeviceInfo.encodePayload().count <= ProtocolLimits.maxPayload)
        #expect(throws: MessageError.self) { try HostHello.decode([2, 1, 246, 0, 0]) }
    }
}
