import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels

/// A request Netgíró refused for its nonce is sent again solo: nobody else takes a nonce until
/// it has its answer, so it cannot be overtaken twice.
@Suite struct NonceLaneTests {
    @Test func ordinaryRequestsGoAtOnceWhileNoSoloTurnIsUnderWay() {
        var lane = NonceLane<Int>()
        let first = lane.concurrent(1)
        let second = lane.concurrent(2)
        #expect(first && second)
        #expect(!lane.soloActive)
    }

    @Test func soloTurnsGoOneAtATimeAndOrdinaryRequestsWaitForAllOfThem() {
        var lane = NonceLane<String>()
        let soloOne = lane.solo("solo-1")
        #expect(soloOne)
        let a = lane.concurrent("a")
        #expect(!a)  // waits: a solo request is in flight
        let soloTwo = lane.solo("solo-2")
        #expect(!soloTwo)  // queued behind solo-1
        let b = lane.concurrent("b")
        #expect(!b)
        // solo-2 goes next, alone; the ordinary requests still wait.
        let afterOne = lane.soloEnded()
        #expect(afterOne == ["solo-2"])
        #expect(lane.soloActive)
        let c = lane.concurrent("c")
        #expect(!c)
        // No solo request left: every waiting ordinary request goes, in arrival order.
        let afterTwo = lane.soloEnded()
        #expect(afterTwo == ["a", "b", "c"])
        #expect(!lane.soloActive)
        let d = lane.concurrent("d")
        #expect(d)
    }

    @Test func anOrdinaryRequestWaitsWhileASoloTurnIsOnlyQueued() {
        var lane = NonceLane<String>()
        _ = lane.solo("solo-1")
        _ = lane.solo("solo-2")
        let next = lane.soloEnded()
        #expect(next == ["solo-2"])
        // solo-2 holds the turn; a newcomer must not slip in between.
        let late = lane.concurrent("late")
        #expect(!late)
        let last = lane.soloEnded()
        #expect(last == ["late"])
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
