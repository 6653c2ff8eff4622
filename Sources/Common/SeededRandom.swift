/// The repository's one seeded generator: SplitMix64 — small, fast and the same on every
/// platform, so every random choice a simulator, a soak run or a test makes repeats exactly for
/// the same seed. Not for secrets.
///
/// (The pad firmware, which imports nothing, has no generator; if it ever needs one it keeps its
/// own, since this module uses Foundation.)
public struct SeededRandom: RandomNumberGenerator, Sendable, Hashable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { self.state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A probability draw: true with probability `p` (0...1); never for `p <= 0`, always for
    /// `p >= 1`.
    public mutating func chance(_ p: Double) -> Bool {
        guard p > 0 else { return false }
        guard p < 1 else { return true }
        return unit() < p
    }

    /// A uniform draw in 0..<1 (53 bits).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
