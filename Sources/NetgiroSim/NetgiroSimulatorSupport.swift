import Foundation
import NetgiroAPI

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
public final class NetgiroManualSimClock: NetgiroSimClock, @unchecked Sendable {
    private let lock = NSLockLike()
    private var current = NetgiroSimInstant.start

    public init() {}

    public func now() -> NetgiroSimInstant { lock.withLock { current } }
    public var isRealTime: Bool { false }

    public func advance(by duration: Duration) {
        lock.withLock { current = current + duration }
    }
}

/// SplitMix64: a small, fast, seedable generator, so every random choice the simulator makes
/// (transaction ids, SMS codes, faults) is reproducible from its seed.
public struct NetgiroSimRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A probability draw: true with probability `p` (0...1).
    public mutating func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        guard p < 1 else { return true }
        return Double(next() >> 11) / Double(1 << 53) < p
    }

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

/// A lock usable from Sendable classes without pulling in NIO's.
final class NSLockLike: @unchecked Sendable {
    private let lock = NSLock()
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
