import Foundation
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

@Suite struct JournalTests {
    @Test func walAndFullSync() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let settings = try journal.durabilitySettings()
        #expect(settings.journalMode == "wal")
        #expect(settings.synchronous == 2)  // FULL
    }

    @Test func aRecordedTransitionIsVisibleToAnotherConnectionAtOnce() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let writer = try tmp.open()
        let reader = try tmp.open()
        var record = newRecord()
        _ = try writer.create(record)
        #expect(try reader.payment(id: "pay-1")?.phase == .created)
        let from = record.phase
        record.phase = .inserting
        try writer.record(PaymentTransition(from: from, record: record, cause: "about to InsertCart reference T1-100", at: record.createdAt))
        // Written before the call that follows it: a second connection (another process after a
        // crash) sees the intent as soon as record(_:) returned.
        #expect(try reader.payment(id: "pay-1")?.phase == .inserting)
        #expect(try reader.transitions(paymentID: "pay-1").map(\.cause) == ["about to InsertCart reference T1-100"])
    }

    @Test func recordingAnUnknownPaymentFails() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let record = newRecord()
        #expect(throws: JournalError.noSuchPayment("pay-1")) {
            try journal.record(PaymentTransition(from: .created, record: record, cause: "x", at: record.createdAt))
        }
    }

    /// A write refused inside its transaction ends that transaction: the next writes go through
    /// and are durable, and the refused one left nothing behind.
    @Test func aRefusedWriteLeavesTheJournalWritable() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        var record = newRecord(id: "pay-1")
        #expect(throws: JournalError.noSuchPayment("pay-1")) {
            try journal.record(PaymentTransition(from: .created, record: record, cause: "x", at: record.createdAt))
        }
        _ = try journal.create(record)
        #expect(throws: JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1")) {
            try journal.create(newRecord(id: "pay-2"))
        }
        record.phase = .inserting
        try journal.record(PaymentTransition(from: .created, record: record, cause: "about to InsertCart", at: record.createdAt))
        try journal.close()
        let reopened = try tmp.open()
        #expect(try reopened.payment(id: "pay-1")?.phase == .inserting)
        #expect(try reopened.payment(id: "pay-2") == nil)
        #expect(try reopened.transitions(paymentID: "pay-1").map(\.cause) == ["about to InsertCart"])
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

    @Test func idempotencyKeyReturnsTheSamePayment() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let first = newRecord(id: "pay-1")
        #expect(try journal.create(first, idempotencyKey: "key-1") == .created(first))
        let again = newRecord(id: "pay-2")
        guard case .existing(let existing) = try journal.create(again, idempotencyKey: "key-1") else {
            Issue.record("a repeated idempotency key made a second payment")
            return
        }
        #expect(existing.id == "pay-1")
        #expect(try journal.payment(id: "pay-2") == nil)
    }

    @Test func aReferenceInFlightIsRefusedUntilItsPaymentIsFinal() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        var first = newRecord(id: "pay-1")
        _ = try journal.create(first)
        #expect(throws: JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1")) {
            try journal.create(newRecord(id: "pay-2"))
        }
        first.phase = .declined
        first.finishedAt = first.createdAt
        try journal.record(PaymentTransition(from: .created, record: first, cause: "declined", at: first.createdAt))
        #expect(try journal.create(newRecord(id: "pay-2")) == .created(newRecord(id: "pay-2")))
        #expect("\(JournalError.referenceInFlight(reference: "T1-100", paymentID: "pay-1"))".contains("already in flight"))
    }

    @Test func unfinishedPaymentsAndRetention() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        let t0 = CheckoutHarness.epoch
        for (i, phase) in [PaymentPhase.paid, .inserting, .cancelled, .awaitingCustomer].enumerated() {
            var r = newRecord(id: "pay-\(i)", reference: "R\(i)", now: t0.addingTimeInterval(Double(i)))
            _ = try journal.create(r)
            r.phase = phase
            if phase.isFinal { r.finishedAt = t0.addingTimeInterval(Double(i) * 86_400) }
            try journal.record(PaymentTransition(from: .created, record: r, cause: "test", at: r.createdAt))
        }
        #expect(try journal.unfinishedPayments().map(\.id) == ["pay-1", "pay-3"])
        // Keep finished payments for one day after t0 + 1 day: pay-0 (finished at t0) goes.
        let purged = try journal.purgeFinished(olderThan: .seconds(86_400), now: t0.addingTimeInterval(2 * 86_400 - 1))
        #expect(purged == 1)
        #expect(try journal.payment(id: "pay-0") == nil)
        #expect(try journal.transitions(paymentID: "pay-0").isEmpty)
        #expect(try journal.payment(id: "pay-2") != nil)
        // Unfinished payments are never purged.
        try journal.purgeFinished(before: t0.addingTimeInterval(1_000_000))
        #expect(try journal.unfinishedPayments().count == 2)
        #expect(try journal.payment(id: "pay-2") == nil)
    }

    /// A whole kennitala + SMS-code payment, with a wrong code, journaled: neither the kennitala
    /// nor any SMS code is anywhere in the journal's files.
    @Test func noPersonalDataInClear() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        let journal = try tmp.open()
        var h = CheckoutHarness(
            request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: ["111111-1119"], wrongSMSCodes: 1))
        _ = try journal.create(h.record)
        h.run()
        #expect(h.record.phase == .paid)
        for t in h.persisted { try journal.record(t) }
        let sms = try #require(h.netgiro.core.smsCode(for: h.record.transactionId ?? ""))
        var phone = CheckoutHarness(request: paymentRequest(reference: "T1-101"), customer: ScriptedCustomer(identifiers: ["8223281"]), id: "pay-2")
        _ = try journal.create(phone.record)
        phone.run()
        for t in phone.persisted { try journal.record(t) }

        let bytes = try tmp.allBytes()
        func contains(_ s: String) -> Bool { bytes.range(of: Data(s.utf8)) != nil }
        #expect(!contains("1111111119"))
        #expect(!contains("111111-1119"))
        #expect(!contains("8223281"))
        #expect(!contains("\"\(sms)\""))
        #expect(contains("*******119"))  // the masked form is there
        let masked = try journal.transitions(paymentID: "pay-1").compactMap(\.record.customerMasked)
        #expect(masked.allSatisfy { $0 == "*******119" })
    }

    @Test func recordsSurviveReopening() throws {
        let tmp = TempJournal()
        defer { tmp.remove() }
        var h = CheckoutHarness(request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.appCode.id]))
        do {
            let journal = try tmp.open()
            _ = try journal.create(h.record, idempotencyKey: "k")
            h.run()
            for t in h.persisted { try journal.record(t) }
            try journal.close()
        }
        let reopened = try tmp.open()
        let record = try #require(try reopened.payment(idempotencyKey: "k"))
        #expect(record == h.record)
        #expect(record.outcome?.state == .paid)
        #expect(record.outcome?.invoiceNumber != nil)
        #expect(try reopened.transitions(paymentID: record.id).map(\.record.phase) == h.persisted.map(\.record.phase))
    }

    @Test func openingAnUnwritablePathSaysWhatToDo() {
        #expect {
            try PaymentJournal(path: "/nonexistent-dir/x/payments.sqlite")
        } throws: { error in
            "\(error)".contains("writable")
        }
    }
}
