import Checkout
import Common
import Testing

@testable import Bridge

/// A terminal that answers every prompt at once.
struct AnsweringTerminal: CustomerTerminal {
    let terminalID = "NGP-BACK"
    let entry: CustomerEntry
    func show(_ screen: CustomerScreen) async {}
    func prompt(_ prompt: CustomerPrompt, id: Int, reply: @escaping @Sendable (CustomerEntry) -> Void) async { reply(entry) }
    func withdrawPrompt(_ id: Int) async {}
}

/// A recovered payment's terminal, whose pad is not back yet.
@Suite struct AwaitedTerminalTests {
    final class Pads: Sendable {
        let lookups = Locked(0)
        let pad = Locked<(any CustomerTerminal)?>(nil)
        let listeners = Locked<[AsyncStream<Void>.Continuation]>([])

        func changes() -> AsyncStream<Void> {
            let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
            listeners.withLock { $0.append(continuation) }
            return stream
        }

        func lookup() -> (any CustomerTerminal)? {
            lookups.withLock { $0 += 1 }
            return pad.withLock { $0 }
        }

        func arrives(_ terminal: any CustomerTerminal) {
            pad.withLock { $0 = terminal }
            for listener in listeners.withLock({ $0 }) { listener.yield() }
        }
    }

    /// The prompt waits for the pad on the terminals' change notice, not by looking every 50 ms,
    /// and goes to the pad as soon as it is back.
    @Test func aPromptWaitsForItsPadOnTheChangeNotice() async throws {
        let pads = Pads()
        let terminal = AwaitedTerminal(terminalID: "NGP-BACK", grace: .seconds(60), changes: { pads.changes() }) { pads.lookup() }
        let (entries, delivery) = AsyncStream.makeStream(of: CustomerEntry.self)
        await terminal.prompt(CustomerPrompt(kind: .customerID, amount: 4990), id: 1) { delivery.yield($0) }
        try await Task.sleep(for: .milliseconds(300))  // six looks, had it looked every 50 ms
        #expect(pads.lookups.withLock { $0 } == 1)
        pads.arrives(AnsweringTerminal(entry: .entered("8223281")))
        var replies = entries.makeAsyncIterator()
        let entry = await replies.next()
        #expect(entry == .entered("8223281"))
        #expect(pads.lookups.withLock { $0 } == 2)
    }

    /// A pad that does not come back within the grace: the prompt ends as `.terminalUnavailable`;
    /// a withdrawn prompt never replies.
    @Test func aPadThatStaysAwayEndsThePromptAndAWithdrawnOneIsSilent() async throws {
        let pads = Pads()
        let terminal = AwaitedTerminal(terminalID: "NGP-BACK", grace: .milliseconds(100), changes: { pads.changes() }) { pads.lookup() }
        let (entries, delivery) = AsyncStream.makeStream(of: (Int, CustomerEntry).self)
        await terminal.prompt(CustomerPrompt(kind: .customerID, amount: 4990), id: 1) { delivery.yield((1, $0)) }
        var replies = entries.makeAsyncIterator()
        let first = await replies.next()
        #expect(first?.0 == 1 && first?.1 == .terminalUnavailable)

        let patient = AwaitedTerminal(terminalID: "NGP-BACK", grace: .seconds(60), changes: { pads.changes() }) { pads.lookup() }
        await patient.prompt(CustomerPrompt(kind: .customerID, amount: 4990), id: 2) { delivery.yield((2, $0)) }
        await patient.withdrawPrompt(2)
        await patient.prompt(CustomerPrompt(kind: .customerID, amount: 4990), id: 3) { delivery.yield((3, $0)) }
        pads.arrives(AnsweringTerminal(entry: .entered("1111111119")))
        let next = await replies.next()
        #expect(next?.0 == 3 && next?.1 == .entered("1111111119"))
    }
}
