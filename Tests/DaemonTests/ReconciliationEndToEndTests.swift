import Checkout
import Foundation
import Journal
import NetgiroAPI
import Testing
@testable import Bridge

/// Finding and resolving payments through the real payment service, runner and journal, with a
/// payment left `unknown` by the Netgíró simulator dropping InsertCart's answer.
@Suite(.timeLimit(.minutes(2))) struct ReconciliationEndToEndTests {
    @Test func anUnknownPaymentIsFoundAndResolvedAndAPaidOneIsNot() async throws {
        let customer = ScriptedCustomer(
            terminalID: "NGP-0001", entries: [.entered(EndToEndTests.phone), .entered(EndToEndTests.phone)])
        let bridge = try await BridgeUnderTest.start(customers: [customer])
        do {
            bridge.simulator.injectNext(.dropAfterCommit, on: .insertCart)
            // Under Automatic confirmation a lost InsertCart answer leaves the payment `unknown`
            // (under Manual it is `failed`: no money can move on that cart).
            let lost = try await bridge.pay(#"{"amount": 4990, "reference": "R-LOST", "confirmation": "automatic"}"#)
            #expect(try await bridge.api.client.followEvents(lost.id) { _ in }?.payment?.state == .unknown)
            let paid = try await bridge.pay(#"{"amount": 2500, "reference": "R-PAID"}"#)
            #expect(try await bridge.api.client.followEvents(paid.id) { _ in }?.payment?.state == .paid)

            // Found by state, by reference, and page by page, newest first.
            let unknown = try await bridge.api.client.request(.GET, "/v1/payments?state=unknown").decode(TillPaymentPage.self)
            #expect(unknown.payments.map(\.id) == [lost.id] && unknown.nextCursor == nil)
            let byReference = try await bridge.api.client.request(.GET, "/v1/payments?reference=R-PAID").decode(TillPaymentPage.self)
            #expect(byReference.payments.map(\.id) == [paid.id])
            let first = try await bridge.api.client.request(.GET, "/v1/payments?limit=1").decode(TillPaymentPage.self)
            let cursor = try #require(first.nextCursor)
            let second = try await bridge.api.client.request(.GET, "/v1/payments?limit=1&cursor=\(cursor)").decode(TillPaymentPage.self)
            #expect(first.payments.map(\.id) + second.payments.map(\.id) == [paid.id, lost.id] && second.nextCursor == nil)
            #expect(try await bridge.api.client.request(.GET, "/v1/payments?state=processing").decode(TillPaymentPage.self).payments.isEmpty)

            // Staff found no payment at Netgíró for the lost one.
            let resolved = try await bridge.api.client.request(
                .POST, "/v1/payments/\(lost.id)/resolution", body: Data(#"{"outcome": "not-paid", "note": "checked by Anna"}"#.utf8))
            #expect(resolved.status == 200)
            let view = try await bridge.api.client.payment(lost.id).decode(TillPayment.self)
            #expect(view.state == .unknown && view.resolution?.outcome == .notPaid && view.resolution?.note == "checked by Anna")
            #expect(try await bridge.journal.transitions(paymentID: lost.id).last?.cause == "resolved by staff: not paid at Netgíró")
            #expect(bridge.log.text.contains("payment resolved by staff"))

            // The paid one ended by Netgíró's own answer: it stands.
            let refused = try await bridge.api.client.request(
                .POST, "/v1/payments/\(paid.id)/resolution", body: Data(#"{"outcome": "not-paid"}"#.utf8))
            #expect(refused.status == 409 && refused.problem?.payment?.state == .paid)
            #expect(try await bridge.journal.payment(id: paid.id)?.resolution == nil)
        } catch {
            await bridge.stop()
            throw error
        }
        await bridge.stop()
    }
}
