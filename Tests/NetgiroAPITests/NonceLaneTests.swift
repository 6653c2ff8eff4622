import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels

/// A request Netgíró refused for its nonce is sent again solo: nobody else takes a nonce until
/// it has its answer, so it cannot be overtaken twice.
@Suite struct NonceLaneTests {
    @Test func ordinaryRequestsGoAtOnceWhileNoSoloTurnIsUnderWay() {
        var lane = NonceLane<Int>()
        #expect(lane.concurrent(1))
        #expect(lane.concurrent(2))
        #expect(!lane.soloActive)
    }

    @Test func soloTurnsGoOneAtATimeAndOrdinaryRequestsWaitForAllOfThem() {
        var lane = NonceLane<String>()
        #expect(lane.solo("solo-1"))
        #expect(!lane.concurrent("a"))  // waits: a solo request is in flight
        #expect(!lane.solo("solo-2"))  // queued behind solo-1
        #expect(!lane.concurrent("b"))
        // solo-2 goes next, alone; the ordinary requests still wait.
        #expect(lane.soloEnded() == ["solo-2"])
        #expect(lane.soloActive)
        #expect(!lane.concurrent("c"))
        // No solo request left: every waiting ordinary request goes, in arrival order.
        #expect(lane.soloEnded() == ["a", "b", "c"])
        #expect(!lane.soloActive)
        #expect(lane.concurrent("d"))
    }

    @Test func anOrdinaryRequestWaitsWhileASoloTurnIsOnlyQueued() {
        var lane = NonceLane<String>()
        #expect(lane.solo("solo-1"))
        #expect(!lane.solo("solo-2"))
        #expect(lane.soloEnded() == ["solo-2"])
        // solo-2 holds the turn; a newcomer must not slip in between.
        #expect(!lane.concurrent("late"))
        #expect(lane.soloEnded() == ["late"])
    }

    /// The generator hands a solo turn a nonce above every nonce handed out before it, and the
    /// requests that asked meanwhile get theirs only after the turn, above it.
    @Test func soloNonceIsAboveEverythingBeforeItAndWaitersComeAfter() async {
        let generator = NonceGenerator(clock: { 1 })
        let before = UInt64(await generator.nonceForRequest())!
        let solo = UInt64(await generator.beginSolo())!
        #expect(solo > before)

        let waiting = Task { UInt64(await generator.nonceForRequest())! }
        // The waiter is parked in the lane, not handed a nonce, while the solo turn lasts.
        while generator.lane.withLock({ $0.waitingCount }) == 0 { await Task.yield() }
        #expect(generator.next() == String(solo + 1))  // nothing was handed to the waiter yet
        generator.endSolo()
        let after = await waiting.value
        #expect(after == solo + 2)
    }
}
