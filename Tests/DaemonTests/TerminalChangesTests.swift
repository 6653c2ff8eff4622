import Admission
import Foundation
import Logging
import PinpadProtocol
import PinpadSim
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

    /// Admission's one look at the terminals says what the till's list says: every terminal,
    /// the linked ones, the prompts each linked pad announced.
    @Test(.timeLimit(.minutes(1))) func admissionSeesTheTerminalsTheTillsListShows() async throws {
        let path = NSTemporaryDirectory() + "ngbridge-admission-view-\(getpid())"
        let pad = try PinpadSimulator(options: PinpadSimulatorOptions(linkPath: path))
        pad.start()
        defer { pad.stop() }
        let terminals = DaemonTerminals(
            hello: HostHello(hostName: Array("test".utf8)), reconnectGrace: .seconds(5), logger: Logger(label: "test"))
        #expect(await terminals.admissionTerminals() == Admission.Terminals(known: [String](), online: [String]()))
        let changes = await terminals.changes()
        let keeper = Task { await terminals.keep(path: path, retryInterval: .milliseconds(100)) }
        defer { keeper.cancel() }
        for await _ in changes where await !terminals.onlineIDs().isEmpty { break }

        let listed = await terminals.list()
        let seen = await terminals.admissionTerminals()
        #expect(seen.online == Set(await terminals.onlineIDs()) && seen.online.count == 1)
        #expect(seen.known == Set(listed.map(\.id)))
        #expect(seen.prompts == Dictionary(uniqueKeysWithValues: listed.compactMap { t in t.prompts.map { (t.id, $0) } }))
        #expect(seen.prompts.values.first?.contains("customer-id") == true)
    }
}
