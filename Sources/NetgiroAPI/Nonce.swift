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
