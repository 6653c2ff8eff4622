import Admission
import Checkout
import Foundation
import NetgiroAPI
import TillAPIContract
import Testing

/// The admission core on its own: events in, decisions out, time passed in.
@Suite struct AdmissionTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let onePad = Admission.Terminals(known: ["PAD-1"], online: ["PAD-1"])
    static let padAway = Admission.Terminals(known: ["PAD-1"], online: [])
    static let settings = Admission.Settings(terminalGrace: .seconds(2), retryAfterSeconds: 3)

    static func basket(_ items: [TillPaymentItem], reference: String = "R-1", terminal: String? = nil) -> TillPaymentRequest {
        TillPaymentRequest(
            amount: items.reduce(0) { $0 + $1.unitPrice * $1.quantity }, reference: reference, items: items, terminal: terminal)
    }

    static let coffeeAndBun = basket([
        TillPaymentItem(productNo: "11", name: "Kaffi", unitPrice: 500, quantity: 2),
        TillPaymentItem(productNo: "12", name: "Kleina", unitPrice: 300, quantity: 1),
    ])

    static func attempt(_ request: TillPaymentRequest, key: String? = nil, id: String = "p-2", at: Date = t0) -> Admission.Attempt {
        Admission.Attempt(request: request, idempotencyKey: key, paymentID: id, arrivedAt: at)
    }

    /// A journaled payment for `request` on PAD-1, in `phase`.
    static func record(_ request: TillPaymentRequest, id: String = "p-1", phase: PaymentPhase = .paid) -> PaymentRecord {
        var record = PaymentRecord(
            id: id,
            request: PaymentRequest(
                amount: request.amount, reference: request.reference, description: request.description,
                lines: Admission.lines(request.items), terminalID: "PAD-1"),
            createdAt: t0, deadline: t0.addingTimeInterval(120))
        record.phase = phase
        return record
    }

    // MARK: Idempotency by the whole request

    @Test func sameKeyAndSameRequestReplaysTheEarlierPayment() {
        var admission = Admission(settings: Self.settings)
        let earlier = Self.record(Self.coffeeAndBun, phase: .awaitingCustomer)
        let decision = admission.admit(
            Self.attempt(Self.coffeeAndBun, key: "k"), terminals: Self.onePad, history: .init(keyed: earlier), now: Self.t0)
        #expect(decision == .replay(earlier))
        #expect(admission.busy.isEmpty, "a replay reserves nothing")
    }

    /// Same total, same number of lines, different basket: not the same request.
    @Test(arguments: [
        // Other goods for the same money.
        [TillPaymentItem(productNo: "11", name: "Kaffi", unitPrice: 400, quantity: 2), TillPaymentItem(productNo: "13", name: "Snúður", unitPrice: 500, quantity: 1)],
        // One field of one line differs: the name …
        [TillPaymentItem(productNo: "11", name: "Te", unitPrice: 500, quantity: 2), TillPaymentItem(productNo: "12", name: "Kleina", unitPrice: 300, quantity: 1)],
        // … the product number …
        [TillPaymentItem(productNo: "99", name: "Kaffi", unitPrice: 500, quantity: 2), TillPaymentItem(productNo: "12", name: "Kleina", unitPrice: 300, quantity: 1)],
        // … unit price and quantity (same line total).
        [TillPaymentItem(productNo: "11", name: "Kaffi", unitPrice: 250, quantity: 4), TillPaymentItem(productNo: "12", name: "Kleina", unitPrice: 300, quantity: 1)],
        // The same lines in another order.
        [TillPaymentItem(productNo: "12", name: "Kleina", unitPrice: 300, quantity: 1), TillPaymentItem(productNo: "11", name: "Kaffi", unitPrice: 500, quantity: 2)],
    ])
    func anotherBasketUnderTheSameKeyIsRefused(_ items: [TillPaymentItem]) {
        var admission = Admission(settings: Self.settings)
        let other = Self.basket(items)
        #expect(other.amount == Self.coffeeAndBun.amount && other.items?.count == Self.coffeeAndBun.items?.count)
        let earlier = Self.record(Self.coffeeAndBun, phase: .paid)
        let decision = admission.admit(Self.attempt(other, key: "k"), terminals: Self.onePad, history: .init(keyed: earlier), now: Self.t0)
        #expect(decision == .refuse(.idempotencyKeyReused))
    }

    @Test func anotherDescriptionConfirmationOrTerminalUnderTheSameKeyIsRefused() {
        let earlier = Self.record(Self.coffeeAndBun)
        var described = Self.coffeeAndBun
        described.description = "Afmæli"
        var automatic = Self.coffeeAndBun
        automatic.confirmation = .automatic
        var elsewhere = Self.coffeeAndBun
        elsewhere.terminal = "PAD-2"
        var named = Self.coffeeAndBun
        named.terminal = "PAD-1"
        var admission = Admission(settings: Self.settings)
        let terminals = Admission.Terminals(known: ["PAD-1", "PAD-2"], online: ["PAD-1", "PAD-2"])
        for other in [described, automatic, elsewhere] {
            #expect(admission.admit(Self.attempt(other, key: "k"), terminals: terminals, history: .init(keyed: earlier), now: Self.t0) == .refuse(.idempotencyKeyReused))
        }
        // Naming the terminal chosen the first time is the same request.
        #expect(admission.admit(Self.attempt(named, key: "k"), terminals: terminals, history: .init(keyed: earlier), now: Self.t0) == .replay(earlier))
    }

    /// A till's retry that overtakes its first request (not yet in the journal) waits for it
    /// and then gets its payment — not "terminal busy".
    @Test func aRetryOvertakingItsFirstRequestWaitsForItsPayment() {
        var admission = Admission(settings: Self.settings)
        guard case .start = admission.admit(Self.attempt(Self.coffeeAndBun, key: "k", id: "p-1"), terminals: Self.onePad, history: .init(), now: Self.t0) else {
            Issue.record("not admitted")
            return
        }
        let retry = Self.attempt(Self.coffeeAndBun, key: "k", id: "p-2")
        #expect(admission.admit(retry, terminals: Self.onePad, history: .init(), now: Self.t0) == .waitForSameKey(paymentID: "p-1"))
        admission.started("p-1")
        let journaled = Self.record(Self.coffeeAndBun, id: "p-1", phase: .created)
        #expect(admission.admit(retry, terminals: Self.onePad, history: .init(keyed: journaled), now: Self.t0) == .replay(journaled))
        #expect(admission.starting.isEmpty && admission.busy == ["PAD-1": "p-1"])
    }

    // MARK: Terminal choice and busy table

    /// PROTOCOL.md §5.2, D4: a pad without CUSTOMER_ID cannot take payments; one without
    /// SMS_CODE can (a payment needing the code then fails prompt-unsupported).
    @Test(arguments: [
        (["sms-code", "confirm-amount"], "customer-id" as String?), ([], "customer-id"), (["customer-id"], nil),
        (["customer-id", "sms-code", "confirm-amount"], nil),
    ])
    func aPadWithoutTheCustomerIDPromptCannotTakePayments(announced: [String], missing: String?) {
        var admission = Admission(settings: Self.settings)
        let pads = Admission.Terminals(known: ["PAD-1"], online: ["PAD-1"], prompts: ["PAD-1": announced])
        let decision = admission.admit(Self.attempt(Self.coffeeAndBun), terminals: pads, history: .init(), now: Self.t0)
        if let missing {
            #expect(decision == .refuse(.terminalCannotPay(terminal: "PAD-1", missingPrompt: missing)))
            #expect(admission.busy.isEmpty)
        } else {
            guard case .start = decision else { Issue.record("not admitted: \(decision)"); return }
        }
    }

    @Test func theOnlyPadAwayGetsTheSameRetryableAnswerNamedOrNot() {
        var admission = Admission(settings: Self.settings)
        var named = Self.coffeeAndBun
        named.terminal = "PAD-1"
        for request in [Self.coffeeAndBun, named] {
            // Within the grace: wait for the pad.
            let waiting = admission.admit(Self.attempt(request), terminals: Self.padAway, history: .init(), now: Self.t0.addingTimeInterval(1))
            #expect(waiting == .waitForTerminal("PAD-1", until: Self.t0.addingTimeInterval(2)))
            // The grace over: refused, retryable, for both alike.
            let refused = admission.admit(Self.attempt(request), terminals: Self.padAway, history: .init(), now: Self.t0.addingTimeInterval(2))
            #expect(refused == .refuse(.terminalOffline("PAD-1", retryAfter: 3)))
            // The pad back within the grace: admitted.
            var fresh = Admission(settings: Self.settings)
            guard case .start(let started) = fresh.admit(Self.attempt(request), terminals: Self.onePad, history: .init(), now: Self.t0.addingTimeInterval(1)) else {
                Issue.record("not admitted with the pad back")
                continue
            }
            #expect(started.terminalID == "PAD-1")
        }
        #expect(admission.busy.isEmpty, "a refusal reserves nothing")
    }

    @Test func noPadKnownIsRetryableAndSeveralLinkedNeedANameAndAnUnknownNameIsFinal() {
        var admission = Admission(settings: Self.settings)
        let late = Self.t0.addingTimeInterval(5)
        let none = Admission.Terminals(known: [], online: [])
        #expect(admission.admit(Self.attempt(Self.coffeeAndBun), terminals: none, history: .init(), now: late) == .refuse(.noTerminalOnline(retryAfter: 3)))
        let twoAway = Admission.Terminals(known: ["PAD-1", "PAD-2"], online: [])
        #expect(admission.admit(Self.attempt(Self.coffeeAndBun), terminals: twoAway, history: .init(), now: late) == .refuse(.noTerminalOnline(retryAfter: 3)))
        let two = Admission.Terminals(known: ["PAD-1", "PAD-2"], online: ["PAD-2", "PAD-1"])
        #expect(
            admission.admit(Self.attempt(Self.coffeeAndBun), terminals: two, history: .init(), now: Self.t0)
                == .refuse(.terminalRequired(available: ["PAD-1", "PAD-2"])))
        var stranger = Self.coffeeAndBun
        stranger.terminal = "PAD-9"
        #expect(admission.admit(Self.attempt(stranger), terminals: two, history: .init(), now: Self.t0) == .refuse(.noSuchTerminal("PAD-9")))
    }

    @Test func aTerminalIsReservedFromAdmissionUntilThePaymentEndsOrFailsToStart() {
        var admission = Admission(settings: Self.settings)
        guard case .start = admission.admit(Self.attempt(Self.coffeeAndBun, id: "p-1"), terminals: Self.onePad, history: .init(), now: Self.t0) else {
            Issue.record("not admitted")
            return
        }
        #expect(admission.busy == ["PAD-1": "p-1"])
        let second = Self.basket([TillPaymentItem(name: "Te", unitPrice: 400, quantity: 1)], reference: "R-2")
        #expect(
            admission.admit(Self.attempt(second, id: "p-2"), terminals: Self.onePad, history: .init(), now: Self.t0)
                == .refuse(.terminalBusy(terminal: "PAD-1", payment: "p-1")))
        admission.startFailed("p-1")
        #expect(admission.busy.isEmpty)
        guard case .start = admission.admit(Self.attempt(second, id: "p-2"), terminals: Self.onePad, history: .init(), now: Self.t0) else {
            Issue.record("not admitted once the terminal was free")
            return
        }
        admission.ended("p-2")
        #expect(admission.busy.isEmpty)
        admission.recovered(Self.record(second, id: "p-3", phase: .awaitingCustomer))
        #expect(admission.busy == ["PAD-1": "p-3"])
        admission.stopTakingPayments()
        #expect(admission.admit(Self.attempt(Self.coffeeAndBun, id: "p-4"), terminals: Self.onePad, history: .init(), now: Self.t0) == .refuse(.shuttingDown))
    }

    // MARK: Reference reuse

    @Test(arguments: [PaymentPhase.paid, .unknown, .awaitingCustomer, .inserting])
    func aReferencePaidMaybePaidOrInFlightIsRefusedNamingThePayment(_ phase: PaymentPhase) {
        var admission = Admission(settings: Self.settings)
        let holder = Self.record(Self.coffeeAndBun, id: "p-1", phase: phase)
        let declined = Self.record(Self.coffeeAndBun, id: "p-0", phase: .declined)
        let decision = admission.admit(
            Self.attempt(Self.coffeeAndBun, key: "new-key"), terminals: Self.onePad, history: .init(sameReference: [declined, holder]), now: Self.t0)
        #expect(decision == .refuse(.referenceInUse(Admission.view(holder))))
        #expect(admission.busy.isEmpty)

        // Said to be a repeat: paid or unknown may be taken again; in flight never.
        var again = Self.coffeeAndBun
        again.repeat = true
        let repeated = admission.admit(Self.attempt(again), terminals: Self.onePad, history: .init(sameReference: [declined, holder]), now: Self.t0)
        if phase.isFinal {
            guard case .start = repeated else { Issue.record("a deliberate repeat of a \(phase) reference was refused: \(repeated)"); return }
        } else {
            #expect(repeated == .refuse(.referenceInUse(Admission.view(holder))))
        }
    }

    @Test(arguments: [PaymentPhase.declined, .cancelled, .failed])
    func aReferenceThatWasNotPaidMayBeTriedAgain(_ phase: PaymentPhase) {
        var admission = Admission(settings: Self.settings)
        let earlier = Self.record(Self.coffeeAndBun, phase: phase)
        guard case .start = admission.admit(Self.attempt(Self.coffeeAndBun), terminals: Self.onePad, history: .init(sameReference: [earlier]), now: Self.t0)
        else {
            Issue.record("a new try after \(phase) was refused")
            return
        }
    }

    // MARK: Deciding before the journal is read

    @Test func unreadHistoryDecidesOnlyAStartAndAsksForTheHistoryOtherwise() {
        var admission = Admission(settings: Self.settings)
        // A free pad: started without a read; the journal then checks the history as it writes.
        guard case .start = admission.admit(Self.attempt(Self.coffeeAndBun, key: "k", id: "p-1"), terminals: Self.onePad, history: nil, now: Self.t0)
        else {
            Issue.record("a request for a free pad was not started without the history")
            return
        }
        // The pad busy: the answer may be a replay or a reference refusal, which only the
        // history can tell — so the core asks for it instead of answering terminal-busy.
        var other = Self.coffeeAndBun
        other.reference = "R-2"
        #expect(admission.admit(Self.attempt(other, id: "p-2"), terminals: Self.onePad, history: nil, now: Self.t0) == .readHistory)
        #expect(admission.admit(Self.attempt(other, id: "p-2"), terminals: Self.onePad, history: .init(), now: Self.t0)
            == .refuse(.terminalBusy(terminal: "PAD-1", payment: "p-1")))
        // The pad away within the grace, or a bad amount: with the history as well.
        var fresh = Admission(settings: Self.settings)
        #expect(fresh.admit(Self.attempt(other), terminals: Self.padAway, history: nil, now: Self.t0) == .readHistory)
        var tooSmall = other
        tooSmall.amount = 50
        tooSmall.items = nil
        #expect(fresh.admit(Self.attempt(tooSmall), terminals: Self.onePad, history: nil, now: Self.t0) == .readHistory)
        #expect(fresh.busy.isEmpty)
        // Shutting down needs no history.
        fresh.stopTakingPayments()
        #expect(fresh.admit(Self.attempt(other), terminals: Self.onePad, history: nil, now: Self.t0) == .refuse(.shuttingDown))
    }

    @Test func theJournalsCheckIsTheCoresRuleOnKeyAndReference() {
        let keyed = Admission.History(keyed: Self.record(Self.coffeeAndBun, phase: .declined))
        #expect(!Admission.historyPermitsStart(Self.attempt(Self.coffeeAndBun, key: "k"), keyed))
        #expect(Admission.historyPermitsStart(Self.attempt(Self.coffeeAndBun), .init()))
        var again = Self.coffeeAndBun
        again.repeat = true
        for phase in [PaymentPhase.paid, .unknown, .awaitingCustomer, .declined] {
            let history = Admission.History(sameReference: [Self.record(Self.coffeeAndBun, phase: phase)])
            // Exactly when admit, given the same history, would not start the payment.
            for request in [Self.coffeeAndBun, again] {
                var admission = Admission(settings: Self.settings)
                let decision = admission.admit(Self.attempt(request), terminals: Self.onePad, history: history, now: Self.t0)
                let started: Bool
                if case .start = decision { started = true } else { started = false }
                #expect(Admission.historyPermitsStart(Self.attempt(request), history) == started, "\(phase), repeat \(request.repeat ?? false)")
            }
        }
    }

    // MARK: Cancel requested

    @Test func cancelIsAskedOfTheCheckoutAndTheStateComesFromItsRecord() {
        let admission = Admission(settings: Self.settings)
        var running = Self.record(Self.coffeeAndBun, phase: .inserting)
        #expect(admission.cancel("p-1", record: nil) == .refuse(.noSuchPayment("p-1")))
        #expect(admission.cancel("p-1", record: running) == .ask)
        #expect(!Admission.cancelTaken(running) && Admission.state(running) == .processing)
        // Asked of the checkout, not yet taken (it is busy): the answer still says cancel-requested.
        #expect(Admission.cancelAnswer(running).state == .cancelRequested)
        // The checkout took the till's cancel while InsertCart is in flight.
        running.cancelReason = .till
        #expect(Admission.cancelTaken(running) && Admission.state(running) == .cancelRequested)
        // A final payment is answered as it ended (the customer may have won the race).
        let won = Self.record(Self.coffeeAndBun, phase: .paid)
        #expect(Admission.cancelAnswer(won).state == .paid)

        let cancelled = Self.record(Self.coffeeAndBun, phase: .cancelled)
        #expect(admission.cancel("p-1", record: cancelled) == .answer(Admission.view(cancelled)))
        let paid = Self.record(Self.coffeeAndBun, phase: .paid)
        #expect(admission.cancel("p-1", record: paid) == .refuse(.alreadyFinal(Admission.view(paid))))
    }

    @Test func serverCallbackWithoutAListenerIsRefused() {
        var admission = Admission(settings: Self.settings)
        var request = Self.coffeeAndBun
        request.confirmation = .serverCallback
        guard case .refuse(.confirmationUnavailable(.serverCallback, _)) = admission.admit(Self.attempt(request), terminals: Self.onePad, history: .init(), now: Self.t0)
        else {
            Issue.record("ServerCallback admitted without a callback URL")
            return
        }
        #expect(admission.busy.isEmpty)
    }
}
