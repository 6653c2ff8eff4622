import Foundation
@testable import NetgiroAPI
@testable import NetgiroModels
import NetgiroSim
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
        #expect(PaymentRequest(amount: 100, reference: " ", terminalID: "P").problem == .emptyReference)
        #expect(PaymentRequest(amount: 100, reference: "R", confirmationType: .serverCallback, terminalID: "P").problem
            == .callbackURLMissing)
        // Netgíró's minimum (10305 below it): refused before any customer is asked.
        #expect(PaymentRequest(amount: 99, reference: "R", terminalID: "P").problem == .belowMinimum(99, minimum: 100))
        #expect(PaymentRequest(amount: 100, reference: "R", terminalID: "P").problem == nil)
        #expect(throws: PaymentRequestError.belowMinimum(1, minimum: 100)) {
            _ = try Checkout(id: "x", request: PaymentRequest(amount: 1, reference: "R", terminalID: "P"), now: Date())
        }
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

    /// Manual and ServerCallback: no money can move on a cart whose TransactionId the bridge never
    /// learnt, so the payment fails (retryable) instead of ending unknown — and the orphan is
    /// never paid: a reservation nobody captures (Manual), or cancelled because its callback is
    /// refused (ServerCallback).
    @Test(arguments: [(Customer.appCode, ConfirmationType.manual), (.gsm, .manual), (.appCode, .serverCallback), (.gsm, .serverCallback)])
    func insertCartLostUnderManualOrServerCallbackFailsRetryable(customer: Customer, type: ConfirmationType) {
        var h = CheckoutHarness(request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [customer.id]))
        h.scriptedFaults[0] = .lostAnswer
        let record = h.run()
        #expect(record.phase == .failed)
        #expect(record.failureReason == .insertUnanswered)
        #expect(record.retryable == true)
        #expect(record.outcome?.retryable == true)
        #expect(record.lastMessage?.contains("T1-100") == true)
        #expect(h.calls.count == 1)
        h.settleNetgiro(until: 60)  // the customer accepts in the app meanwhile
        let carts = h.netgiro.carts(reference: "T1-100")
        #expect(carts.count == 1)
        // Manual: a reservation nobody captures (until Netgíró lets it lapse); ServerCallback: cancelled.
        #expect(carts.first?.state != "paid")
        if type == .serverCallback { #expect(carts.first?.state == "cancelled") }
        if type == .serverCallback { #expect(!h.callbackAnswers.isEmpty && h.callbackAnswers.allSatisfy { !$0 }) }
    }

    @Test func unansweredInsertIsTriedOnceMoreWithAFreshCartWhenConfigured() {
        var config = Checkout.Configuration()
        config.retryUnansweredInsertOnce = true
        var h = CheckoutHarness(
            request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]), configuration: config)
        h.scriptedFaults[0] = .lostAnswer
        #expect(h.run().phase == .paid)
        #expect(h.count(.insertCart) == 2)
        #expect(h.prompts.count == 1)  // the customer keyed once
        let carts = h.netgiro.carts(reference: "T1-100")
        #expect(carts.map(\.state).sorted() == ["paid", "reserved"])  // the first: never captured

        // Once only; and never under Automatic.
        var twice = CheckoutHarness(
            request: paymentRequest(.manual), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]), configuration: config)
        twice.scriptedFaults = [0: .lostAnswer, 1: .lostAnswer]
        #expect(twice.run().failureReason == .insertUnanswered)
        #expect(twice.count(.insertCart) == 2)
        var automatic = CheckoutHarness(
            request: paymentRequest(.automatic), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]), configuration: config)
        automatic.scriptedFaults[0] = .lostAnswer
        #expect(automatic.run().phase == .unknown)
        #expect(automatic.count(.insertCart) == 1)
    }

    @Test func insertCartNotSentFails() {
        var h = CheckoutHarness(request: paymentRequest(), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        h.scriptedFaults[0] = .notSent
        #expect(h.run().phase == .failed)
        #expect(h.record.failureReason == .insertNotSent)
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
        // Not at once: at Netgíró's interval after the ConfirmCart (the simulator asks 500 ms).
        #expect(h.callTimes[2].timeIntervalSince(h.callTimes[1]) >= 0.5)
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

    /// CancelCart never gets through: under Automatic the customer may still accept — unknown;
    /// under Manual no money moves without the bridge's ConfirmCart, never sent — cancelled.
    @Test(arguments: [ConfirmationType.automatic, .manual])
    func cancelCartFailuresAreRetriedThenUnknownOnlyWhereMoneyCanMove(type: ConfirmationType) {
        var config = Checkout.Configuration()
        config.deadline = .seconds(10)
        var h = CheckoutHarness(
            request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]),
            configuration: config)
        h.failingCalls = [.cancelCart]
        let record = h.run()
        #expect(record.phase == (type == .automatic ? .unknown : .cancelled))
        #expect(h.count(.cancelCart) == config.cancelAttempts)
        if type == .automatic { #expect(record.lastMessage?.contains("T1-100") == true) }
    }
}

/// A pad that did not announce a prompt the payment needs (PROTOCOL.md §5.2, decision D4).
@Suite struct CheckoutPromptUnsupportedTests {
    /// Without SMS_CODE: only the kennitala flow needs the code; there the cart is cancelled and
    /// the payment fails `prompt-unsupported`, not retryable. The other flows are paid as usual.
    @Test(arguments: CheckoutFlowTests.combinations)
    func aPadWithoutTheSMSCodePrompt(customer: Customer, type: ConfirmationType) throws {
        var h = CheckoutHarness(
            request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [customer.id], padLacks: [.smsCode]))
        let record = h.run()
        #expect(h.impossibleEvents.isEmpty)
        guard customer == .ssn else {
            #expect(record.phase == .paid)
            #expect(record.failureReason == nil)
            return
        }
        #expect(record.phase == .failed)
        #expect(record.failureReason == .promptUnsupported)
        #expect(record.retryable == false)
        #expect(try #require(record.outcome).retryable == false)
        #expect(record.cancelReason == .promptUnsupported)
        // CancelCart first, so no cart is left; no code was ever sent.
        #expect(h.count(.confirmCart) == 0)
        #expect(h.count(.cancelCart) == 1)
        #expect(h.netgiro.carts(reference: "T1-100").map(\.state) == ["cancelled"])
        #expect(record.lastMessage?.contains("SMS") == true)
        #expect(h.persisted.last?.record.failureReason == .promptUnsupported)
        #expect(h.tillUpdates.suffix(2) == [.cancelling, .failed])
    }

    /// Without CUSTOMER_ID: nothing is inserted; the payment fails at once.
    @Test(arguments: ConfirmationType.allCases)
    func aPadWithoutTheCustomerIDPrompt(type: ConfirmationType) throws {
        var h = CheckoutHarness(
            request: paymentRequest(type),
            customer: ScriptedCustomer(identifiers: [Customer.gsm.id], padLacks: [.customerID, .smsCode]))
        let record = h.run()
        #expect(record.phase == .failed)
        #expect(record.failureReason == .promptUnsupported)
        #expect(record.retryable == false)
        #expect(h.calls.isEmpty)
        #expect(h.netgiro.carts(reference: "T1-100").isEmpty)
        #expect(record.lastMessage?.contains("CUSTOMER_ID") == true)
        #expect(h.tillUpdates == [.awaitingCustomerID, .failed])
    }

    /// CancelCart never gets through: under Automatic the customer may still accept — unknown;
    /// under Manual nothing can move without the bridge's ConfirmCart — failed, as asked.
    @Test(arguments: [ConfirmationType.automatic, .manual])
    func cancelCartFailuresEndUnknownOnlyWhereMoneyCanMove(type: ConfirmationType) {
        var h = CheckoutHarness(
            request: paymentRequest(type), customer: ScriptedCustomer(identifiers: [Customer.ssn.id], padLacks: [.smsCode]))
        h.failingCalls = [.cancelCart]
        let record = h.run()
        #expect(h.count(.cancelCart) == h.configuration.cancelAttempts)
        #expect(record.phase == (type == .automatic ? .unknown : .failed))
        #expect(record.failureReason == (type == .automatic ? nil : .promptUnsupported))
    }
}

@Suite struct CheckoutCallbackTests {
    /// The callback for the cart the payment holds is accepted (200 makes the sale), written
    /// before the answer; CheckCart, at the poll interval, then sees the payment.
    @Test(arguments: Customer.allCases)
    func callbackForTheHeldCartIsAcceptedAndThePollSeesThePayment(customer: Customer) throws {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [customer.id]))
        #expect(h.run().phase == .paid)
        #expect(h.callbackAnswers == [true])
        #expect(h.pollSawPaid)
        #expect(h.record.goAheadGiven == true)
        let persisted = try #require(h.actionLog.firstIndex { if case .persist(let t) = $0 { t.record.goAheadGiven == true } else { false } })
        let answered = try #require(h.actionLog.firstIndex { if case .answerCallback(_, true) = $0 { true } else { false } })
        #expect(persisted < answered)
    }

    @Test func repeatedCallbackAfterThePaymentIsPaidIsAcceptedAndChangesNothing() throws {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [Customer.gsm.id]))
        #expect(h.run().phase == .paid)
        let persistedBefore = h.persisted.count
        let late = CartResponse(
            success: true, message: "Payment completed", resultCode: .paymentCompleted, paymentSuccessful: true,
            paymentInfo: PaymentInfo(transactionId: h.record.transactionId))
        let actions = h.checkout.callbackReceived(late, id: 99, now: h.now)
        #expect(actions == [.answerCallback(id: 99, accept: true)])
        #expect(h.persisted.count == persistedBefore)
    }

    @Test func callbackForAnotherCartIsRefused() {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]))
        h.apply(h.checkout.start(now: h.now))
        while h.checkout.phase != .awaitingCustomer { h.deliver(h.queue.removeFirst()) }
        let other = CartResponse(
            success: true, message: nil, resultCode: .paymentCompleted, paymentSuccessful: true,
            paymentInfo: PaymentInfo(transactionId: "00000000-0000-0000-0000-000000000000"))
        let actions = h.checkout.callbackReceived(other, id: 7, now: h.now)
        #expect(actions.contains(.answerCallback(id: 7, accept: false)))
        #expect(!actions.contains { $0.isPersist })
        #expect(h.checkout.phase == .awaitingCustomer)
    }

    /// The till cancelled: the callback is refused, so the cart cannot be paid behind the cancel.
    @Test func callbackWhileCancellingIsRefused() {
        var h = CheckoutHarness(request: paymentRequest(.serverCallback), customer: ScriptedCustomer(identifiers: [NetgiroSimCustomers.silentGSM]))
        h.apply(h.checkout.start(now: h.now))
        while h.checkout.phase != .awaitingCustomer { h.deliver(h.queue.removeFirst()) }
        h.apply(h.checkout.tillCancelled(now: h.now))
        let ours = CartResponse(
            success: true, message: nil, resultCode: .paymentCompleted, paymentSuccessful: true,
            paymentInfo: PaymentInfo(transactionId: h.record.transactionId))
        #expect(h.checkout.callbackReceived(ours, id: 3, now: h.now).contains(.answerCallback(id: 3, accept: false)))
        #expect(h.run().phase == .cancelled)
    }
}

@Suite struct CheckoutImpossibleEventTests {
    /// An event the state cannot have (a call's answer with no such call in flight, a second
    /// start) is caught: reported and counted, and nothing else happens — no call, no write.
    @Test func impossibleEventsAreCaughtAndChangeNothing() throws {
        var config = Checkout.Configuration()
        config.trapsOnImpossibleEvent = false  // see the release behaviour in a debug build
        var checkout = try Checkout(id: "p", request: paymentRequest(), now: CheckoutHarness.epoch, configuration: config)
        _ = checkout.start(now: CheckoutHarness.epoch)
        let before = checkout.record
        let again = checkout.start(now: CheckoutHarness.epoch)
        let answer = checkout.checkCartCompleted(
            .success(CartResponse(success: true, message: nil, resultCode: .paymentCompleted, paymentSuccessful: true)),
            now: CheckoutHarness.epoch)
        let insert = checkout.insertCartCompleted(.failure(.timeout(call: .insertCart)), now: CheckoutHarness.epoch)
        for actions in [again, answer, insert] {
            #expect(actions.count == 1)
            guard case .impossibleEvent(let what) = actions.first else {
                Issue.record("not reported: \(actions)")
                continue
            }
            #expect(what.contains("p"))
        }
        #expect(checkout.impossibleEvents == 3)
        #expect(checkout.record == before)
        #expect(checkout.phase == .awaitingCustomerID)
    }
}

@Suite struct CheckoutPollScheduleTests {
    static let interval = 500

    func restored(_ phase: PaymentPhase) -> PaymentRecord {
        var record = try! Checkout(id: "p", request: paymentRequest(), now: CheckoutHarness.epoch).record
        record.phase = phase
        record.transactionId = "0b1c0d1e-0000-0000-0000-000000000001"
        record.pollIntervalMilliseconds = Self.interval
        return record
    }

    /// After a restart the last CheckCart may have gone out just before the stop: the first one
    /// after it waits Netgíró's interval too.
    @Test(arguments: [PaymentPhase.awaitingCustomer, .confirming, .awaitingSMSCode])
    func recoveryWaitsOneIntervalBeforeCheckCart(phase: PaymentPhase) throws {
        var checkout = Checkout(restoring: restored(phase))
        let now = CheckoutHarness.epoch.addingTimeInterval(5)
        let actions = checkout.resume(now: now)
        #expect(!actions.contains { $0.isCall })
        let poll = try #require(actions.compactMap { a -> (Duration, Int)? in
            if case .startTimer(.poll, let after, let id) = a { return (after, id) } else { return nil }
        }.first)
        #expect(poll.0 == .milliseconds(Self.interval))
        let fired = checkout.timerFired(.poll, id: poll.1, now: now.addingTimeInterval(0.5))
        #expect(fired == [.call(.checkCart(transactionId: "0b1c0d1e-0000-0000-0000-000000000001"))])
    }

    /// A CheckCart that fails is followed by the next one an interval later, not at once.
    @Test func failedCheckCartWaitsTheInterval() throws {
        var checkout = Checkout(restoring: restored(.awaitingCustomer))
        let now = CheckoutHarness.epoch.addingTimeInterval(5)
        let first = checkout.resume(now: now)
        let id = try #require(first.compactMap { a -> Int? in if case .startTimer(.poll, _, let id) = a { id } else { nil } }.first)
        _ = checkout.timerFired(.poll, id: id, now: now)
        let after = checkout.checkCartCompleted(.failure(.timeout(call: .checkCart)), now: now)
        #expect(!after.contains { $0.isCall })
        #expect(after.contains { if case .startTimer(.poll, .milliseconds(Self.interval), _) = $0 { true } else { false } })
    }
}
