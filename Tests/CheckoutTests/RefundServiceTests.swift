import Foundation
import Logging
import Testing

@testable import Bridge
@testable import Checkout
@testable import Journal
@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

/// ``RefundService`` against the Netgíró simulator: a refund whose answer is lost stays
/// `unknown`, counts against what is left, and the till's retry with the same key sends the same
/// refund again — refunded once.
@Suite struct RefundServiceTests {
    @Test func aLostAnswerIsUnknownAndTheSameKeyRefundsOnce() async throws {
        var quiet = Logger(label: "refund.test")
        quiet.logLevel = .critical
        var options = NetgiroSimulator.Options()
        options.logger = quiet
        let sim = try await NetgiroSimulator.start(options)
        let configuration = try NetgiroConfiguration(
            baseURL: sim.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox, responseSignatures: .verify)
        let netgiro = NetgiroClient(configuration: configuration, logger: quiet)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("refund-service-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let live = NetgiroPartnerClient(baseURL: sim.partnerBaseURL, secret: .publicSandbox, logger: quiet)
        // Nothing listens on port 9 (discard) on loopback: the call fails with no answer.
        let unreachable = NetgiroPartnerClient(baseURL: "http://127.0.0.1:9/partner/", secret: .publicSandbox, timeout: .seconds(2), logger: quiet)
        let journal = try PaymentJournal(path: dir.appendingPathComponent("journal.sqlite").path)

        do {
            // A paid payment (app code, automatic), in the journal so refunds can refer to it.
            let inserted = try await netgiro.insertCart(
                InsertCartRequest(amount: 2500, reference: "R-1", customerId: "5000041234", confirmationType: .automatic))
            let transactionId = try #require(inserted.transactionId)
            #expect(inserted.resultCode == .paymentCompleted)
            _ = try await journal.create(newRecord(id: "P1"))
            let now = Date()
            let payment = TillPayment(
                id: "P1", state: .paid, amount: 2500, reference: "R-1", confirmation: .automatic, terminal: "PAD", createdAt: now,
                updatedAt: now, transactionId: transactionId)
            let lookup: @Sendable (String) async -> TillPayment? = { $0 == "P1" ? payment : nil }

            let cut = RefundService(journal: journal, partner: unreachable, lookup: lookup, logger: quiet)
            let (lost, lostReplayed) = try await cut.refund(paymentID: "P1", ask: RefundAsk(amount: 1000, reason: nil), idempotencyKey: "K1")
            #expect(lost.state == "unknown" && !lostReplayed)
            #expect(try await cut.list(paymentID: "P1").refundable == 1500)
            #expect(sim.refunds().isEmpty)

            // The bridge again (as after a restart), Netgíró reachable: the same key is the same refund.
            let back = RefundService(journal: journal, partner: live, lookup: lookup, logger: quiet)
            let (retried, retriedReplayed) = try await back.refund(paymentID: "P1", ask: RefundAsk(amount: 1000, reason: nil), idempotencyKey: "K1")
            #expect(retried.id == lost.id && retried.state == "refunded" && retriedReplayed)
            let (again, _) = try await back.refund(paymentID: "P1", ask: RefundAsk(amount: nil, reason: nil), idempotencyKey: "K1")
            #expect(again.id == lost.id && again.state == "refunded")
            #expect(sim.refunds().map(\.amount) == [1000])
            #expect(sim.refunds().first?.idempotencyKey == lost.id)

            // Unknown payments and amounts above what is left are refused before Netgíró is asked.
            await #expect(throws: TillAPIProblem.self) { _ = try await back.refund(paymentID: "P2", ask: RefundAsk(amount: 1, reason: nil), idempotencyKey: nil) }
            await #expect(throws: TillAPIProblem.self) { _ = try await back.refund(paymentID: "P1", ask: RefundAsk(amount: 1501, reason: nil), idempotencyKey: nil) }
            #expect(sim.refunds().count == 1)
        } catch {
            Issue.record("\(error)")
        }
        try? journal.close()
        await live.shutdown()
        await unreachable.shutdown()
        try? await netgiro.shutdown()
        await sim.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }
}
