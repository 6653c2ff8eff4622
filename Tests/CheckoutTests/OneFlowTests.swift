import Common
import Foundation
@testable import NetgiroAPI
@testable import NetgiroModels
import Testing

@testable import Bridge
@testable import Checkout

/// `ngbridge netgiro pay` once ran its own flow, which read two answers differently from the
/// checkout: 10200 from InsertCart and 10203 after ConfirmCart were taken as paid. Now the
/// command drives the checkout, and both readings are the checkout's: CheckCart decides.
@Suite struct OneFlowTests {
    static let cart = "0b1c0d1e-0000-0000-0000-00000000aaaa"
    static let t0 = CheckoutHarness.epoch

    /// A checkout with InsertCart in flight for an app-code customer.
    func inserting(_ type: ConfirmationType) throws -> Checkout {
        var checkout = try Checkout(id: "p", request: paymentRequest(type), now: Self.t0)
        let prompt = try #require(checkout.start(now: Self.t0).compactMap { a -> Int? in
            if case .prompt(_, let id) = a { id } else { nil }
        }.first)
        _ = checkout.customerEntered(.entered(Customer.appCode.id), prompt: prompt, now: Self.t0)
        #expect(checkout.phase == .inserting)
        return checkout
    }

    func pollTimer(_ actions: [Checkout.Action]) -> Int? {
        actions.compactMap { a -> Int? in if case .startTimer(.poll, _, let id) = a { id } else { nil } }.first
    }

    func cartAnswer(_ code: ResultCode, paid: Bool = false) -> CartResponse {
        CartResponse(success: !Checkout.endsTheCart(code), message: nil, resultCode: code, paymentSuccessful: paid)
    }

    @Test func paymentCompletedFromInsertCartIsCheckedNotTakenAsPaid() throws {
        var checkout = try inserting(.automatic)
        let answered = checkout.insertCartCompleted(
            .success(InsertCartResponse(success: true, message: nil, resultCode: .paymentCompleted, transactionId: Self.cart,
                processCartCheckInterval: .milliseconds(500))),
            now: Self.t0)
        #expect(checkout.phase == .awaitingCustomer)
        #expect(!answered.contains { $0.isCall })  // CheckCart at the interval, not at once
        let timer = try #require(pollTimer(answered))
        let fired = checkout.timerFired(.poll, id: timer, now: Self.t0.addingTimeInterval(0.5))
        #expect(fired == [.call(.checkCart(transactionId: Self.cart))])
        // CheckCart says the cart was cancelled: not paid, whatever InsertCart's code said.
        _ = checkout.checkCartCompleted(.success(cartAnswer(.paymentCancelled)), now: Self.t0.addingTimeInterval(0.6))
        #expect(checkout.phase == .declined)
    }

    @Test func alreadyConfirmedAfterConfirmCartIsCheckedNotTakenAsPaid() throws {
        var checkout = try inserting(.manual)
        let answered = checkout.insertCartCompleted(
            .success(InsertCartResponse(success: true, message: nil, resultCode: .reservationAwaitingConfirmCart,
                transactionId: Self.cart, processCartCheckInterval: .milliseconds(500))),
            now: Self.t0)
        #expect(answered.contains(.call(.confirmCart(transactionId: Self.cart, identifier: nil))))
        let confirmed = checkout.confirmCartCompleted(.success(cartAnswer(.alreadyConfirmed)), now: Self.t0)
        #expect(checkout.phase == .confirming)
        #expect(!confirmed.contains { $0.isCall })
        let timer = try #require(pollTimer(confirmed))
        #expect(checkout.timerFired(.poll, id: timer, now: Self.t0.addingTimeInterval(0.5))
            == [.call(.checkCart(transactionId: Self.cart))])
        _ = checkout.checkCartCompleted(.success(cartAnswer(.paymentCancelled)), now: Self.t0.addingTimeInterval(0.6))
        #expect(checkout.phase == .declined)
    }

    /// The command itself: InsertCart answered 10200 (app code, Automatic) is followed by
    /// CheckCart before the payment is called paid.
    @Test func netgiroPayCommandRunsTheCheckout() async throws {
        try await EndToEnd.run { e in
            let lines = Locked<[String]>([])
            let outcome = try await CommandLinePayment.run(
                CommandLinePayment.Cart(amount: 2500, reference: "CLI-1", customerID: Customer.appCode.id, confirmationType: .automatic),
                gateway: e.gateway, smsCode: { nil }, report: { line in lines.withLock { $0.append(line) } })
            #expect(outcome.isPaid)
            #expect(outcome.transactionId != nil)
            #expect(e.gateway.seen.map(\.0) == [.insertCart, .checkCart])
            #expect(!lines.withLock { $0 }.joined().contains(Customer.appCode.id))  // masked, never in clear
            // A refused identifier is not asked for again: the payment ends, nothing is sent.
            let refused = try await CommandLinePayment.run(
                CommandLinePayment.Cart(amount: 2500, reference: "CLI-2", customerID: "123", confirmationType: .manual),
                gateway: e.gateway, smsCode: { nil }, report: { _ in })
            #expect(refused.state == "cancelled")
            #expect(e.gateway.seen.count == 2)
            // Below Netgíró's minimum: refused before anything starts.
            await #expect(throws: CommandLinePayment.Failure.self) {
                _ = try await CommandLinePayment.run(
                    CommandLinePayment.Cart(amount: 99, reference: "CLI-3", customerID: Customer.gsm.id, confirmationType: .manual),
                    gateway: e.gateway, smsCode: { nil }, report: { _ in })
            }
        }
    }
}
