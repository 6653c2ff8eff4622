import Common
import Foundation
import NetgiroModels

/// A point in simulator time: the time since the simulator started. Time is always passed into
/// the simulator's pure core as a value; the HTTP shell reads it from a ``NetgiroSimClock``.
public struct NetgiroSimInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var sinceStart: Duration

    public init(_ sinceStart: Duration) { self.sinceStart = sinceStart }

    public static let start = NetgiroSimInstant(.zero)

    public static func < (a: Self, b: Self) -> Bool { a.sinceStart < b.sinceStart }
    public static func + (a: Self, d: Duration) -> Self { Self(a.sinceStart + d) }

    public var description: String { "t+\(sinceStart)" }
}

/// Where the simulator's HTTP shell reads the time from.
public protocol NetgiroSimClock: Sendable {
    func now() -> NetgiroSimInstant
    /// Whether time passes by itself (a real clock). With a manual clock the shell runs no
    /// background ticker: time moves only when the test says so.
    var isRealTime: Bool { get }
}

/// The real clock: monotonic time since the simulator was created.
public struct NetgiroSystemSimClock: NetgiroSimClock {
    let origin = ContinuousClock.now
    public init() {}
    public func now() -> NetgiroSimInstant { NetgiroSimInstant(ContinuousClock.now - origin) }
    public var isRealTime: Bool { true }
}

/// A clock tests move by hand (through ``NetgiroSimulator/advance(by:)``).
public final class NetgiroManualSimClock: NetgiroSimClock {
    /// Lock: moved by the test, read by the simulator's requests and callbacks.
    private let current = Locked(NetgiroSimInstant.start)

    public init() {}

    public func now() -> NetgiroSimInstant { current.withLock { $0 } }
    public var isRealTime: Bool { false }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0 + duration }
    }
}

/// The simulator's random choices (transaction ids, SMS codes, faults) come from the
/// repository's seeded generator, so each is reproducible from the simulator's seed.
extension SeededRandom {
    /// A lowercase GUID string.
    public mutating func guid() -> String {
        let hex = Array("0123456789abcdef")
        var chars: [Character] = []
        for i in 0..<32 {
            if [8, 12, 16, 20].contains(i) { chars.append("-") }
            chars.append(hex[Int(next() & 0xf)])
        }
        return String(chars)
    }

    /// A 4-digit SMS payment code.
    public mutating func smsCode() -> String {
        let n = Int(next() % 10_000)
        let s = String(n)
        return String(repeating: "0", count: 4 - s.count) + s
    }
}
