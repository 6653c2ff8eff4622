import Common
import Foundation
import LineFaults
import NetgiroSim

/// What a soak run does: how many payments, with which faults, from which seed.
public struct SoakOptions: Sendable {
    public var payments = 12
    public var seed: UInt64 = 1
    /// Faults on the pad's line: per frame the pad writes (drop, corrupt, duplicate, delay) and
    /// per byte in both directions (line noise: `noiseCorruptPerByte`, `noiseDropPerByte`).
    public var lineFaults = PinpadFaults()
    public var netgiroFaults = NetgiroFaultProbabilities(slowDelayMilliseconds: 1_500)
    /// Unplug/replug events, each in the middle of a different payment (at most one per payment).
    public var unplugs = 0
    /// How long the simulated GSM customer takes to accept in the app.
    public var acceptDelay: Duration = .milliseconds(300)
    /// One payment's overall limit (the checkout's deadline).
    public var paymentDeadline: Duration = .seconds(30)
    /// Also measure how long the bridge takes to notice a pad that goes silent.
    public var silenceProbe = true

    public init() {}

    /// `corrupt=0.01,drop=0.01,duplicate=0.01` — per frame the pad writes — and
    /// `byte-corrupt=0.01,byte-drop=0.01` — per byte, in both directions (also `delay-ms=N`).
    public static func parseLineFaults(_ spec: String) throws(SoakSpecError) -> PinpadFaults {
        var faults = PinpadFaults()
        for (key, value) in try pairs(spec) {
            switch key {
            case "corrupt": faults.corrupt = try probability(key, value)
            case "drop": faults.drop = try probability(key, value)
            case "duplicate": faults.duplicate = try probability(key, value)
            case "byte-corrupt": faults.noiseCorruptPerByte = try probability(key, value)
            case "byte-drop": faults.noiseDropPerByte = try probability(key, value)
            case "delay-ms":
                guard let ms = UInt64(value) else { throw SoakSpecError("delay-ms needs whole milliseconds, not \(value)") }
                faults.delayMilliseconds = ms
            default: throw SoakSpecError("unknown line fault \(key) (corrupt, drop, duplicate, byte-corrupt, byte-drop, delay-ms)")
            }
        }
        return faults
    }

    /// `500=0.1,lost=0.05,slow=0.05` (also `garbage=P`, `slow-ms=N`). `lost`: the call takes
    /// effect and the connection closes without an answer.
    public static func parseNetgiroFaults(
        _ spec: String, base: NetgiroFaultProbabilities = NetgiroFaultProbabilities(slowDelayMilliseconds: 1_500)
    ) throws(SoakSpecError) -> NetgiroFaultProbabilities {
        var faults = base
        for (key, value) in try pairs(spec) {
            switch key {
            case "500": faults.serverError = try probability(key, value)
            case "lost": faults.dropAfterCommit = try probability(key, value)
            case "slow": faults.slow = try probability(key, value)
            case "garbage": faults.garbage = try probability(key, value)
            case "slow-ms":
                guard let ms = Int(value), ms >= 0 else { throw SoakSpecError("slow-ms needs whole milliseconds, not \(value)") }
                faults.slowDelayMilliseconds = ms
            default: throw SoakSpecError("unknown Netgíró fault \(key) (500, lost, slow, garbage, slow-ms)")
            }
        }
        return faults
    }

    static func pairs(_ spec: String) throws(SoakSpecError) -> [(String, String)] {
        var result: [(String, String)] = []
        for part in spec.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { throw SoakSpecError("expected name=value, not \(part)") }
            result.append((kv[0], kv[1]))
        }
        return result
    }

    static func probability(_ key: String, _ value: String) throws(SoakSpecError) -> Double {
        guard let p = Double(value), p >= 0, p <= 1 else { throw SoakSpecError("\(key) needs a probability 0…1, not \(value)") }
        return p
    }
}

public struct SoakSpecError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A soak run's choices come from the repository's seeded generator, so they repeat with its
/// seed.
extension SeededRandom {
    /// The soak's own stream for `seed` (apart from the simulators', which start from it too).
    static func soak(seed: UInt64) -> SeededRandom { SeededRandom(seed: seed ^ 0x5EED_50A4_0000_0001) }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
    mutating func between(_ range: ClosedRange<Int>) -> Int { range.lowerBound + below(range.count) }
}
