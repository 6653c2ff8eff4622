import Foundation
@testable import NetgiroAPI
import Simulators
import Testing

@testable import Checkout

enum Customer: String, CaseIterable, Sendable {
    case gsm, ssn, appCode
    var id: String {
        switch self {
        case .gsm: return NetgiroSimCustomers.acceptingGSM
        case .ssn: return NetgiroSimCustomers.smsSSN
        case .appCode: return "5000041234"
        }
    }
}

func paymentRequest(_ type: ConfirmationType = .manual, reference: String = "T1-100", amount: Int = 2500) -> PaymentRequest {
    PaymentRequest(
        amount: amount, reference: reference, description: "Kaffi",
        lines: [PaymentLine(productNo: "1", name: "Kaffi", unitPrice: amount / 2, amount: amount, quantity: 2000)],
        confirmationType: type, terminalID: "PAD-1",
        callbackUrl: type == .serverCallback ? "http://till.test/netgiro/callback" : nil,
        callbackCancelUrl: type == .serverCallback ? "http://till.test/netgiro/cancel" : nil)
}

@Suite struct CustomerIdentifierTests {
    @Test func classification() {
        #expect(CustomerIdentifier.classify("8223281")?.kind == .phone)
        #expect(CustomerIdentifier.classify("6123456")?.kind == .phone)
        #expect(CustomerIdentifier.classify("7123456")?.kind == .phone)
        #expect(CustomerIdentifier.classify("5123456") == nil)  // 7 digits must start 6, 7 or 8
        #expect(CustomerIdentifier.classify("1111111119")?.kind == .kennitalaOrAppCode)
        #expect(CustomerIdentifier.classify("111111-1119")?.value == "1111111119")
        #expect(CustomerIdentifier.classify("5000041234")?.kind == .kennitalaOrAppCode)
        for bad in ["", "12345", "82232811", "12345678901", "82a3281", "８２２３２８１"] {
            #expect(CustomerIdentifier.classify(bad) == nil, "\(bad) should be refused")
        }
    }

    @Test func kennitalaCheckDigitIsOnlyAWarning() throws {
        #expect(CustomerIdentifier.kennitalaCheckDigitMatches("1111111119"))
        #expect(CustomerIdentifier.kennitalaCheckDigitMatches("2222222229"))
        let noCheck = try #require(CustomerIdentifier.classify("1111111129"))
        #expect(!noCheck.passesKennitalaCheck)
        #expect(noCheck.kind == .kennitalaOrAppCode)  // accepted all the same
        #expect(noCheck.masked == "*******129")
        #expect(!noCheck.description.contains("1111111129"))
    }

    @Test func requestValidation() {
        #expect(paymentRequest().problem == nil)
        #expect(paymentRequest().confirmationType == .manual)
        #expect(PaymentRequest(amount: 100, reference: "R", terminalID: "P").confirmationType == .manual)
        #expect(PaymentRequest(amount: 0, reference: "R", terminalID: "P").problem == .amountNotPositive(0))
        #expect(PaymentRequest(amount: 10, reference: " ", terminalID: "P").problem == .emptyReference)
        #expect(PaymentRequest(amount: 10, reference: "R", confirmationType: .serverCallback, terminalID: "P").problem
            == .callbackURLMissing)
        #expect(throws: PaymentRequestError.amountNotPositive(-5)) {
            _ = try Checkout(id: "x", request: PaymentRequest(amount: -5, reference: "R", terminalID: "P"), now: Date())
        }
    }
}

@Suite struct CheckoutFlowTests {
    static let combinations: [(Customer, ConfirmationType)] = Customer.allCases.flatMap { c in
        ConfirmationType.allCases.map { (c, $0) }
    }

    /// ConfirmCart calls each flow needs (netgiro-v1-checkout.md, "The flows").
    static func expectedConfirms(_ customer: Customer, _ type: ConfirmationType) -> Int {
        switch (customer, type) {
        case (.ssn, .manual): return 2
        case (.ssn, _): return 1
        case (_, .manual): return 1
        default: return 0
        }
    }

    @Test(arguments: combinations)
    func everyCustomerAndConfirmationType(customer: Customer, type: ConfirmationType) throws {
        var h = CheckoutHarness(request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [customer.id]))
        let record = h.run()
        #expect(record.phase == .paid)
        #expect(h.sawPaymentSuccessful)
        #expect(record.transactionId != nil)
        #expect(record.invoiceNumber != nil)
        #expect(record.finishedAt != nil)
        #expect(h.count(.insertCart) == 1)
        #expect(h.count(.confirmCart) == Self.expectedConfirms(customer, type))
        #expect(h.count(.cancelCart) == 0)
        let carts = h.netgiro.carts(reference: "T1-100")
        #expect(carts.count == 1)
        #expect(carts.first?.state == "paid")
        #expect(h.screens.last == .paid(amount: 2500))
        #expect(h.prompts.filter { $0.kind == .smsCode }.count == (customer == .ssn ? 1 : 0))
        // The write-ahead intent comes before InsertCart, with the customer masked.
        let intent = try #require(h.actionLog.firstIndex { if case .persist(let t) = $0 { t.record.phase == .inserting } else { false } })
        let insert = try #require(h.actionLog.firstIndex { if case .call(.insertCart) = $0 { true } else { false } })
        #expect(intent < insert)
        if case .persist(let t) = h.actionLog[intent] {
            #expect(t.cause.contains("T1-100"))
            #expect(t.record.customerMasked == PersonalData.mask(customer.id))
        }
        // The TransactionId is written before any call that uses it.
        let txPersist = try #require(h.actionLog.firstIndex {
            if case .persist(let t) = $0 { t.record.transactionId != nil } else { false }
        })
        if let firstTxCall = h.actionLog.firstIndex(where: {
            if case .call(let r) = $0 { r.call != .insertCart } else { false }
        }) {
            #expect(txPersist < firstTxCall)
        }
        #expect(h.persisted.last?.record.phase == .paid)
        #expect(h.tillUpdates.last == .paid)
    }

    @Test func gsmDecline() {
        var h = CheckoutHarness(request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.decliningGSM]))
        let record = h.run()
        #expect(record.phase == .declined)
        #expect(record.lastResultCode == 10302)
        #expect(h.count(.confirmCart) == 0)
        #expect(h.screens.last == .declined(message: record.lastMessage))
    }

    @Test func ssnWithoutCreditIsDeclinedAtInsertCart() {
        var h = CheckoutHarness(request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.noCreditSSN]))
        let record = h.run()
        #expect(record.phase == .declined)
        #expect(record.transactionId == nil)
        #expect(record.lastResultCode == 10307)
        #expect(h.calls.count == 1)
    }

    @Test func unknownCustomerIsDeclined() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: ["7000001"]))
        #expect(h.run().phase == .declined)
        #expect(h.record.lastResultCode == 10306)
    }

    @Test func invalidEntryIsRefusedOnThePadWithoutCallingNetgiro() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: ["123", "5999999", Customer.gsm.id]))
        let record = h.run()
        #expect(record.phase == .paid)
        #expect(h.prompts.map(\.hint) == [.none, .invalidEntry, .invalidEntry])
        #expect(h.count(.insertCart) == 1)
    }

    @Test func tooManyInvalidEntriesEndTheSaleWithNoCall() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: ["1"]))
        #expect(h.run().phase == .cancelled)
        #expect(h.calls.isEmpty)
        #expect(h.prompts.count == 3)
    }

    @Test(arguments: [ConfirmationType.automatic, .manual])
    func wrongSMSCodeIsAskedAgain(type: ConfirmationType) {
        var h = CheckoutHarness(request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [Customer.ssn.id], wrongSMSCodes: 2))
        #expect(h.run().phase == .paid)
        #expect(h.prompts.filter { $0.kind == .smsCode }.map(\.hint) == [.none, .wrongCode, .wrongCode])
        #expect(h.count(.confirmCart) == 3 + (type == .manual ? 1 : 0))
    }

    @Test func tooManyWrongSMSCodesDecline() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.ssn.id], wrongSMSCodes: 5))
        let record = h.run()
        #expect(record.phase == .declined)
        #expect(h.count(.confirmCart) == 3)
        #expect(h.netgiro.carts(reference: "T1-100").first?.state == "cancelled")
    }

    @Test func tooManyWrongSMSCodesWithMoreTriesAtNetgiroCancelTheCart() {
        var sim = NetgiroSimulatorCore.Configuration()
        sim.smsCodeTries = 10
        var h = CheckoutHarness(
            request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.ssn.id], wrongSMSCodes: 5), simulator: sim)
        #expect(h.run().phase == .declined)
        #expect(h.count(.confirmCart) == 3)
        #expect(h.count(.cancelCart) == 1)
        #expect(h.record.cancelReason == .smsCodeTries)
    }

    @Test func customerCancelsAtTheSMSPrompt() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.ssn.id], cancelsAtSMSCode: true))
        #expect(h.run().phase == .cancelled)
        #expect(h.count(.cancelCart) == 1)
        #expect(h.netgiro.carts(reference: "T1-100").first?.state == "cancelled")
    }

    @Test func deadlineCancelsTheCart() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]))
        let record = h.run()
        #expect(record.phase == .cancelled)
        #expect(record.cancelReason == .deadline)
        #expect(h.count(.cancelCart) == 1)
        #expect(h.now.timeIntervalSince(CheckoutHarness.epoch) >= 120)
        #expect(h.netgiro.carts(reference: "T1-100").first?.state == "cancelled")
    }

    @Test func pollIntervalIsBounded() throws {
        var sim = NetgiroSimulatorCore.Configuration()
        sim.checkInterval = .milliseconds(50)
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]), simulator: sim)
        h.run()
        #expect(h.record.pollIntervalMilliseconds == 500)
        sim.checkInterval = .seconds(60)
        var slow = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]), simulator: sim)
        slow.run()
        #expect(slow.record.pollIntervalMilliseconds == 5000)
        let polls = slow.actionLog.compactMap { a -> Duration? in
            if case .startTimer(.poll, let after, _) = a { return after } else { return nil }
        }
        #expect(!polls.isEmpty && polls.allSatisfy { $0 == .seconds(5) })
    }
}

@Suite struct CheckoutCancelTests {
    /// The till cancels after every possible number of executed actions of every flow.
    @Test(arguments: CheckoutFlowTests.combinations)
    func tillCancelAtEveryStep(customer: Customer, type: ConfirmationType) {
        var reference = CheckoutHarness(request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [customer.id]))
        reference.run()
        for step in 1...(reference.executedActions + 1) {
            var h = CheckoutHarness(request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [customer.id]))
            h.tillCancelAtAction = step
            let record = h.run()
            #expect([.cancelled, .paid].contains(record.phase), "step \(step): \(record.phase)")
            #expect(h.count(.insertCart) <= 1)
            let cart = h.netgiro.carts(reference: "T1-100").first
            if record.phase == .paid {
                #expect(h.sawPaymentSuccessful)
                #expect(cart?.state == "paid", "step \(step)")
            } else {
                #expect(cart == nil || cart?.state == "cancelled", "step \(step): cart \(cart?.state ?? "-")")
            }
            #expect(h.activePrompt == nil)
        }
    }

    @Test func cancelBeforeInsertCartCallsNothing() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.apply(h.checkout.start(now: h.now))
        h.apply(h.checkout.tillCancelled(now: h.now))
        #expect(h.checkout.phase == .cancelled)
        #expect(h.actionLog.contains(.cancelPrompt))
        #expect(h.calls.isEmpty)
    }

    /// The customer accepted (Automatic: paid) before the till's cancel reached Netgíró:
    /// CancelCart answers 10200 and the sale is paid.
    @Test func cancelLosesTheRaceToTheCustomer() {
        var h = CheckoutHarness(request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.apply(h.checkout.start(now: h.now))
        while h.checkout.phase != .awaitingCustomer { h.deliver(h.queue.removeFirst()) }
        h.now += 3
        h.netgiro.advance(to: h.now)  // the customer accepts in the app
        h.apply(h.checkout.tillCancelled(now: h.now))
        let record = h.run()
        #expect(record.phase == .paid)
        #expect(h.count(.cancelCart) == 1)
        #expect(h.count(.checkCart) == 0)
        #expect(h.sawPaymentSuccessful)
        #expect(h.screens.last == .paid(amount: 2500))
    }

    @Test func deadlineLosesTheRaceToTheCustomer() throws {
        var h = CheckoutHarness(request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.apply(h.checkout.start(now: h.now))
        while h.checkout.phase != .awaitingCustomer { h.deliver(h.queue.removeFirst()) }
        h.now += 3
        h.netgiro.advance(to: h.now)
        let deadline = try #require(h.timers[.deadline])
        h.apply(h.checkout.timerFired(.deadline, id: deadline.id, now: h.now))
        #expect(h.run().phase == .paid)
        #expect(h.count(.cancelCart) == 1)
    }

    @Test func cancelWhileInsertCartIsInFlightCancelsTheNewCart() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.apply(h.checkout.start(now: h.now))
        h.deliver(h.queue.removeFirst())  // the entry → InsertCart sent, answer queued
        #expect(h.checkout.phase == .inserting)
        h.apply(h.checkout.tillCancelled(now: h.now))
        #expect(h.lastPersisted?.cancelReason == .till)  // recorded for recovery
        #expect(h.run().phase == .cancelled)
        #expect(h.calls.map(\.call) == [.insertCart, .cancelCart])
    }

    @Test func staleTimersAndPromptsAreIgnored() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.apply(h.checkout.start(now: h.now))
        #expect(h.checkout.customerEntered(.entered(Customer.gsm.id), prompt: 999, now: h.now).isEmpty)
        #expect(h.checkout.timerFired(.poll, id: 999, now: h.now).isEmpty)
        #expect(h.checkout.timerFired(.deadline, id: 999, now: h.now).isEmpty)
    }
}

@Suite struct CheckoutFailureTests {
    @Test func insertCartLostAfterCommitEndsUnknownAndIsNeverRetried() {
        var h = CheckoutHarness(request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.appCode.id]))
        h.scriptedFaults[0] = .lostAnswer
        let record = h.run()
        #expect(record.phase == .unknown)
        #expect(record.transactionId == nil)
        #expect(record.lastMessage?.contains("T1-100") == true)
        #expect(h.calls.count == 1)
        #expect(h.netgiro.carts(reference: "T1-100").count == 1)  // the cart Netgíró made
        #expect(h.screens.last == .outcomeUnknown)
    }

    @Test func insertCartNotSentFails() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.scriptedFaults[0] = .notSent
        #expect(h.run().phase == .failed)
        #expect(h.calls.count == 1)
        #expect(h.netgiro.carts(reference: "T1-100").isEmpty)
    }

    @Test(arguments: [CheckoutHarness.Fault.lostAnswer, .notSent])
    func confirmCartWithoutAnswerIsDecidedByCheckCart(fault: CheckoutHarness.Fault) {
        // AppCode + Manual: InsertCart (0) → ConfirmCart (1) fails → CheckCart decides.
        var h = CheckoutHarness(request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: [Customer.appCode.id]))
        h.scriptedFaults[1] = fault
        #expect(h.run().phase == .paid)
        #expect(h.calls[2].call == .checkCart)
        let cart = h.netgiro.carts(reference: "T1-100").first
        #expect(cart?.state == "paid")
        #expect(cart?.count(.confirmCart) == (fault == .lostAnswer ? 1 : 1))
    }

    @Test func checkCartFailuresKeepPolling() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.scriptedFaults[1] = .lostAnswer
        h.scriptedFaults[2] = .notSent
        #expect(h.run().phase == .paid)
    }

    @Test func cancelCartFailuresAreRetriedThenUnknown() {
        var config = Checkout.Configuration()
        config.deadline = .seconds(10)
        var h = CheckoutHarness(
            request: paymentRequest(), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]),
            configuration: config)
        h.failingCalls = [.cancelCart]
        let record = h.run()
        #expect(record.phase == .unknown)
        #expect(h.count(.cancelCart) == config.cancelAttempts)
        #expect(record.lastMessage?.contains("T1-100") == true)
    }
}

@Suite struct CheckoutCallbackTests {
    @Test(arguments: Customer.allCases)
    func callbackBeforeThePollSeesThePayment(customer: Customer) {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [customer.id]))
        #expect(h.run().phase == .paid)
        #expect(!h.pollSawPaid)  // the callback decided
        #expect(h.persisted.last?.cause.contains("10200") == true)
    }

    @Test func callbackAfterThePollSawThePaymentIsIgnored() throws {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.deliverCallbacks = false
        #expect(h.run().phase == .paid)
        #expect(h.pollSawPaid)
        let persistedBefore = h.persisted.count
        let late = CartResponse(
            success: true, message: "Payment completed", resultCode: .paymentCompleted, paymentSuccessful: true,
            paymentInfo: PaymentInfo(transactionId: h.record.transactionId))
        let actions = h.checkout.callbackReceived(late, now: h.now)
        #expect(actions.allSatisfy { if case .log = $0 { true } else { false } })
        #expect(h.persisted.count == persistedBefore)
    }

    @Test func callbackForAnotherCartIsIgnored() {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]))
        h.apply(h.checkout.start(now: h.now))
        while h.checkout.phase != .awaitingCustomer { h.deliver(h.queue.removeFirst()) }
        let other = CartResponse(
            success: true, message: nil, resultCode: .paymentCompleted, paymentSuccessful: true,
            paymentInfo: PaymentInfo(transactionId: "00000000-0000-0000-0000-000000000000"))
        let actions = h.checkout.callbackReceived(other, now: h.now)
        #expect(actions.count == 1)
        #expect(h.checkout.phase == .awaitingCustomer)
    }
}
