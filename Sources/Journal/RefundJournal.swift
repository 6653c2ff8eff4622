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
    public func save(_ refund: RefundRecord) throws(JournalError) {
        do {
            let data = try Self.encodeRefund(refund)
            try db.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO refund (id, paymentId, idempotencyKey, state, createdAt, record) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET state = excluded.state, record = excluded.record
                        """,
                    arguments: [refund.id, refund.paymentID, refund.idempotencyKey, refund.state.rawValue, refund.createdAt, data])
            }
        } catch {
            throw .writeFailed(paymentID: refund.paymentID, reason: "refund \(refund.id): \(error)")
        }
    }

    /// The refunds of a payment, oldest first.
    public func refunds(paymentID: String) throws(JournalError) -> [RefundRecord] {
        do {
            return try db.read { db in
                try Data.fetchAll(db, sql: "SELECT record FROM refund WHERE paymentId = ? ORDER BY createdAt, rowid", arguments: [paymentID])
                    .map(Self.decodeRefund)
            }
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
