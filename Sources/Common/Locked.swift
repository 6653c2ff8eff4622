import Foundation

/// The repository's one lock box: a value behind an `NSLock`, reached only through
/// ``withLock(_:)``. Used only where a value is shared with a thread that blocks in a syscall,
/// or read synchronously from several tasks; everything else has one owner (ARCHITECTURE.md,
/// "Concurrency model").
///
/// Why `NSLock` and not Synchronization's `Mutex`: on Linux `NSLock` is a pthread mutex, which
/// the thread sanitizer understands; it does not see `Mutex` as a lock, so state behind one
/// would go unchecked under `.ci/sanitizers thread`. Why a class: the box is shared by
/// reference (captured by closures, handed to a thread), which a non-copyable `Mutex` is not.
///
/// `@unchecked Sendable`: every access to `value` happens inside `lock`.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, holding the lock. Keep `body` short and never await or block
    /// in it.
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
