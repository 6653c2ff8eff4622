import Foundation
import Testing

@testable import Checkout
@testable import Journal

/// Finding payments in the journal, and staff's resolution of an `unknown` one: the rule in
/// PaymentRecord, carried out by the journal in one transaction.
@Suite struct ReconciliationTests {
    func record(_ id: String, reference: String, terminal: String = "NGP-1", at seconds: Double, phase: PaymentPhase) -> PaymentRecord {
        var request = paymentRequest(reference: reference)
        request.terminalID = terminal
        var record = try! Checkout(id: id, request: request, now: CheckoutHarness.epoch.addingTimeInterval(seconds)).record
        record.phase = phase
        return record
    }

    func journal(with records: [PaymentRecord], _ body: (PaymentJournal) async throws -> Void) async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        for r in records {
            var created = r
            created.phase = .created
            _ = try await journal.create(created)
            if r.phase != .created {
                try await journal.record(PaymentTransition(from: .created, record: r, cause: "test", at: r.createdAt))
            }
        }
        try await body(journal)
    }

    @Test func paymentsAreFoundByFilterNewestFirstPageByPage() async throws {
        let records = [
            record("a", reference: "R-1", at: 0, phase: .paid),
            record("b", reference: "R-2", terminal: "NGP-2", at: 60, phase: .unknown),
            record("c", reference: "R-1", at: 60, phase: .declined),  // same time as b: ties go by id
            record("d", reference: "R-3", at: 3600, phase: .unknown),
            record("e", reference: "R-4", at: 7200, phase: .awaitingCustomer),
        ]
        try await journal(with: records) { journal in
            var seen: [String] = []
            var after: PaymentJournal.Position?
            repeat {
                let page = try await journal.payments(.init(limit: 2, after: after))
                #expect(page.records.count <= 2)
                seen += page.records.map(\.id)
                after = page.next
            } while after != nil
            #expect(seen == ["e", "d", "c", "b", "a"])

            #expect(try await journal.payments(.init(reference: "R-1")).records.map(\.id) == ["c", "a"])
            #expect(try await journal.payments(.init(phases: [.unknown])).records.map(\.id) == ["d", "b"])
            #expect(try await journal.payments(.init(terminalID: "NGP-2")).records.map(\.id) == ["b"])
            #expect(try await journal.payments(.init(phases: [])).records.isEmpty)
            let window = try await journal.payments(
                .init(from: CheckoutHarness.epoch.addingTimeInterval(60), to: CheckoutHarness.epoch.addingTimeInterval(3600)))
            #expect(window.records.map(\.id) == ["c", "b"], "from inclusive, to exclusive")
            #expect(window.next == nil)
        }
    }

    @Test func staffResolveOnlyAnUnknownPaymentAndOnlyOnce() async throws {
        let at = CheckoutHarness.epoch.addingTimeInterval(86_400)
        try await journal(with: [record("u", reference: "R-U", at: 0, phase: .unknown), record("p", reference: "R-P", at: 1, phase: .paid)]) { journal in
            let paid = StaffResolution(outcome: .paid, transactionId: "T-9", note: "checked by Anna", at: at)
            let resolved = try await journal.resolve(id: "u", paid)
            #expect(resolved.phase == .unknown, "the state the bridge reached stays")
            #expect(resolved.resolution == paid)
            #expect(try await journal.payment(id: "u")?.resolution == paid)
            let history = try await journal.transitions(paymentID: "u")
            #expect(history.last?.cause.contains("resolved by staff: paid") == true && history.last?.from == .unknown)

            // The same finding again changes nothing; another is refused.
            #expect(try await journal.resolve(id: "u", StaffResolution(outcome: .paid, transactionId: "t-9", at: at.addingTimeInterval(5))).resolution == paid)
            #expect(try await journal.transitions(paymentID: "u").count == history.count)
            await #expect(throws: JournalError.resolutionRefused(paymentID: "u", .alreadyResolved(paid))) {
                try await journal.resolve(id: "u", StaffResolution(outcome: .notPaid, at: at))
            }
            // A final state the bridge reached itself is never overwritten.
            await #expect(throws: JournalError.resolutionRefused(paymentID: "p", .notUnknown(.paid))) {
                try await journal.resolve(id: "p", StaffResolution(outcome: .notPaid, at: at))
            }
            #expect(try await journal.payment(id: "p")?.resolution == nil)
            await #expect(throws: JournalError.noSuchPayment("x")) { try await journal.resolve(id: "x", StaffResolution(outcome: .notPaid, at: at)) }
        }
    }

    @Test func theResolutionRuleIsPure() throws {
        let at = CheckoutHarness.epoch
        var unknown = record("u", reference: "R", at: 0, phase: .unknown)
        #expect(throws: ResolutionRefusal.transactionIdRequired) { try unknown.resolved(by: StaffResolution(outcome: .paid, at: at)) }
        #expect(throws: ResolutionRefusal.transactionIdNotAllowed) {
            try unknown.resolved(by: StaffResolution(outcome: .notPaid, transactionId: "T", at: at))
        }
        unknown.transactionId = "T-KNOWN"
        #expect(throws: ResolutionRefusal.transactionIdMismatch(known: "T-KNOWN")) {
            try unknown.resolved(by: StaffResolution(outcome: .paid, transactionId: "T-OTHER", at: at))
        }
        let transition = try #require(try unknown.resolved(by: StaffResolution(outcome: .paid, transactionId: "t-known", at: at)))
        #expect(transition.record.phase == .unknown && transition.record.resolution?.outcome == .paid)
        for phase in PaymentPhase.allCases where phase != .unknown {
            #expect(throws: ResolutionRefusal.notUnknown(phase)) {
                try record("p", reference: "R", at: 0, phase: phase).resolved(by: StaffResolution(outcome: .notPaid, at: at))
            }
        }
    }
}
