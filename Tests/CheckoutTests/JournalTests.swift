import Foundation
import Common
@testable import NetgiroAPI
@testable import NetgiroModels
import Testing

@testable import Checkout
@testable import Journal

/// A journal in a fresh temporary directory, removed afterwards.
struct TempJournal {
    let directory: URL
    var path: String { directory.appendingPathComponent("payments.sqlite").path }

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func open() throws -> PaymentJournal { try PaymentJournal(path: path) }

    /// Every byte the journal has on disk (database, WAL, shared memory).
    func allBytes() throws -> Data {
        var data = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            data += try Data(contentsOf: directory.appendingPathComponent(name))
        }
        return data
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

func newRecord(id: String = "pay-1", reference: String = "T1-100", now: Date = CheckoutHarness.epoch) -> PaymentRecord {
    try! Checkout(id: id, request: paymentRequest(reference: reference), now: now).record
}

/// Moves a journaled payment from `.created` straight to the final `phase` and records the
/// transition; returns the record as the journal now holds it.
@discardableResult
func finish(_ record: PaymentRecord, as phase: PaymentPhase, in journal: PaymentJournal) async throws -> PaymentRecord {
    var record = record
    let from = record.phase
    record.phase = phase
    record.finishedAt = record.createdAt
    try await journal.record(PaymentTransition(from: from, record: record, cause: "\(phase)", at: record.createdAt))
    return record
}

@Suite struct JournalTests {
    @Test func walAndFullSync() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let settings = try await journal.durabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)  // FULL
    }

    @Test func aRecordedTransitionIsVisibleToAnotherConnectionAtOnce() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let writer = try tmp.open()
        let reader = try tmp.open()
        var record = newRecord()
        _ = try await writer.create(record)
        #expect(try await reader.payment(id: "pay-1")?.phase == .created)
        let from = record.phase
        record.phase = .inserting
        try await writer.record(PaymentTransition(from: from, record: record, cause: "about to InsertCart reference T1-100", at: record.createdAt))
        // Written before the call that follows it: a second connection (another process after a
        // crash) sees the intent as soon as record(_:) returned.
        #expect(try await reader.payment(id: "pay-1")?.phase == .inserting)
        #expect(try await reader.transitions(paymentID: "pay-1").map(\.cause) == ["about to InsertCart reference T1-100"])
    }

    /// A new payment and its first transition ("started") are one commit: the first prompt
    /// waits for one fsync, not two.
    @Test func aPaymentCreatedWithItsFirstTransitionIsOneCommit() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let fresh = newRecord()
        var started = fresh
        started.phase = .awaitingCustomerID
        let before = journal.writeCounts
        let creation = try await journal.create(
            fresh, started: PaymentTransition(from: .created, record: started, cause: "started", at: fresh.createdAt))
        #expect(creation == .created(started))
        #expect(journal.writeCounts.commits == before.commits + 1)
        #expect(try await journal.payment(id: "pay-1")?.phase == .awaitingCustomerID)
        let history = try await journal.transitions(paymentID: "pay-1")
        #expect(history.map(\.cause) == ["started"])
        #expect(history.map(\.from) == [.created])
    }

    @Test func recordingAnUnknownPaymentFails() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let record = newRecord()
        await #expect(throws: JournalError.noSuchPayment("pay-1")) {
            try await journal.record(PaymentTransition(from: .created, record: record, cause: "x", at: record.createdAt))
        }
    }

    /// A write refused inside its transaction ends that transaction: the next writes go through
    /// and are durable, and the refused one left nothing behind.
    @Test func aRefusedWriteLeavesTheJournalWritable() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        var record = newRecord(id: "pay-1")
        await #expect(throws: JournalError.noSuchPayment("pay-1")) {
            try await journal.record(PaymentTransition(from: .created, record: record, cause: "x", at: record.createdAt))
        }
        _ = try await journal.create(record)
        await #expect(throws: JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1")) {
            try await journal.create(newRecord(id: "pay-2"))
        }
        record.phase = .inserting
        try await journal.record(PaymentTransition(from: .created, record: record, cause: "about to InsertCart", at: record.createdAt))
        try journal.close()
        let reopened = try tmp.open()
        #expect(try await reopened.payment(id: "pay-1")?.phase == .inserting)
        #expect(try await reopened.payment(id: "pay-2") == nil)
        #expect(try await reopened.transitions(paymentID: "pay-1").map(\.cause) == ["about to InsertCart"])
    }

    /// The journal writes dates as the very text GRDB would: day and year boundaries, leap days,
    /// sub-millisecond fractions, and 20,000 instants drawn at random (fixed seed) over 2000–2099.
    @Test func datesAreStoredAsGRDBStoresThem() {
        var dates: [Date] = [
            "2000-01-01T00:00:00Z", "2024-02-29T23:59:59Z", "2026-12-04T17:00:00Z", "2099-12-31T23:59:59Z",
            "2100-03-01T00:00:00Z", "1999-12-31T23:59:59Z",
        ].map { try! Date($0, strategy: .iso8601) }
        dates += dates.flatMap { [$0.addingTimeInterval(0.9999), $0.addingTimeInterval(0.0005), $0.addingTimeInterval(-0.0001)] }
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let fraction = Double(state >> 11) / Double(1 << 53)
            dates.append(Date(timeIntervalSince1970: 946_684_800 + fraction * 3_155_760_000))
        }
        for date in dates {
            #expect(String.fromDatabaseValue(PaymentJournal.stored(date).databaseValue) == PaymentJournal.storedByGRDB(date), "\(date.timeIntervalSince1970)")
        }
    }

    @Test func idempotencyKeyReturnsTheSamePayment() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let first = newRecord(id: "pay-1")
        #expect(try await journal.create(first, idempotencyKey: "key-1") == .created(first))
        let again = newRecord(id: "pay-2")
        guard case .existing(let existing) = try await journal.create(again, idempotencyKey: "key-1") else {
            Issue.record("a repeated idempotency key made a second payment")
            return
        }
        #expect(existing.id == "pay-1")
        #expect(try await journal.payment(id: "pay-2") == nil)
    }

    @Test func admissionHistoryReadsTheKeyedPaymentAndEveryPaymentForTheReferenceAtOnce() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let first = newRecord(id: "pay-1", reference: "R-1")
        _ = try await journal.create(first, idempotencyKey: "key-1")
        try await finish(first, as: .declined, in: journal)
        _ = try await journal.create(newRecord(id: "pay-2", reference: "R-1", now: CheckoutHarness.epoch.addingTimeInterval(1)))
        _ = try await journal.create(newRecord(id: "pay-3", reference: "R-2"), idempotencyKey: "key-3")

        let both = try await journal.admissionHistory(idempotencyKey: "key-3", reference: "R-1")
        #expect(both.keyed?.id == "pay-3")
        #expect(both.sameReference.map(\.id) == ["pay-1", "pay-2"])  // oldest first, finished ones too
        #expect(both.sameReference.first?.phase == .declined)
        let noKey = try await journal.admissionHistory(idempotencyKey: nil, reference: "R-2")
        #expect(noKey.keyed == nil)
        #expect(noKey.sameReference.map(\.id) == ["pay-3"])
        let nothing = try await journal.admissionHistory(idempotencyKey: "key-9", reference: "R-9")
        #expect(nothing.keyed == nil && nothing.sameReference.isEmpty)
    }

    @Test func createHandsTheKeyedAndSameReferencePaymentsToTheCheckAndWritesNothingWhenItRefuses() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let created = newRecord(id: "pay-1", reference: "R-1")
        _ = try await journal.create(created, idempotencyKey: "key-1")
        let first = try await finish(created, as: .paid, in: journal)

        // Refused: what the check saw comes back, and no row was written.
        let seen = Locked<[String]>([])
        let refused = try await journal.create(newRecord(id: "pay-2", reference: "R-1"), idempotencyKey: "key-2") { keyed, sameReference in
            seen.withLock { $0 = [keyed?.id ?? "-"] + sameReference.map(\.id) }
            return false
        }
        #expect(refused == .inadmissible(keyed: nil, sameReference: [first]))
        #expect(seen.withLock { $0 } == ["-", "pay-1"])
        #expect(try await journal.payment(id: "pay-2") == nil)
        // The key's payment is handed over too.
        let keyed = try await journal.create(newRecord(id: "pay-3", reference: "R-9"), idempotencyKey: "key-1") { keyed, _ in keyed == nil }
        #expect(keyed == .inadmissible(keyed: first, sameReference: []))
        // Allowed: written as without a check.
        let allowed = try await journal.create(newRecord(id: "pay-2", reference: "R-1"), idempotencyKey: "key-2") { _, _ in true }
        #expect(allowed == .created(newRecord(id: "pay-2", reference: "R-1")))
        #expect(try await journal.payment(id: "pay-2")?.id == "pay-2")
    }

    @Test func aReferenceInFlightIsRefusedUntilItsPaymentIsFinal() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let first = newRecord(id: "pay-1")
        _ = try await journal.create(first)
        await #expect(throws: JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1")) {
            try await journal.create(newRecord(id: "pay-2"))
        }
        try await finish(first, as: .declined, in: journal)
        #expect(try await journal.create(newRecord(id: "pay-2")) == .created(newRecord(id: "pay-2")))
        #expect("\(JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1"))".contains("already in flight"))
    }

    @Test func unfinishedPaymentsAndRetention() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let t0 = CheckoutHarness.epoch
        for (i, phase) in [PaymentPhase.paid, .inserting, .cancelled, .awaitingCustomer].enumerated() {
            var r = newRecord(id: "pay-\(i)", reference: "R\(i)", now: t0.addingTimeInterval(Double(i)))
            _ = try await journal.create(r)
            r.phase = phase
            if phase.isFinal { r.finishedAt = t0.addingTimeInterval(Double(i) * 86_400) }
            try await journal.record(PaymentTransition(from: .created, record: r, cause: "test", at: r.createdAt))
        }
        #expect(try await journal.unfinishedPayments().map(\.id) == ["pay-1", "pay-3"])
        // Keep finished payments for one day after t0 + 1 day: pay-0 (finished at t0) goes.
        let purged = try await journal.purgeFinished(olderThan: .seconds(86_400), now: t0.addingTimeInterval(2 * 86_400 - 1))
        #expect(purged == 1)
        #expect(try await journal.payment(id: "pay-0") == nil)
        #expect(try await journal.transitions(paymentID: "pay-0").isEmpty)
        #expect(try await journal.payment(id: "pay-2") != nil)
        // Unfinished payments are never purged.
        try await journal.purgeFinished(before: t0.addingTimeInterval(1_000_000))
        #expect(try await journal.unfinishedPayments().count == 2)
        #expect(try await journal.payment(id: "pay-2") == nil)
    }

    /// A whole kennitala + SMS-code payment, with a wrong code, journaled: neither the kennitala
    /// nor any SMS code is anywhere in the journal's files.
    @Test func noPersonalDataInClear() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        var h = CheckoutHarness(
            request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: ["111111-1119"], wrongSMSCodes: 1))
        _ = try await journal.create(h.record)
        h.run()
        #expect(h.record.phase == .paid)
        for t in h.persisted { try await journal.record(t) }
        let sms = try #require(h.netgiro.core.smsCode(for: h.record.transactionId ?? ""))
        var phone = CheckoutHarness(request: paymentRequest(reference: "T1-101"), customer: ScriptedCustomer(identifiers: ["8223281"]), id: "pay-2")
        _ = try await journal.create(phone.record)
        phone.run()
        for t in phone.persisted { try await journal.record(t) }

        let bytes = try tmp.allBytes()
        func contains(_ s: String) -> Bool { bytes.range(of: Data(s.utf8)) != nil }
        #expect(!contains("1111111119"))
        #expect(!contains("111111-1119"))
        #expect(!contains("8223281"))
        #expect(!contains("\"\(sms)\""))
        #expect(contains("*******119"))  // the masked form is there
        let masked = try await journal.transitions(paymentID: "pay-1").compactMap(\.record.customerMasked)
        #expect(masked.allSatisfy { $0 == "*******119" })
    }

    @Test func recordsSurviveReopening() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        var h = CheckoutHarness(request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.appCode.id]))
        do {
            let journal = try tmp.open()
            _ = try await journal.create(h.record, idempotencyKey: "k")
            h.run()
            for t in h.persisted { try await journal.record(t) }
            try journal.close()
        }
        let reopened = try tmp.open()
        let record = try #require(try await reopened.payment(idempotencyKey: "k"))
        #expect(record == h.record)
        #expect(record.outcome?.state == .paid)
        #expect(record.outcome?.invoiceNumber != nil)
        #expect(try await reopened.transitions(paymentID: record.id).map(\.record.phase) == h.persisted.map(\.record.phase))
    }

    @Test func openingAnUnwritablePathSaysWhatToDo() {
        #expect {
            try PaymentJournal(path: "/nonexistent-dir/x/payments.sqlite")
        } throws: { error in
            "\(error)".contains("writable")
        }
    }
}

/// Writes off the cooperative pool, committed in groups.
@Suite struct JournalGroupCommitTests {
    /// Holds GRDB's writer queue until `release()`, so that the writes made meanwhile queue up.
    final class WriterGate: Sendable {
        let semaphore = DispatchSemaphore(value: 0)

        init(_ journal: PaymentJournal) {
            // Blocks a thread of GRDB's writer queue (a dispatch thread), not the cooperative pool.
            journal.db.asyncWriteWithoutTransaction { [semaphore] _ in semaphore.wait() }
        }

        func release() { semaphore.signal() }
    }

    /// Waits, without a timeout, until `count` writes are queued behind the gate.
    static func waitUntilQueued(_ journal: PaymentJournal, _ count: Int) async {
        while journal.writer.pendingCount < count { await Task.yield() }
    }

    @Test func oneWriteAtATimeIsOneCommitEach() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        #expect(journal.writeCounts == JournalWriteCounts(writes: 0, commits: 0))
        var record = newRecord()
        _ = try await journal.create(record)
        record.phase = .inserting
        try await journal.record(PaymentTransition(from: .created, record: record, cause: "about to InsertCart", at: record.createdAt))
        #expect(journal.writeCounts == JournalWriteCounts(writes: 2, commits: 2))
        // A refused write is not counted as written.
        await #expect(throws: JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1")) {
            try await journal.create(newRecord(id: "pay-2"))
        }
        #expect(journal.writeCounts.writes == 2)
    }

    /// Eight payments written at once share one commit; a refused write among them (a second
    /// payment for a reference in flight) fails alone; every accepted one is on disk.
    @Test func concurrentWritesShareOneCommitAndAreAllDurable() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let gate = WriterGate(journal)
        let records = (0..<8).map { newRecord(id: "pay-\($0)", reference: "R-\($0)") }
        let clash = newRecord(id: "pay-clash", reference: "R-3")
        let results = try await withThrowingTaskGroup(of: (String, Result<PaymentJournal.Creation, JournalError>).self) { group in
            for record in records + [clash] {
                group.addTask {
                    do throws(JournalError) { return (record.id, .success(try await journal.create(record))) } catch { return (record.id, .failure(error)) }
                }
            }
            await Self.waitUntilQueued(journal, records.count + 1)
            gate.release()
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        // Which of the two R-3 payments came first is the scheduler's choice; exactly one is in.
        let refused = results.filter { if case .failure(.referenceInFlight(reference: "R-3", _)) = $0.value { true } else { false } }
        #expect(refused.count == 1)
        #expect(results.values.filter { if case .success(.created) = $0 { true } else { false } }.count == 8)
        #expect(journal.writeCounts == JournalWriteCounts(writes: 8, commits: 1))
        try journal.close()

        let reopened = try tmp.open()
        let stored = try await reopened.recentPayments(limit: 20).map(\.id)
        #expect(Set(stored) == Set(results.keys).subtracting(refused.keys))
    }

    /// Transitions of several payments made while a commit is under way go to disk together; each
    /// caller returns only once its own is committed, and each payment's order is kept.
    @Test func transitionsOfSeveralPaymentsAreGroupedInOrder() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let records = (0..<4).map { newRecord(id: "pay-\($0)", reference: "R-\($0)") }
        for r in records { _ = try await journal.create(r) }
        let before = journal.writeCounts
        let gate = WriterGate(journal)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for var record in records {
                group.addTask {
                    record.phase = .inserting
                    try await journal.record(PaymentTransition(from: .created, record: record, cause: "about to InsertCart", at: record.createdAt))
                    record.phase = .awaitingCustomer
                    try await journal.record(PaymentTransition(from: .inserting, record: record, cause: "cart inserted", at: record.createdAt))
                }
            }
            await Self.waitUntilQueued(journal, records.count)
            gate.release()
            try await group.waitForAll()
        }
        let counts = journal.writeCounts
        #expect(counts.writes - before.writes == 8)
        #expect(counts.commits - before.commits < 8)
        for r in records {
            #expect(try await journal.transitions(paymentID: r.id).map(\.cause) == ["about to InsertCart", "cart inserted"])
            #expect(try await journal.payment(id: r.id)?.phase == .awaitingCustomer)
        }
    }

    /// A write that takes the whole transaction with it (as an I/O error would) fails alone: the
    /// writes batched with it are run again in a fresh transaction and committed.
    @Test func aLostTransactionFailsOnlyTheWriteThatLostIt() async throws {
        struct Lost: Error {}
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let gate = WriterGate(journal)
        // Queued one after another, so the batch is [pay-a, the losing write, pay-b].
        let a = Task { try await journal.create(newRecord(id: "pay-a", reference: "R-a")) }
        await Self.waitUntilQueued(journal, 1)
        let losing = Task {
            try await journal.writer.write { db in
                try db.execute(sql: "ROLLBACK")
                throw Lost()
            }
        }
        await Self.waitUntilQueued(journal, 2)
        let b = Task { try await journal.create(newRecord(id: "pay-b", reference: "R-b")) }
        await Self.waitUntilQueued(journal, 3)
        gate.release()
        #expect(try await a.value == .created(newRecord(id: "pay-a", reference: "R-a")))
        #expect(try await b.value == .created(newRecord(id: "pay-b", reference: "R-b")))
        await #expect(throws: Lost.self) { try await losing.value }
        #expect(journal.writeCounts == JournalWriteCounts(writes: 2, commits: 1))
        try journal.close()
        #expect(try await tmp.open().recentPayments().map(\.id).sorted() == ["pay-a", "pay-b"])
    }

    /// A write alone in its transaction runs without a savepoint: when it fails, everything it
    /// did is rolled back with its transaction, nothing is counted, and the next write goes on.
    @Test func aFailedWriteAloneLeavesNothingBehind() async throws {
        struct Refused: Error {}
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        _ = try await journal.create(newRecord())
        await #expect(throws: Refused.self) {
            try await journal.writer.write { db in
                try db.execute(sql: "UPDATE payment SET record = ? WHERE id = ?", arguments: [Data("not a record".utf8), "pay-1"])
                throw Refused()
            }
        }
        #expect(journal.writeCounts == JournalWriteCounts(writes: 1, commits: 1))
        #expect(try await journal.payment(id: "pay-1") == newRecord())
        var record = newRecord()
        record.phase = .inserting
        try await journal.record(PaymentTransition(from: .created, record: record, cause: "about to InsertCart", at: record.createdAt))
        #expect(try await journal.transitions(paymentID: "pay-1").map(\.cause) == ["about to InsertCart"])
        #expect(journal.writeCounts == JournalWriteCounts(writes: 2, commits: 2))
    }

    /// `journal.path=:memory:` (a throwaway journal): the same API on one in-memory connection.
    @Test func anInMemoryJournalWritesAndReads() async throws {
        let journal = try PaymentJournal(path: ":memory:")
        _ = try await journal.create(newRecord())
        #expect(try await journal.payment(id: "pay-1")?.phase == .created)
        #expect(journal.writeCounts == JournalWriteCounts(writes: 1, commits: 1))
    }

    /// A refund's decision reads the refunds and writes the new one in one transaction: two asks
    /// at once for one payment cannot both see "nothing refunded yet".
    @Test func refundDecisionsForOnePaymentDoNotOverlap() async throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        _ = try await journal.create(newRecord(id: "P1"))
        let gate = WriterGate(journal)
        let now = CheckoutHarness.epoch
        let decided = try await withThrowingTaskGroup(of: Bool.self) { group in
            for n in 0..<2 {
                group.addTask {
                    try await journal.decideRefund(paymentID: "P1") { refunds -> (Bool, save: RefundRecord?) in
                        guard refunds.isEmpty else { return (false, save: nil) }
                        let refund = RefundRecord(
                            id: "r-\(n)", paymentID: "P1", transactionId: "t", amount: 1000, reason: nil, idempotencyKey: nil, state: .requested,
                            createdAt: now, updatedAt: now)
                        return (true, save: refund)
                    }
                }
            }
            await Self.waitUntilQueued(journal, 2)
            gate.release()
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(decided.filter { $0 }.count == 1)
        #expect(decided.count == 2)
        #expect(try await journal.refunds(paymentID: "P1").count == 1)
    }
}
