import Checkout
import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The durable record of every payment: one row per payment (its latest ``PaymentRecord``) and
/// one row per transition, in SQLite through GRDB.
///
/// Durability: WAL journal with `synchronous = FULL`, so a write that returned survives a power
/// cut. Writes run on GRDB's writer (its own serial dispatch queue, never Swift's cooperative
/// pool, whose few threads would otherwise wait out each fsync) and are committed in groups:
/// writes made while a commit waits for the disk go to disk together in the next one
/// (``JournalWriter``). Reads run on GRDB's reader connections (a `DatabasePool`: concurrent
/// with writes in WAL mode). The payment runner writes each transition *before* the side effect
/// it precedes (the write-ahead intent "about to InsertCart reference R" before InsertCart), so
/// after a crash the journal never knows less than Netgíró about what the bridge may have done.
///
/// Personal data: a ``PaymentRecord`` holds the customer identifier only masked, and SMS codes
/// never reach it; nothing else the journal stores comes from the customer.
public final class PaymentJournal: Sendable {
    /// A `DatabasePool` (one writer, concurrent readers); a `DatabaseQueue` for `:memory:`.
    let db: any DatabaseWriter
    let writer: JournalWriter
    public let path: String

    /// Opens (creating if needed) the journal at `path`. A new journal file is created mode 0600
    /// whatever the umask (SQLite's own default is 0644, and the journal names payments and
    /// references); SQLite gives its `-wal` and `-shm` files the journal's mode.
    public init(path: String) throws(JournalError) {
        self.path = path
        if path != ":memory:" {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            if fd >= 0 {
                Glibc.close(fd)
            } else if errno != EEXIST {
                throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
            }
        }
        var configuration = Configuration()
        // An in-memory database has no WAL (SQLite answers "memory"; GRDB would refuse to open).
        configuration.journalMode = path == ":memory:" ? .default : .wal
        configuration.label = "payment-journal"
        let db: any DatabaseWriter
        do {
            db = path == ":memory:"
                ? try DatabaseQueue(path: path, configuration: configuration) : try DatabasePool(path: path, configuration: configuration)
            // GRDB's WAL set-up chooses NORMAL; payments need every commit on disk. Only the
            // writer connection commits, so only its setting matters.
            try db.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
            try Self.migrator.migrate(db)
        } catch {
            throw .cannotOpen(path: path, reason: "\(error)")
        }
        self.db = db
        writer = JournalWriter(db)
    }

    /// Writes committed so far and the transactions (fsyncs) they took: with several payments
    /// at once, fewer commits than writes.
    public var writeCounts: JournalWriteCounts { writer.writeCounts }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "payment") { t in
                t.primaryKey("id", .text)
                t.column("reference", .text).notNull()
                t.column("phase", .text).notNull()
                t.column("finished", .boolean).notNull()
                t.column("idempotencyKey", .text).unique()
                t.column("transactionId", .text)
                t.column("terminalID", .text).notNull()
                t.column("createdAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("finishedAt", .datetime)
                t.column("record", .blob).notNull()
            }
            // One payment in flight per reference.
            try db.execute(sql: "CREATE UNIQUE INDEX payment_reference_in_flight ON payment(reference) WHERE finished = 0")
            try db.create(index: "payment_finished", on: "payment", columns: ["finished", "finishedAt"])
            try db.create(table: "transition") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("paymentId", .text).notNull().indexed().references("payment", onDelete: .cascade)
                t.column("at", .datetime).notNull()
                t.column("fromPhase", .text).notNull()
                t.column("toPhase", .text).notNull()
                t.column("cause", .text).notNull()
                t.column("record", .blob).notNull()
            }
        }
        // Admission looks up every payment for a reference (paid ones included) on each new payment.
        m.registerMigration("v2-reference-index") { db in
            try db.create(index: "payment_reference", on: "payment", columns: ["reference"])
        }
        m.registerMigration("v2-refunds") { db in try Self.createRefundTable(db) }
        // Finding payments: by time (newest first), by reference, by terminal.
        m.registerMigration("v3-payment-queries") { db in
            try db.create(index: "payment_created", on: "payment", columns: ["createdAt", "id"])
            try db.create(index: "payment_reference_created", on: "payment", columns: ["reference", "createdAt"])
            try db.create(index: "payment_terminal", on: "payment", columns: ["terminalID", "createdAt"])
        }
        return m
    }

    // MARK: Writing

    /// What ``create(_:idempotencyKey:)`` did.
    public enum Creation: Sendable, Hashable {
        /// A new payment was recorded.
        case created(PaymentRecord)
        /// The idempotency key was seen before: this is that payment (not a second one).
        case existing(PaymentRecord)
        /// `admissible` refused the payment given what the journal holds under its key and its
        /// reference (here, as read in the same transaction): nothing was written.
        case inadmissible(keyed: PaymentRecord?, sameReference: [PaymentRecord])
    }

    /// Whether a new payment may be written, given the payment under its idempotency key (if
    /// any) and every payment for its reference, read in the transaction that would write it.
    public typealias Admissible = @Sendable (_ keyed: PaymentRecord?, _ sameReference: [PaymentRecord]) -> Bool

    /// Records a new payment (phase `created`) — or, if `idempotencyKey` was seen before, returns
    /// the payment it named. A reference with a payment still in flight is refused.
    ///
    /// With `started`, the payment's first transition is written in the same transaction: the
    /// row holds `started.record` and the history its first step, so a new payment costs one
    /// commit (one fsync) before its first prompt, not two.
    ///
    /// With `admissible`, the payments under the key and the reference are read in the same
    /// transaction and handed to it; when it answers false, nothing is written
    /// (``Creation/inadmissible(keyed:sameReference:)``). The caller then needs no read of its
    /// own before the write, and no other payment can come between its check and the write.
    public func create(
        _ record: PaymentRecord, idempotencyKey: String? = nil, started: PaymentTransition? = nil, admissible: Admissible? = nil
    ) async throws(JournalError) -> Creation {
        let record = started?.record ?? record
        do {
            let encoded = try Self.encode(record)
            return try await writer.write { db -> Creation in
                // Cached statements: each is compiled once per connection, not on every payment.
                if let admissible {
                    let keyed = try idempotencyKey.flatMap { key in
                        try Data.fetchOne(db.cachedStatement(sql: "SELECT record FROM payment WHERE idempotencyKey = ?"), arguments: [key])
                    }.map(Self.decode)
                    let sameReference = try Data.fetchAll(
                        db.cachedStatement(sql: "SELECT record FROM payment WHERE reference = ? ORDER BY createdAt, id"),
                        arguments: [record.reference]
                    ).map(Self.decode)
                    guard admissible(keyed, sameReference) else { return .inadmissible(keyed: keyed, sameReference: sameReference) }
                }
                if let idempotencyKey,
                    let existing = try Data.fetchOne(
                        db.cachedStatement(sql: "SELECT record FROM payment WHERE idempotencyKey = ?"), arguments: [idempotencyKey])
                {
                    return .existing(try Self.decode(existing))
                }
                if let other = try String.fetchOne(
                    db.cachedStatement(sql: "SELECT id FROM payment WHERE reference = ? AND finished = 0"),
                    arguments: [record.reference])
                {
                    throw JournalError.referenceInFlight(reference: record.reference, paymentID: other)
                }
                try db.cachedStatement(
                    sql: """
                        INSERT INTO payment (id, reference, phase, finished, idempotencyKey, transactionId, terminalID,
                            createdAt, updatedAt, finishedAt, record)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(
                    arguments: [
                        record.id, record.reference, record.phase.rawValue, record.phase.isFinal, idempotencyKey,
                        record.transactionId, record.request.terminalID, Self.stored(record.createdAt),
                        Self.stored(record.updatedAt), record.finishedAt.map(Self.stored), encoded,
                    ])
                if let started { try Self.appendTransition(started, encoded: encoded, db) }
                return .created(record)
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .writeFailed(paymentID: record.id, reason: "\(error)")
        }
    }

    /// Writes one transition durably: the payment's row becomes `transition.record`, and the
    /// transition is appended to its history. Returns once it is on disk.
    public func record(_ transition: PaymentTransition) async throws(JournalError) {
        let record = transition.record
        do {
            // One encoding serves both rows (the payment's latest state and the history entry).
            let encoded = try Self.encode(record)
            try await writer.write { db in
                // Cached statements: each is compiled once per connection, not on every write.
                try db.cachedStatement(
                    sql: """
                        UPDATE payment SET phase = ?, finished = ?, transactionId = ?, updatedAt = ?, finishedAt = ?,
                            record = ? WHERE id = ?
                        """
                ).execute(
                    arguments: [
                        record.phase.rawValue, record.phase.isFinal, record.transactionId, Self.stored(record.updatedAt),
                        record.finishedAt.map(Self.stored), encoded, record.id,
                    ])
                guard db.changesCount == 1 else { throw JournalError.noSuchPayment(record.id) }
                try Self.appendTransition(transition, encoded: encoded, db)
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .writeFailed(paymentID: record.id, reason: "\(error)")
        }
    }

    /// Appends `transition` to its payment's history; `encoded` is its record, already encoded.
    private static func appendTransition(_ transition: PaymentTransition, encoded: Data, _ db: Database) throws {
        try db.cachedStatement(
            sql: "INSERT INTO transition (paymentId, at, fromPhase, toPhase, cause, record) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(
            arguments: [
                transition.record.id, stored(transition.at), transition.from.rawValue, transition.record.phase.rawValue,
                transition.cause, encoded,
            ])
    }

    /// Records what staff found for an `unknown` payment, by the rule of
    /// ``PaymentRecord/resolved(by:)`` (read, checked and written in one transaction). Returns the
    /// record as it is then.
    public func resolve(id: String, _ finding: StaffResolution) async throws(JournalError) -> PaymentRecord {
        do {
            return try await writer.write { db -> PaymentRecord in
                guard let data = try Data.fetchOne(db, sql: "SELECT record FROM payment WHERE id = ?", arguments: [id]) else {
                    throw JournalError.noSuchPayment(id)
                }
                let record = try Self.decode(data)
                let transition: PaymentTransition?
                do {
                    transition = try record.resolved(by: finding)
                } catch let refusal as ResolutionRefusal {
                    throw JournalError.resolutionRefused(paymentID: id, refusal)
                }
                guard let transition else { return record }
                let next = transition.record
                let encoded = try Self.encode(next)
                try db.execute(
                    sql: "UPDATE payment SET updatedAt = ?, record = ? WHERE id = ?",
                    arguments: [next.updatedAt, encoded, id])
                try Self.appendTransition(transition, encoded: encoded, db)
                return next
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .writeFailed(paymentID: id, reason: "\(error)")
        }
    }

    // MARK: Reading

    /// Which payments ``payments(_:)`` returns.
    public struct Query: Sendable, Hashable {
        public var reference: String?
        /// Any of these phases (nil: all).
        public var phases: [PaymentPhase]?
        public var terminalID: String?
        /// Created at or after.
        public var from: Date?
        /// Created before.
        public var to: Date?
        public var limit: Int
        /// Start after this payment in the order (a previous page's `next`).
        public var after: Position?

        public init(
            reference: String? = nil, phases: [PaymentPhase]? = nil, terminalID: String? = nil, from: Date? = nil, to: Date? = nil,
            limit: Int = 50, after: Position? = nil
        ) {
            self.reference = reference
            self.phases = phases
            self.terminalID = terminalID
            self.from = from
            self.to = to
            self.limit = limit
            self.after = after
        }
    }

    /// A place in the newest-first order: the creation time as stored, and the id.
    public struct Position: Sendable, Hashable {
        public var createdAt: String
        public var id: String

        public init(createdAt: String, id: String) {
            self.createdAt = createdAt
            self.id = id
        }
    }

    /// Payments matching `query`, newest first (creation time, then id), at most `limit`, and
    /// where the next page starts when there are more.
    public func payments(_ query: Query) async throws(JournalError) -> (records: [PaymentRecord], next: Position?) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let reference = query.reference {
            conditions.append("reference = ?")
            arguments += [reference]
        }
        if let terminal = query.terminalID {
            conditions.append("terminalID = ?")
            arguments += [terminal]
        }
        if let phases = query.phases {
            if phases.isEmpty { return ([], nil) }
            conditions.append("phase IN (" + phases.map { _ in "?" }.joined(separator: ", ") + ")")
            for phase in phases { arguments += [phase.rawValue] }
        }
        if let from = query.from {
            conditions.append("createdAt >= ?")
            arguments += [from]
        }
        if let to = query.to {
            conditions.append("createdAt < ?")
            arguments += [to]
        }
        if let after = query.after {
            conditions.append("(createdAt < ? OR (createdAt = ? AND id < ?))")
            arguments += [after.createdAt, after.createdAt, after.id]
        }
        let limit = max(1, query.limit)
        arguments += [limit + 1]
        let sql = "SELECT createdAt, id, record FROM payment"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY createdAt DESC, id DESC LIMIT ?"
        let finalArguments = arguments
        do {
            return try await db.read { db in
                let rows = try Row.fetchAll(db, sql: sql, arguments: finalArguments)
                let page = rows.prefix(limit)
                let records = try page.map { row in try Self.decode(row["record"]) }
                var next: Position?
                if rows.count > limit, let last = page.last {
                    next = Position(createdAt: last["createdAt"], id: last["id"])
                }
                return (records, next)
            }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    public func payment(id: String) async throws(JournalError) -> PaymentRecord? {
        try await readRecords(sql: "SELECT record FROM payment WHERE id = ?", [id]).first
    }

    public func payment(idempotencyKey: String) async throws(JournalError) -> PaymentRecord? {
        try await readRecords(sql: "SELECT record FROM payment WHERE idempotencyKey = ?", [idempotencyKey]).first
    }

    /// The payment in flight for a reference, if any.
    public func paymentInFlight(reference: String) async throws(JournalError) -> PaymentRecord? {
        try await readRecords(sql: "SELECT record FROM payment WHERE reference = ? AND finished = 0", [reference]).first
    }

    /// Every payment for a reference, oldest first.
    public func payments(reference: String) async throws(JournalError) -> [PaymentRecord] {
        try await readRecords(sql: "SELECT record FROM payment WHERE reference = ? ORDER BY createdAt, id", [reference])
    }

    /// What admitting a new request needs from the journal, in one read (one snapshot, one trip
    /// to a reader connection, statements compiled once): the payment under the request's
    /// idempotency key, if any, and every payment for its reference, oldest first.
    public func admissionHistory(
        idempotencyKey: String?, reference: String
    ) async throws(JournalError) -> (keyed: PaymentRecord?, sameReference: [PaymentRecord]) {
        do {
            return try await db.read { db in
                let keyed = try idempotencyKey.flatMap { key in
                    try Data.fetchOne(db.cachedStatement(sql: "SELECT record FROM payment WHERE idempotencyKey = ?"), arguments: [key])
                }.map(Self.decode)
                let sameReference = try Data.fetchAll(
                    db.cachedStatement(sql: "SELECT record FROM payment WHERE reference = ? ORDER BY createdAt, id"), arguments: [reference]
                ).map(Self.decode)
                return (keyed, sameReference)
            }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    /// Every payment not in a final state, oldest first: what recovery resumes at start.
    public func unfinishedPayments() async throws(JournalError) -> [PaymentRecord] {
        try await readRecords(sql: "SELECT record FROM payment WHERE finished = 0 ORDER BY createdAt, id", [])
    }

    /// Recent payments, newest first.
    public func recentPayments(limit: Int = 50) async throws(JournalError) -> [PaymentRecord] {
        try await readRecords(sql: "SELECT record FROM payment ORDER BY createdAt DESC, id DESC LIMIT ?", [limit])
    }

    /// One payment's history, in order.
    public func transitions(paymentID: String) async throws(JournalError) -> [PaymentTransition] {
        do {
            return try await db.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT at, fromPhase, cause, record FROM transition WHERE paymentId = ? ORDER BY seq",
                    arguments: [paymentID]
                ).map { row in
                    PaymentTransition(
                        from: PaymentPhase(rawValue: row["fromPhase"]) ?? .created, record: try Self.decode(row["record"]),
                        cause: row["cause"], at: row["at"])
                }
            }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    // MARK: Retention

    /// Deletes finished payments (and their transitions) that finished before `cutoff`. Unfinished
    /// payments are never purged. Returns how many payments were deleted.
    @discardableResult
    public func purgeFinished(before cutoff: Date) async throws(JournalError) -> Int {
        do {
            return try await writer.write { db in
                try db.execute(
                    sql: "DELETE FROM transition WHERE paymentId IN (SELECT id FROM payment WHERE finished = 1 AND finishedAt < ?)",
                    arguments: [cutoff])
                try db.execute(sql: "DELETE FROM payment WHERE finished = 1 AND finishedAt < ?", arguments: [cutoff])
                return db.changesCount
            }
        } catch {
            throw .writeFailed(paymentID: "-", reason: "\(error)")
        }
    }

    /// Keeps finished payments for `retention` (e.g. 90 days) before `now`.
    @discardableResult
    public func purgeFinished(olderThan retention: Duration, now: Date) async throws(JournalError) -> Int {
        let (seconds, atto) = retention.components
        return try await purgeFinished(before: now.addingTimeInterval(-(Double(seconds) + Double(atto) / 1e18)))
    }

    /// `journal_mode` and `synchronous` as SQLite reports them (for checks and diagnostics).
    public func durabilitySettings() async throws(JournalError) -> (journalMode: String, synchronous: Int) {
        do {
            return try await db.writeWithoutTransaction { db in
                (try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "?", try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1)
            }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    /// Closes the database (tests simulate a restart with it).
    public func close() throws {
        try db.close()
    }

    // MARK: Machinery

    private func readRecords(sql: String, _ arguments: StatementArguments) async throws(JournalError) -> [PaymentRecord] {
        do {
            return try await db.read { db in
                // Cached per reader connection: the SQL is one of a few constants, and compiling
                // it again (sqlite3_prepare) cost more than the read itself on every payment.
                try Data.fetchAll(db.cachedStatement(sql: sql), arguments: arguments).map(Self.decode)
            }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    /// A date as GRDB stores it, `yyyy-MM-dd HH:mm:ss.SSS` in UTC to the nearest millisecond,
    /// written directly: GRDB formats each `Date` through a `DateFormatter`, the dearest part of
    /// binding a transition's arguments. Dates outside 2000–2099 (never a payment's) go through
    /// GRDB.
    static func stored(_ date: Date) -> any DatabaseValueConvertible {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.toNearestOrAwayFromZero)
        guard milliseconds >= 946_684_800_000, milliseconds < 4_102_444_800_000 else { return date }
        let ms = Int(milliseconds)
        let days = ms / 86_400_000
        var rest = ms % 86_400_000
        // Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm).
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let hour = rest / 3_600_000
        rest %= 3_600_000
        let minute = rest / 60_000
        rest %= 60_000
        let second = rest / 1000
        let millisecond = rest % 1000
        var bytes = [UInt8]()
        bytes.reserveCapacity(23)
        func put(_ value: Int, digits: Int) {
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            var v = value
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(v / divisor))
                v %= divisor
                divisor /= 10
            }
        }
        put(year, digits: 4); bytes.append(UInt8(ascii: "-"))
        put(month, digits: 2); bytes.append(UInt8(ascii: "-"))
        put(day, digits: 2); bytes.append(UInt8(ascii: " "))
        put(hour, digits: 2); bytes.append(UInt8(ascii: ":"))
        put(minute, digits: 2); bytes.append(UInt8(ascii: ":"))
        put(second, digits: 2); bytes.append(UInt8(ascii: "."))
        put(millisecond, digits: 3)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The text GRDB itself stores for a date (for tests of ``stored(_:)``).
    static func storedByGRDB(_ date: Date) -> String? {
        String.fromDatabaseValue(date.databaseValue)
    }

    /// One encoder and one decoder for every record (their options never change after this;
    /// encoding and decoding with them is thread-safe), instead of two objects per write or read.
    ///
    /// The record's keys are not sorted: the journal only ever decodes what it stored, nothing
    /// compares the stored bytes, and sorting cost every write (five a payment) its keys' sort.
    /// What the journal shows people (`ngbridge payments`, the till API) is encoded again there.
    private static let recordEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()

    private static let recordDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()

    static func encode(_ record: PaymentRecord) throws -> Data {
        try recordEncoder.encode(record)
    }

    static func decode(_ data: Data) throws -> PaymentRecord {
        try recordDecoder.decode(PaymentRecord.self, from: data)
    }
}

public enum JournalError: Error, Sendable, Hashable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// Another payment for this reference is still in flight.
    case referenceInFlight(reference: String, paymentID: String)
    case noSuchPayment(String)
    case writeFailed(paymentID: String, reason: String)
    case readFailed(reason: String)
    /// Staff's finding was not recorded (``PaymentRecord/resolved(by:)`` says why).
    case resolutionRefused(paymentID: String, ResolutionRefusal)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot open the payment journal \(path): \(reason) — check that the directory exists and is writable by the bridge's user"
        case .referenceInFlight(let reference, let id):
            return "a payment for reference \(reference) is already in flight (payment \(id)) — wait for its outcome or cancel it"
        case .noSuchPayment(let id):
            return "the journal has no payment \(id)"
        case .writeFailed(let id, let reason):
            return "could not write payment \(id) to the journal: \(reason) — check free disk space; the payment was stopped"
        case .readFailed(let reason):
            return "could not read the payment journal: \(reason)"
        case .resolutionRefused(let id, let refusal):
            return "payment \(id) was not resolved: \(refusal)"
        }
    }
}
