import Foundation
import Testing

@testable import Checkout
@testable import Journal

/// The refund rules (``RefundDesk``) and refunds in the journal.
@Suite struct RefundDeskTests {
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    let paid = RefundablePayment(id: "P1", paid: true, state: "paid", amount: 2500, transactionId: "T1")

    func decide(_ refunds: [RefundRecord], amount: Int?, key: String? = nil, reason: String? = nil, payment: RefundablePayment? = nil)
        -> RefundDesk.Decision
    {
        RefundDesk.decide(
            payment: payment ?? paid, refunds: refunds, ask: RefundAsk(amount: amount, reason: reason), idempotencyKey: key,
            newID: "r\(refunds.count + 1)", now: now)
    }

    func sent(_ decision: RefundDesk.Decision, answer: RefundDesk.Answer = .refunded(message: nil)) throws -> RefundRecord {
        guard case .send(let record) = decision else { throw DeskError.notSent(decision) }
        return RefundDesk.apply(answer, to: record, now: now)
    }

    enum DeskError: Error { case notSent(RefundDesk.Decision) }

    @Test func partialThenTheRestThenNothing() throws {
        let first = try sent(decide([], amount: 1000))
        #expect(first.amount == 1000 && first.state == .refunded && first.transactionId == "T1")
        #expect(decide([first], amount: 1501) == .refuse(.amountTooLarge(asked: 1501, left: 1500)))
        let rest = try sent(decide([first], amount: nil))
        #expect(rest.amount == 1500)
        #expect(decide([first, rest], amount: 1) == .refuse(.nothingLeft(paid: 2500)))
    }

    @Test func refusedRefundsDoNotCountButUnknownOnesDo() throws {
        let refused = try sent(decide([], amount: 2500), answer: .refused(message: "no"))
        let unknown = try sent(decide([refused], amount: 2000), answer: .unknown(cause: "timeout"))
        #expect(RefundDesk.committed([refused, unknown]) == 2000)
        #expect(decide([refused, unknown], amount: 501) == .refuse(.amountTooLarge(asked: 501, left: 500)))
    }

    @Test func onlyPaidPaymentsWithATransaction() {
        let cancelled = RefundablePayment(id: "P1", paid: false, state: "cancelled", amount: 2500, transactionId: "T1")
        #expect(decide([], amount: nil, payment: cancelled) == .refuse(.paymentNotPaid(state: "cancelled")))
        let noTransaction = RefundablePayment(id: "P1", paid: true, state: "paid", amount: 2500, transactionId: nil)
        #expect(decide([], amount: nil, payment: noTransaction) == .refuse(.noTransactionId))
        #expect(decide([], amount: 0) == .refuse(.amountNotPositive(0)))
    }

    @Test func theSameKeyIsTheSameRefund() throws {
        let done = try sent(decide([], amount: 700, key: "K", reason: "returned"))
        #expect(decide([done], amount: 700, key: "K", reason: "returned") == .replay(done))
        #expect(decide([done], amount: nil, key: "K", reason: "returned") == .replay(done))
        #expect(decide([done], amount: 800, key: "K", reason: "returned") == .refuse(.idempotencyKeyReused(refundID: done.id)))
        #expect(decide([done], amount: 700, key: "K", reason: "other") == .refuse(.idempotencyKeyReused(refundID: done.id)))
        // One whose answer was lost goes to Netgíró again as it is (same id = same Netgíró key).
        let lost = try sent(decide([], amount: 700, key: "L"), answer: .unknown(cause: "connection lost"))
        #expect(decide([lost], amount: 700, key: "L") == .resend(lost))
        // Even when the payment looks unrefundable now: the key names an existing refund.
        #expect(decide([done], amount: 700, key: "K", reason: "returned", payment: RefundablePayment(
            id: "P1", paid: false, state: "unknown", amount: 2500, transactionId: "T1")) == .replay(done))
    }

    @Test func journalKeepsRefundsAcrossReopening() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("refund-journal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("journal.sqlite").path
        let payment = newRecord(id: "P1")
        do {
            let journal = try PaymentJournal(path: path)
            _ = try await journal.create(payment)
            guard case .send(let refund) = decide([], amount: 900, key: "K") else { Issue.record("not sent"); return }
            try await journal.save(refund)
            try await journal.save(RefundDesk.apply(.unknown(cause: "timeout"), to: refund, now: now))
            try journal.close()
        }
        let reopened = try PaymentJournal(path: path)
        let refunds = try await reopened.refunds(paymentID: "P1")
        #expect(refunds.count == 1)
        #expect(refunds.first?.state == .unknown && refunds.first?.amount == 900 && refunds.first?.idempotencyKey == "K")
        #expect(try await reopened.refunds(paymentID: "P2").isEmpty)
        try reopened.close()
    }
}
