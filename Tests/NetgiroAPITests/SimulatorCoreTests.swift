import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

@Suite struct SimulatorCoreTests {
    typealias Core = NetgiroSimulatorCore

    @Test func gsmAcceptsAfterDelayAutomatic() {
        var core = Core()
        var w = WireFactory()
        let (reply, _) = core.receive(w.insert("8223281", .automatic), now: at(0))
        #expect(reply.status == 200)
        let insert = reply.insert
        #expect(insert.success)
        #expect(insert.processCartCheckInterval == .seconds(3))
        let id = try! #require(insert.transactionId)
        #expect(core.receive(w.check(id), now: at(1)).0.cart.resultCode == .pendingCustomerConfirmation)
        let paid = core.receive(w.check(id), now: at(3.5)).0.cart
        #expect(paid.resultCode == .paymentCompleted)
        #expect(paid.paymentSuccessful)
        #expect(paid.paymentInfo?.status == .confirmed)
        #expect(paid.paymentInfo?.referenceNumber == "R1")
        #expect(paid.paymentInfo?.created?.date != nil)
        #expect(core.ledger.first?.count(.checkCart) == 2)
        #expect(core.ledger.first?.customer == "*****81")
    }

    @Test func gsmManualReservationThenConfirm() {
        var core = Core()
        var w = WireFactory()
        let id = core.receive(w.insert("8223281", .manual), now: at(0)).0.insert.transactionId!
        #expect(core.receive(w.check(id), now: at(4)).0.cart.resultCode == .reservationAwaitingConfirmCart)
        let confirmed = core.receive(w.confirm(id), now: at(5)).0.cart
        #expect(confirmed.resultCode == .paymentCompleted)
        #expect(core.receive(w.confirm(id), now: at(6)).0.cart.resultCode == .alreadyConfirmed)
        #expect(core.ledger[0].count(.confirmCart) == 2)
    }

    @Test func gsmDeclinesAndSilentExpires() {
        var core = Core(configuration: .init(cartLifetime: .seconds(60)))
        var w = WireFactory()
        let declined = core.receive(w.insert("8223282", .automatic), now: at(0)).0.insert.transactionId!
        let silent = core.receive(w.insert("8223283", .manual, reference: "R2"), now: at(0)).0.insert.transactionId!
        let d = core.receive(w.check(declined), now: at(4)).0.cart
        #expect(d.resultCode == .customerDeclined(10302))
        #expect(!d.success)
        #expect(core.receive(w.check(silent), now: at(59)).0.cart.resultCode == .pendingCustomerConfirmation)
        #expect(core.receive(w.check(silent), now: at(61)).0.cart.resultCode == .paymentCancelled)
        #expect(core.ledger[1].detail == "cancelled (expired)")
    }

    @Test func ssnSmsCodeFlowAutomaticAndManual() {
        var core = Core(seed: 42)
        var w = WireFactory()
        let insert = core.receive(w.insert("1111111119", .automatic), now: at(0))
        #expect(insert.0.insert.resultCode == .smsCodeRequired)
        let id = insert.0.insert.transactionId!
        let code = try! #require(core.smsCode(for: id))
        #expect(insert.1.contains(.smsCodeSent(transactionId: id, code: code)))
        #expect(code.count == 4)
        #expect(core.receive(w.check(id), now: at(1)).0.cart.resultCode == .smsCodeRequired)
        #expect(core.receive(w.confirm(id), now: at(1)).0.cart.resultCode == .smsCodeRequired)  // no Identifier
        #expect(core.receive(w.confirm(id, code), now: at(2)).0.cart.resultCode == .paymentCompleted)

        let manual = core.receive(w.insert("1111111119", .manual, reference: "R2"), now: at(0)).0.insert.transactionId!
        let manualCode = core.smsCode(for: manual)!
        #expect(core.receive(w.confirm(manual, manualCode), now: at(1)).0.cart.resultCode == .reservationAwaitingConfirmCart)
        #expect(core.receive(w.check(manual), now: at(2)).0.cart.resultCode == .reservationAwaitingConfirmCart)
        #expect(core.receive(w.confirm(manual), now: at(3)).0.cart.resultCode == .paymentCompleted)
    }

    @Test func wrongSmsCodesAreBounded() {
        var core = Core(configuration: .init(smsCodeTries: 3))
        var w = WireFactory()
        let id = core.receive(w.insert("1111111119", .automatic), now: at(0)).0.insert.transactionId!
        let wrong = core.smsCode(for: id) == "0000" ? "1111" : "0000"
        let first = core.receive(w.confirm(id, wrong), now: at(1)).0.cart
        #expect(first.resultCode == .smsCodeRequired)
        #expect(first.message?.contains("2 tries left") == true)
        _ = core.receive(w.confirm(id, wrong), now: at(2))
        let last = core.receive(w.confirm(id, wrong), now: at(3)).0.cart
        #expect(last.resultCode == .paymentCancelled)
        #expect(core.receive(w.confirm(id, core.smsCode(for: id)), now: at(4)).0.cart.resultCode == .alreadyCancelled)
    }

    @Test func noCreditUnknownCustomerAndMinimum() {
        var core = Core(configuration: .init(minimumAmount: 500))
        var w = WireFactory()
        #expect(core.receive(w.insert("2222222229", .automatic), now: at(0)).0.insert.resultCode == .customerDeclined(10307))
        #expect(core.receive(w.insert("8999999", .automatic), now: at(0)).0.insert.resultCode == .customerDoesNotExist)
        #expect(core.receive(w.insert("8223281", .automatic, amount: 100), now: at(0)).0.insert.resultCode == .belowMinimumAmount)
        #expect(core.ledger.isEmpty)
        #expect(core.receive(w.check("00000000-0000-0000-0000-000000000000"), now: at(0)).0.cart.resultCode == .cartNotFound)
    }

    @Test func appCodeEveryConfirmationType() {
        var core = Core()
        var w = WireFactory()
        let auto = core.receive(w.insert("5000041234", .automatic), now: at(0)).0.insert
        #expect(auto.resultCode == .paymentCompleted)
        #expect(core.receive(w.check(auto.transactionId!), now: at(0)).0.cart.resultCode == .paymentCompleted)
        let manual = core.receive(w.insert("500004AB12", .manual, reference: "R2"), now: at(0)).0.insert
        #expect(manual.resultCode == .reservationAwaitingConfirmCart)
        #expect(core.receive(w.confirm(manual.transactionId!), now: at(0)).0.cart.resultCode == .paymentCompleted)
        let (cb, effects) = core.receive(w.insert("5000049999", .serverCallback, reference: "R3"), now: at(0))
        #expect(cb.insert.resultCode == .awaitingCallbackResponse)
        let callback = effects.compactMap { if case .sendCallback(let c) = $0 { return c } else { return nil } }.first
        #expect(callback?.url == "http://127.0.0.1:9/cb")
        #expect(
            NetgiroSignature.verify(
                signature: callback!.signature, secret: .publicSandbox, nonce: callback!.nonce, url: callback!.url,
                body: callback!.body))
    }

    @Test func serverCallbackRetriedOnceThenCancelled() {
        var core = Core()
        var w = WireFactory()
        let id = core.receive(w.insert("8223281", .serverCallback), now: at(0)).0.insert.transactionId!
        let due = core.advance(to: at(3))
        #expect(due.contains { if case .sendCallback(let c) = $0 { return c.attempt == 1 } else { return false } })
        #expect(core.receive(w.check(id), now: at(3)).0.cart.resultCode == .awaitingCallbackResponse)
        let retry = core.callbackFinished(transactionId: id, attempt: 1, delivered: false, now: at(4))
        #expect(retry.contains { if case .sendCallback(let c) = $0 { return c.attempt == 2 } else { return false } })
        _ = core.callbackFinished(transactionId: id, attempt: 2, delivered: false, now: at(5))
        #expect(core.receive(w.check(id), now: at(5)).0.cart.resultCode == .paymentCancelled)
        #expect(core.ledger[0].callbackAttempts == 2)

        let ok = core.receive(w.insert("8223281", .serverCallback, reference: "R2"), now: at(10)).0.insert.transactionId!
        _ = core.advance(to: at(13))
        _ = core.callbackFinished(transactionId: ok, attempt: 1, delivered: true, now: at(13))
        #expect(core.receive(w.check(ok), now: at(13)).0.cart.resultCode == .paymentCompleted)
    }

    @Test func cancelRaceSemantics() {
        var core = Core()
        var w = WireFactory()
        let paid = core.receive(w.insert("5000041234", .automatic), now: at(0)).0.insert.transactionId!
        let raced = core.receive(w.cancel(paid), now: at(1)).0.cart
        #expect(raced.resultCode == .paymentCompleted)
        #expect(raced.paymentSuccessful)
        let pending = core.receive(w.insert("8223283", .automatic, reference: "R2"), now: at(0)).0.insert.transactionId!
        let cancelled = core.receive(w.cancel(pending), now: at(1)).0.cart
        #expect(cancelled.resultCode == .paymentCancelled)
        #expect(cancelled.success)
        #expect(core.receive(w.cancel(pending), now: at(2)).0.cart.resultCode == .alreadyCancelled)
        #expect(core.receive(w.check(pending), now: at(2)).0.cart.resultCode == .paymentCancelled)
        #expect(core.receive(w.confirm(pending), now: at(2)).0.cart.resultCode == .alreadyCancelled)
    }

    @Test func anotherAppsCartIsNotFound() {
        let otherKey = "11111111-2222-3333-4444-555555555555"
        var core = Core(configuration: .init(apps: [NetgiroSecret.publicSandboxAppKey: .publicSandbox, otherKey: NetgiroSecret("other")]))
        var w = WireFactory()
        let id = core.receive(w.insert("8223283", .automatic), now: at(0)).0.insert.transactionId!
        let other = NetgiroRequestBuilder(configuration: try! NetgiroConfiguration(
            baseURL: "http://127.0.0.1:8089/v1/", appKey: otherKey, secret: NetgiroSecret("other")))
        let request = w.wire(try! other.cancelCart(transactionId: id, nonce: "1"))
        #expect(core.receive(request, now: at(1)).0.cart.resultCode == .cartNotFound)
        #expect(core.receive(w.check(id), now: at(1)).0.cart.resultCode == .pendingCustomerConfirmation)
    }

    @Test func controlDecisions() {
        var core = Core()
        var w = WireFactory()
        let a = core.receive(w.insert("8223283", .automatic), now: at(0)).0.insert.transactionId!
        let b = core.receive(w.insert("8223283", .automatic, reference: "R2"), now: at(0)).0.insert.transactionId!
        #expect((try? core.customerDecides(transactionId: a, accept: true, now: at(1)).get()) != nil)
        #expect((try? core.customerDecides(transactionId: b, accept: false, now: at(1)).get()) != nil)
        #expect(core.receive(w.check(a), now: at(1)).0.cart.resultCode == .paymentCompleted)
        #expect(core.receive(w.check(b), now: at(1)).0.cart.resultCode == .customerDeclined(10302))
        #expect(throws: NetgiroSimControlError.self) { try core.customerDecides(transactionId: a, accept: true, now: at(2)).get() }
        #expect(throws: NetgiroSimControlError.noSuchCart("x")) { try core.customerDecides(transactionId: "x", accept: true, now: at(2)).get() }
    }

    @Test func seededIdsAreReproducible() {
        var one = Core(seed: 7)
        var two = Core(seed: 7)
        var w1 = WireFactory()
        var w2 = WireFactory()
        let a = one.receive(w1.insert("1111111119", .automatic), now: at(0)).0.insert.transactionId
        let b = two.receive(w2.insert("1111111119", .automatic), now: at(0)).0.insert.transactionId
        #expect(a == b)
        #expect(one.smsCode(for: a!) == two.smsCode(for: b!))
    }

    @Test func faultPlanIsSeededAndScripted() {
        var plan = NetgiroFaultPlan(probabilities: .init(serverError: 0.5), seed: 3)
        var again = NetgiroFaultPlan(probabilities: .init(serverError: 0.5), seed: 3)
        let draws = (0..<50).map { _ in plan.draw(for: .checkCart) }
        #expect(draws == (0..<50).map { _ in again.draw(for: .checkCart) })
        #expect(draws.contains(.serverError) && draws.contains(nil))
        var scripted = NetgiroFaultPlan(seed: 1)
        scripted.injectNext(.dropAfterCommit, on: .insertCart)
        #expect(scripted.draw(for: .checkCart) == nil)
        #expect(scripted.draw(for: .insertCart) == .dropAfterCommit)
        #expect(scripted.draw(for: .insertCart) == nil)
    }
}
