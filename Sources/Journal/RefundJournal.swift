import Checkout
import Foundation
import GRDB

/// Refunds in the payment journal: one row per refund, the whole ``RefundRecord`` as JSON beside
/// the columns it is found by. Written before the refund goes to Netgíró (state `requested`) and
/// again with the answer, so a refund whose answer was lost is still known after a restart.
extension PaymentJournal {
    static func createRefundTable(_ db: Database) throws {
        try db.create(table: "refund") { t in
            t.primaryKey("id", .text)
            t.column("paymentId", .text).notNull().indexed().references("payment", onDelete: .cascade)
            t.column("idempotencyKey", .text)
            t.column("state", .text).notNull()
            t.column("createdAt", .datetime).notNull()
            t.column("record", .blob).notNull()
        }
        // A till's key names one refund of one payment.
        try db.execute(sql: "CREATE UNIQUE INDEX refund_idempotency ON refund(paymentId, idempotencyKey) WHERE idempotencyKey IS NOT NULL")
    }

    /// Journals a new refund, or the new state of one.
    public func save(_ refund: RefundRecord) async throws(JournalError) {
        do {
            let data = try Self.encodeRefund(refund)
            try await writer.write { db in try Self.upsert(refund, data, db) }
        } catch {
            throw .writeFailed(paymentID: refund.paymentID, reason: "refund \(refund.id): \(error)")
        }
    }

    /// Reads a payment's refunds, lets `decide` (a pure rule) choose from them, and journals the
    /// refund it returns to save — in one write transaction, so that two requests for the same
    /// payment never both decide on the same refunds (each sees the other's refund or none of it).
    public func decideRefund<Decision: Sendable>(
        paymentID: String, _ decide: @escaping @Sendable ([RefundRecord]) -> (Decision, save: RefundRecord?)
    ) async throws(JournalError) -> Decision {
        do {
            return try await writer.write { db in
                let refunds = try Self.fetchRefunds(paymentID, db)
                let (decision, save) = decide(refunds)
                if let save { try Self.upsert(save, try Self.encodeRefund(save), db) }
                return decision
            }
        } catch {
            throw .writeFailed(paymentID: paymentID, reason: "refund: \(error)")
        }
    }

    private static func upsert(_ refund: RefundRecord, _ data: Data, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO refund (id, paymentId, idempotencyKey, state, createdAt, record) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record
                """
        ).execute(arguments: [refund.id, refund.paymentID, refund.idempotencyKey, refund.state.rawValue, refund.createdAt, data])
    }

    private static func fetchRefunds(_ paymentID: String, _ db: Database) throws -> [RefundRecord] {
        try Data.fetchAll(
            db.cachedStatement(sql: "SELECT record FROM refund WHERE paymentId = ? ORDER BY createdAt, rowid"), arguments: [paymentID]
        ).map(Self.decodeRefund)
    }

    /// The refunds of a payment, oldest first.
    public func refunds(paymentID: String) async throws(JournalError) -> [RefundRecord] {
        do {
            return try await db.read { db in try Self.fetchRefunds(paymentID, db) }
        } catch {
            throw .readFailed(reason: "\(error)")
        }
    }

    static func encodeRefund(_ refund: RefundRecord) throws -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(refund)
    }

    static func decodeRefund(_ data: Data) throws -> RefundRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return try decoder.decode(RefundRecord.self, from: data)
    }
}
