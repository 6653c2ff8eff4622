import Foundation
import GRDB

/// How many writes the journal has committed, and in how many transactions (each one fsync with
/// `synchronous = FULL`). `writes > commits` means group commits happened: several payments'
/// records went to disk together.
public struct JournalWriteCounts: Sendable, Hashable {
    /// Writes committed (each a caller resumed with success).
    public var writes = 0
    /// Transactions committed.
    public var commits = 0

    public init(writes: Int = 0, commits: Int = 0) {
        self.writes = writes
        self.commits = commits
    }
}

/// The journal's one way to write, with group commit.
///
/// A write is queued here and its caller suspends (it holds no thread meanwhile). The first write
/// that finds no drain under way starts one on GRDB's writer — its own serial dispatch queue, not
/// Swift's cooperative pool — which takes every write queued so far and runs them in one
/// `BEGIN IMMEDIATE … COMMIT` transaction, each inside its own savepoint, then resumes their
/// callers; writes queued while that commit waited for the disk go together into the next one.
/// So a write that returned is on disk (the commit's fsync is done), whether it went alone or with
/// others, and writes of one caller stay in the order it made them.
///
/// A write that fails inside the transaction (a refusal such as a reference in flight, or a
/// constraint) rolls back to its savepoint and fails alone; the others in its batch commit. A
/// write alone in its batch has no savepoint: if it fails, its transaction is rolled back. When
/// the transaction itself is lost (an I/O error, a full disk), the write that hit it fails and the
/// others are run again in a fresh transaction; when the commit fails, the whole batch fails.
///
/// A write is not abandoned when its caller's task is cancelled: the journal must not lose an
/// intent the code after it relies on.
///
/// `@unchecked Sendable`: the queue of pending writes and the counters are shared between the
/// callers (any task) and the drain (GRDB's writer queue, a dispatch thread that cannot `await`);
/// `lock` guards them, held only to append, take or count — never across SQL or a resumption.
/// An `NSLock` rather than `Mutex`, because ThreadSanitizer on Linux sees it (BENCHMARKS.md).
final class JournalWriter: @unchecked Sendable {
    /// One queued write: runs inside the batch's transaction and says how its caller ends.
    private struct Pending: Sendable {
        /// `alone`: the only write of its transaction.
        let run: @Sendable (Database, _ alone: Bool) -> Outcome
        /// Ends the caller with an error (the write could not be made).
        let fail: @Sendable (any Error) -> Void
    }

    private enum Outcome {
        /// Written inside the transaction: resume the caller with the commit's error (nil: committed).
        case written(@Sendable (_ commitError: (any Error)?) -> Void)
        /// Refused and undone to its savepoint; the transaction goes on without it.
        case refused(any Error)
        /// The write failed and took the transaction with it.
        case transactionLost(any Error)
    }

    private let db: any DatabaseWriter
    private let lock = NSLock()
    private var pending: [Pending] = []
    private var draining = false
    private var counts = JournalWriteCounts()

    init(_ db: any DatabaseWriter) {
        self.db = db
    }

    /// Runs `work` in a write transaction (perhaps shared with other writes) and returns its
    /// result once the transaction is committed — on disk.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue(
                Pending(
                    run: { db, alone in
                        // Alone in its transaction, a write needs no savepoint (SAVEPOINT and
                        // RELEASE are ~9 k instructions): if it fails, its transaction is
                        // rolled back whole (`transactionLost`, with no other write to run again).
                        if !alone {
                            do {
                                try db.cachedStatement(sql: "SAVEPOINT journal_write").execute()
                            } catch {
                                return .transactionLost(error)
                            }
                        }
                        do {
                            let value = try work(db)
                            if !alone { try db.cachedStatement(sql: "RELEASE SAVEPOINT journal_write").execute() }
                            return .written { commitError in
                                if let commitError {
                                    continuation.resume(throwing: commitError)
                                } else {
                                    continuation.resume(returning: value)
                                }
                            }
                        } catch {
                            // Undo this write only; the batch's transaction goes on without it.
                            if !alone, db.isInsideTransaction,
                                (try? db.cachedStatement(sql: "ROLLBACK TRANSACTION TO SAVEPOINT journal_write").execute()) != nil,
                                (try? db.cachedStatement(sql: "RELEASE SAVEPOINT journal_write").execute()) != nil
                            {
                                return .refused(error)
                            }
                            return .transactionLost(error)
                        }
                    },
                    fail: { error in continuation.resume(throwing: error) }))
        }
    }

    /// Writes committed so far, and in how many transactions.
    var writeCounts: JournalWriteCounts { lock.withLock { counts } }

    /// Writes queued and not yet taken by a transaction (for tests).
    var pendingCount: Int { lock.withLock { pending.count } }

    private func enqueue(_ write: Pending) {
        let start = lock.withLock { () -> Bool in
            pending.append(write)
            if draining { return false }
            draining = true
            return true
        }
        // GRDB runs this on its writer queue after whatever it is doing now.
        if start { db.asyncWriteWithoutTransaction { db in self.drain(db) } }
    }

    /// On the writer queue: commits batches until nothing is queued.
    private func drain(_ db: Database) {
        while true {
            let batch = lock.withLock { () -> [Pending] in
                let batch = pending
                pending.removeAll()
                if batch.isEmpty { draining = false }
                return batch
            }
            if batch.isEmpty { return }
            commit(batch, db)
        }
    }

    /// One transaction for `batch`. Writes left over after a lost transaction go back to the
    /// front of the queue (each round fails at least one write, so this ends).
    private func commit(_ batch: [Pending], _ db: Database) {
        do {
            try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION").execute()
        } catch {
            for write in batch { write.fail(error) }
            return
        }
        var written: [@Sendable ((any Error)?) -> Void] = []
        var refused: [(Pending, any Error)] = []
        written.reserveCapacity(batch.count)
        for (index, write) in batch.enumerated() {
            switch write.run(db, batch.count == 1) {
            case .written(let finish):
                written.append(finish)
            case .refused(let error):
                refused.append((write, error))
            case .transactionLost(let error):
                if db.isInsideTransaction { try? db.rollback() }
                // Everything else in the batch was undone with it: run it again (those refused
                // before will be refused again, from the same state).
                var again = batch
                again.remove(at: index)
                lock.withLock { pending.insert(contentsOf: again, at: 0) }
                write.fail(error)
                return
            }
        }
        var commitError: (any Error)?
        do {
            try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
            lock.withLock {
                counts.commits += 1
                counts.writes += written.count
            }
        } catch {
            commitError = error
            if db.isInsideTransaction { try? db.rollback() }
        }
        for finish in written { finish(commitError) }
        for (write, error) in refused { write.fail(error) }
    }
}
