import Common
import NetgiroModels

/// Faults the simulator can inject into the four API calls.
public enum NetgiroFault: String, Sendable, Hashable, Codable, CaseIterable {
    /// HTTP 500 with Netgíró's error envelope; the call does not take effect.
    case serverError
    /// The answer comes only after ``NetgiroFaultProbabilities/slowDelay``; the call takes effect.
    case slow
    /// The call takes effect, then the connection is closed without an answer ("lost after commit").
    case dropAfterCommit
    /// The call takes effect, and the answer is HTTP 200 with a body that is not JSON.
    case garbage
}

/// Probabilities (0…1) of each fault per API call, drawn from the simulator's seeded generator
/// in the order server error, slow, dropped, garbage.
public struct NetgiroFaultProbabilities: Sendable, Hashable, Codable {
    public var serverError: Double
    public var slow: Double
    public var dropAfterCommit: Double
    public var garbage: Double
    /// How long a slow answer takes, in milliseconds.
    public var slowDelayMilliseconds: Int

    public init(serverError: Double = 0, slow: Double = 0, dropAfterCommit: Double = 0, garbage: Double = 0,
                slowDelayMilliseconds: Int = 5_000) {
        self.serverError = serverError
        self.slow = slow
        self.dropAfterCommit = dropAfterCommit
        self.garbage = garbage
        self.slowDelayMilliseconds = slowDelayMilliseconds
    }

    public static let none = NetgiroFaultProbabilities()

    public var slowDelay: Duration { .milliseconds(slowDelayMilliseconds) }
}

/// Decides which fault, if any, hits a call: first a queue of scripted faults (for tests that
/// need one exact fault on one exact call), then the seeded probabilities. Pure.
public struct NetgiroFaultPlan: Sendable {
    public var probabilities: NetgiroFaultProbabilities
    private var random: SeededRandom
    private var scripted: [(call: NetgiroCall?, fault: NetgiroFault)] = []

    public init(probabilities: NetgiroFaultProbabilities = .none, seed: UInt64) {
        self.probabilities = probabilities
        self.random = SeededRandom(seed: seed ^ 0xFA17_FA17_FA17_FA17)
    }

    /// Queues `fault` for the next call of kind `call` (any call when nil).
    public mutating func injectNext(_ fault: NetgiroFault, on call: NetgiroCall? = nil) {
        scripted.append((call, fault))
    }

    public mutating func draw(for call: NetgiroCall) -> NetgiroFault? {
        if let index = scripted.firstIndex(where: { $0.call == nil || $0.call == call }) {
            return scripted.remove(at: index).fault
        }
        let p = probabilities
        if random.chance(p.serverError) { return .serverError }
        if random.chance(p.slow) { return .slow }
        if random.chance(p.dropAfterCommit) { return .dropAfterCommit }
        if random.chance(p.garbage) { return .garbage }
        return nil
    }
}
