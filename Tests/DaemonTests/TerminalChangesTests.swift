import Logging
import PinpadProtocol
import Testing
@testable import Bridge

/// Every new payment listens for terminal changes while admission looks at the terminals; a
/// listener whose reader is done must not stay behind (it did, until the next link change).
@Suite struct TerminalChangesTests {
    @Test func aDroppedChangeListenerLeavesAtOnceAndAHeldOneStays() async {
        let terminals = DaemonTerminals(
            hello: HostHello(hostName: Array("test".utf8)), reconnectGrace: .seconds(5), logger: Logger(label: "test"))
        for _ in 0..<100 {
            let changes = await (terminals as any PaymentTerminals).watchChanges()
            #expect(changes != nil)
        }
        #expect(terminals.changeListenerCount == 0)
        let held = await terminals.changes()
        #expect(terminals.changeListenerCount == 1)
        await terminals.closeAll()
        var iterator = held.makeAsyncIterator()
        #expect(await iterator.next() == nil)  // closing the table ends a held listener
        #expect(terminals.changeListenerCount == 0)
    }
}
