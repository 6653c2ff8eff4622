import Common
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out request nonces: decimal numbers, strictly increasing within the process and across
/// restarts.
///
/// Each nonce is `max(previous + 1, now)` where `now` is the wall clock in microseconds since
/// 1970. With a sane clock that alone keeps nonces increasing across restarts. To survive a clock
/// that steps backwards (NTP correction, a replaced RTC battery), a state file can be given: the
/// generator keeps a *ceiling* there, always above every nonce it has handed out, and starts
/// above it after a restart. The ceiling is written (atomically: temp file + rename) only when a
/// nonce would pass it, and then set 10 s of clock ahead, so in steady use the file is
/// written at most about every 10 seconds, never once per request.
///
/// If the state file cannot be written, the nonce is still handed out (and the failure reported
/// through `onPersistFailure`): refusing to pay because a disk is full would be worse than
/// relying on the clock.
public final class NonceGenerator: Sendable {
    /// The last nonce handed out and the persisted ceiling; requests of payments running at
    /// once take nonces concurrently, and each must be above the one before.
    private let state: Locked<(last: UInt64, ceiling: UInt64)>
    private let stateFile: String?
    private let clock: @Sendable () -> UInt64
    private let onPersistFailure: @Sendable (String) -> Void
    /// Who may take a nonce now (``NonceLane``). Lock: taken by every request's task, never
    /// across a wait; the generator's own lock is taken inside it, never the other way round.
    let lane = Locked(NonceLane<CheckedContinuation<String, Never>>())

    /// How far ahead of the issued nonce the persisted ceiling is set (10 s in microseconds).
    public static let reservation: UInt64 = 10_000_000

    /// - Parameters:
    ///   - stateFile: where to keep the ceiling across restarts, or nil for in-memory only.
    ///   - clock: microseconds since 1970; injectable for tests.
    public init(
        stateFile: String? = nil,
        clock: @escaping @Sendable () -> UInt64 = NonceGenerator.wallClockMicroseconds,
        onPersistFailure: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.stateFile = stateFile
        self.clock = clock
        self.onPersistFailure = onPersistFailure
        var start: UInt64 = 0
        if let stateFile,
            let text = try? String(contentsOfFile: stateFile, encoding: .utf8),
            let persisted = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            start = persisted
        }
        self.state = Locked((last: start, ceiling: start))
    }

    public static let wallClockMicroseconds: @Sendable () -> UInt64 = {
        UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
    }

    /// The next nonce, as the decimal string that goes into `netgiro_nonce` and the signature.
    public func next() -> String {
        // The state file is written under the lock, so a later nonce never persists a lower
        // ceiling over a higher one.
        state.withLock { state in
            let nonce = max(state.last + 1, clock())
            state.last = nonce
            if let stateFile, nonce >= state.ceiling {
                let newCeiling = nonce + Self.reservation
                do {
                    try Self.persist(newCeiling, to: stateFile)
                    state.ceiling = newCeiling
                } catch {
                    onPersistFailure("cannot write the nonce state file \(stateFile): \(error)")
                }
            }
            return String(nonce)
        }
    }

    private static func persist(_ value: UInt64, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try Data("\(value)\n".utf8).write(to: temp)
        // rename(2): atomic replacement on the same file system.
        guard rename(temp.path, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}

// MARK: - Order on the wire

/// The rule that keeps a refused request from being refused again: which request may take a
/// nonce now. Netgíró (like its simulator) refuses a nonce that is not above every nonce it has
/// already seen for the app key. Requests of payments running at once take nonces in order but
/// travel on separate connections and can arrive out of order; the one overtaken is refused
/// (HTTP 401, before anything is processed). Sending it again with just a fresh nonce can lose
/// the same race again, and did at 64 pads.
///
/// So a refused request is sent again **solo**: it waits for its turn, takes its nonce, and no
/// other request takes one until it has its answer. Every request already in flight then holds
/// a lower nonce, so — as long as nothing else signs with the same app key — the solo request
/// cannot be overtaken; the worst it costs others is one round trip of waiting. Ordinary requests
/// never wait unless a solo request is under way or queued.
///
/// Pure: the generator's lock serialises the events; `Waiter` is whatever the caller resumes.
struct NonceLane<Waiter> {
    private(set) var soloActive = false
    private var soloQueue: [Waiter] = []
    private var concurrentWaiting: [Waiter] = []

    /// Ordinary requests waiting for the solo turns to end.
    var waitingCount: Int { concurrentWaiting.count }

    /// Whether an ordinary request may take a nonce now (no solo request under way or queued).
    var isOpen: Bool { !soloActive && soloQueue.isEmpty }

    /// A request (not refused) asks for a nonce: true when it may take one now; otherwise it
    /// waits until the solo requests are done.
    mutating func concurrent(_ waiter: Waiter) -> Bool {
        if isOpen { return true }
        concurrentWaiting.append(waiter)
        return false
    }

    /// A refused request asks for a solo turn: true when it has it now; otherwise it waits its
    /// turn behind the solo requests before it.
    mutating func solo(_ waiter: Waiter) -> Bool {
        if !soloActive {
            soloActive = true
            return true
        }
        soloQueue.append(waiter)
        return false
    }

    /// The solo request has its answer: who goes next — the next solo request alone, or, when
    /// none is queued, every waiting ordinary request at once.
    mutating func soloEnded() -> [Waiter] {
        precondition(soloActive, "soloEnded without a solo turn")
        if !soloQueue.isEmpty {
            return [soloQueue.removeFirst()]
        }
        soloActive = false
        defer { concurrentWaiting = [] }
        return concurrentWaiting
    }
}

extension NonceGenerator {
    /// A nonce for an ordinary request, sent while others may be in flight. Waits only while a
    /// request Netgíró refused for its nonce is being sent again solo (``NonceLane``).
    public func nonceForRequest() async -> String {
        // The common case, no solo turn: the nonce at once, without a continuation (an
        // allocation and a suspension point per request). The check and the nonce are still one
        // critical section.
        if let nonce = lane.withLock({ lane in lane.isOpen ? next() : nil }) { return nonce }
        return await withCheckedContinuation { (waiter: CheckedContinuation<String, Never>) in
            // The check and the nonce in one critical section: a solo turn that starts in between
            // would otherwise get a lower nonce than this request.
            let nonce: String? = lane.withLock { lane in lane.concurrent(waiter) ? next() : nil }
            if let nonce { waiter.resume(returning: nonce) }
        }
    }

    /// A solo turn for a request Netgíró refused for its nonce: the returned nonce is above every
    /// nonce handed out before it, and none is handed out until ``endSolo()`` — call it once the
    /// request has its answer (or failed), always.
    public func beginSolo() async -> String {
        await withCheckedContinuation { (waiter: CheckedContinuation<String, Never>) in
            let nonce: String? = lane.withLock { lane in lane.solo(waiter) ? next() : nil }
            if let nonce { waiter.resume(returning: nonce) }
        }
    }

    /// Ends the solo turn ``beginSolo()`` gave: the next solo request, or all waiting ordinary
    /// ones, take their nonces (in that order, under the lane's lock) and go.
    public func endSolo() {
        let resumed: [(CheckedContinuation<String, Never>, String)] = lane.withLock { lane in
            lane.soloEnded().map { ($0, next()) }
        }
        for (waiter, nonce) in resumed { waiter.resume(returning: nonce) }
    }
}
