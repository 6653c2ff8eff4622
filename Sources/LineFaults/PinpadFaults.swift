/// Faults on a pad's line, for tests of the host side: frame and byte faults, which the pad
/// simulator injects on its own pty and `LineFaultProxy` between any pad and the bridge, and the
/// simulated pad's own (silence, unplug, reboot mid-prompt). Random faults are drawn from a
/// generator seeded by the run's seed, so a run can be repeated exactly.
public struct PinpadFaults: Sendable, Hashable {
    /// Probability (0–1) that a write to the line is lost.
    public var drop: Double = 0
    /// Probability (0–1) that one byte of a write is damaged.
    public var corrupt: Double = 0
    /// Probability (0–1) that a write is sent twice.
    public var duplicate: Double = 0
    /// Every write leaves this many milliseconds late (in order).
    public var delayMilliseconds: UInt64 = 0
    /// Line noise, in both directions (host → pad and pad → host): the probability (0–1) that
    /// any one byte on the line is damaged (a random bit pattern XORed in).
    public var noiseCorruptPerByte: Double = 0
    /// Line noise, in both directions: the probability (0–1) that any one byte is lost.
    public var noiseDropPerByte: Double = 0
    /// After this many milliseconds the pad writes nothing more (it keeps reading).
    public var silentAfterMilliseconds: UInt64?
    /// After this many milliseconds the pad is unplugged: the pty closes and the link path goes.
    public var unplugAfterMilliseconds: UInt64?
    /// The pad reboots once (all state lost, ANNOUNCE power-on) when a prompt has been open
    /// this many milliseconds.
    public var rebootMidPromptAfterMilliseconds: UInt64?

    public init() {}

    public var isNone: Bool { self == PinpadFaults() }
}

extension PinpadFaults {
    /// The line faults in the `corrupt=P,drop=P,duplicate=P,byte-corrupt=P,byte-drop=P,delay-ms=N`
    /// form the command line takes (`none` when there are none).
    public var lineSpec: String {
        var parts: [String] = []
        if corrupt > 0 { parts.append("corrupt=\(corrupt)") }
        if drop > 0 { parts.append("drop=\(drop)") }
        if duplicate > 0 { parts.append("duplicate=\(duplicate)") }
        if noiseCorruptPerByte > 0 { parts.append("byte-corrupt=\(noiseCorruptPerByte)") }
        if noiseDropPerByte > 0 { parts.append("byte-drop=\(noiseDropPerByte)") }
        if delayMilliseconds > 0 { parts.append("delay-ms=\(delayMilliseconds)") }
        return parts.isEmpty ? "none" : parts.joined(separator: ",")
    }
}
