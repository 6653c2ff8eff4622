import Foundation
import Logging
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

/// A simulator on a loopback port with a manual clock, a client pointed at it, and (for
/// ServerCallback) a callback receiver.
struct Loopback {
    let sim: NetgiroSimulator
    let client: NetgiroClient
    let receiver: NetgiroCallbackReceiver
    let control: NetgiroSimulatorControlClient

    static var quietLogger: Logger {
        var logger = Logger(label: "netgiro.test")
        logger.logLevel = .critical
        return logger
    }

    static func run(
        faults: NetgiroFaultProbabilities = .none,
        timeouts: NetgiroTimeouts = .uniform(.seconds(10)),
        retry: NetgiroRetryPolicy = .init(maxAttempts: 3, backoff: .zero),
        signatures: ResponseSignatureMode = .verify,
        baseURL: String? = nil,
        callbackAnswer: @escaping @Sendable (Int) -> Int = { _ in 200 },
        _ body: (Loopback) async throws -> Void
    ) async throws {
        var options = NetgiroSimulator.Options()
        options.clock = NetgiroManualSimClock()
        options.faults = faults
        options.seed = 11
        options.logger = quietLogger
        options.core.checkInterval = .milliseconds(1500)
        let sim = try await NetgiroSimulator.start(options)
        let receiver = try await NetgiroCallbackReceiver.start(logger: quietLogger, answer: callbackAnswer)
        let configuration = try NetgiroConfiguration(
            baseURL: baseURL ?? sim.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
            responseSignatures: signatures, timeouts: timeouts, retry: retry)
        let client = NetgiroClient(configuration: configuration, logger: quietLogger)
        let loopback = Loopback(
            sim: sim, client: client, receiver: receiver, control: NetgiroSimulatorControlClient(origin: sim.origin))
        do {
            try await body(loopback)
        } catch {
            await loopback.stop()
            throw error
        }
        await loopback.stop()
    }

    func stop() async {
        try? await client.shutdown()
        try? await control.shutdown()
        await sim.shutdown()
        await receiver.shutdown()
    }

    func insert(_ customer: String, _ type: ConfirmationType, reference: String = "POS1-1") async throws -> InsertCartResponse {
        try await client.insertCart(
            InsertCartRequest(
                amount: 2500, reference: reference, customerId: customer, confirmationType: type,
                callbackUrl: type == .serverCallback ? receiver.callbackURL : nil,
                callbackCancelUrl: type == .serverCallback ? receiver.cancelURL : nil,
                items: [CartItem(productNo: "1", name: "Kaffi", unitPrice: 1250, count: 2)]))
    }
}

enum CustomerKind: String, CaseIterable, Sendable {
    case gsm, ssn, appCode
    var customerId: String {
        switch self {
        case .gsm: return "8223281"
        case .ssn: return "1111111119"
        case .appCode: return "5000041234"
        }
    }
}

@Suite struct LoopbackFlowTests {
    static let combinations: [(CustomerKind, ConfirmationType)] = CustomerKind.allCases.flatMap { kind in
        ConfirmationType.allCases.map { (kind, $0) }
    }

    @Test(arguments: combinations)
    func flow(kind: CustomerKind, type: ConfirmationType) async throws {
        try await Loopback.run { lb in
            let inserted = try await lb.insert(kind.customerId, type)
            let id = try #require(inserted.transactionId)
            #expect(inserted.success)
            #expect(inserted.processCartCheckInterval == .milliseconds(1500))

            // The customer's part.
            switch kind {
            case .gsm:
                #expect(inserted.resultCode == .ok)
                #expect(try await lb.client.checkCart(transactionId: id).resultCode == .pendingCustomerConfirmation)
                lb.sim.advance(by: .seconds(3))
            case .ssn:
                #expect(inserted.resultCode == .smsCodeRequired)
                let code = try #require(lb.sim.smsCode(for: id))
                let confirmed = try await lb.client.confirmCart(transactionId: id, identifier: code)
                switch type {
                case .automatic: #expect(confirmed.resultCode == .paymentCompleted)
                case .manual: #expect(confirmed.resultCode == .reservationAwaitingConfirmCart)
                case .serverCallback: #expect(confirmed.resultCode == .awaitingCallbackResponse)
                }
            case .appCode:
                switch type {
                case .automatic: #expect(inserted.resultCode == .paymentCompleted)
                case .manual: #expect(inserted.resultCode == .reservationAwaitingConfirmCart)
                case .serverCallback: #expect(inserted.resultCode == .awaitingCallbackResponse)
                }
            }

            // The provider's part.
            switch type {
            case .automatic:
                break
            case .manual:
                #expect(try await lb.client.checkCart(transactionId: id).resultCode == .reservationAwaitingConfirmCart)
                #expect(try await lb.client.confirmCart(transactionId: id).resultCode == .paymentCompleted)
            case .serverCallback:
                await lb.sim.settle()
                let callbacks = lb.receiver.callbacks
                #expect(callbacks.count == 1)
                #expect(callbacks.first?.isValid == true, "callback signature must verify")
                #expect(callbacks.first?.url == lb.receiver.callbackURL)
                if case .valid(let body)? = callbacks.first?.verification {
                    #expect(body.paymentInfo?.transactionId == id)
                }
            }

            let final = try await lb.client.checkCart(transactionId: id)
            #expect(final.resultCode == .paymentCompleted)
            #expect(final.paymentSuccessful)
            #expect(final.paymentInfo?.transactionId == id)
            #expect(final.paymentInfo?.referenceNumber == "POS1-1")
            #expect(final.paymentInfo?.totalAmount == Decimal(2500))

            let entry = try #require(lb.sim.cart(id))
            #expect(entry.state == "paid")
            #expect(entry.count(.insertCart) == 1)
        }
    }

    @Test func callbackNotAnsweredIsRetriedOnceThenCancelled() async throws {
        try await Loopback.run(callbackAnswer: { _ in 500 }) { lb in
            let id = try #require(try await lb.insert("5000041234", .serverCallback).transactionId)
            await lb.sim.settle()
            let attempts = lb.receiver.callbacks.filter { $0.url == lb.receiver.callbackURL }
            #expect(attempts.count == 2)
            #expect(attempts.allSatisfy { $0.isValid })
            #expect(lb.receiver.callbacks.contains { $0.url == lb.receiver.cancelURL && $0.isValid })
            #expect(try await lb.client.checkCart(transactionId: id).resultCode == .paymentCancelled)
        }
    }

    @Test func declineCancelRaceAndNotFound() async throws {
        try await Loopback.run { lb in
            let declined = try #require(try await lb.insert("8223282", .manual).transactionId)
            lb.sim.advance(by: .seconds(3))
            #expect(try await lb.client.checkCart(transactionId: declined).resultCode == .customerDeclined(10302))

            let paid = try #require(try await lb.insert("5000041234", .automatic, reference: "R2").transactionId)
            let race = try await lb.client.cancelCart(transactionId: paid)
            #expect(race.resultCode == .paymentCompleted)
            #expect(race.paymentSuccessful)

            let silent = try #require(try await lb.insert("8223283", .automatic, reference: "R3").transactionId)
            #expect(try await lb.client.cancelCart(transactionId: silent).resultCode == .paymentCancelled)
            #expect(try await lb.client.cancelCart(transactionId: silent).resultCode == .alreadyCancelled)

            #expect(try await lb.client.checkCart(transactionId: "6a1d2f1e-0000-4000-8000-000000000000").resultCode == .cartNotFound)
            #expect(try await lb.insert("8000000", .automatic, reference: "R4").resultCode == .customerDoesNotExist)
            #expect(try await lb.insert("2222222229", .automatic, reference: "R5").resultCode == .customerDeclined(10307))
        }
    }

    @Test func controlEndpointsOverHTTP() async throws {
        try await Loopback.run { lb in
            let control = lb.control
            let ssn = try #require(try await lb.insert("1111111119", .automatic).transactionId)
            let code = try #require(try await control.smsCode(for: ssn))
            #expect(code == lb.sim.smsCode(for: ssn))
            let gsm = try #require(try await lb.insert("8223283", .automatic, reference: "R2").transactionId)
            #expect(try await control.customerDecides(transactionId: gsm, accept: true) == 200)
            #expect(try await control.customerDecides(transactionId: gsm, accept: true) == 409)
            #expect(try await control.customerDecides(transactionId: "nope", accept: true) == 404)
            #expect(try await lb.client.checkCart(transactionId: gsm).resultCode == .paymentCompleted)
            let ledger = try await control.ledger()
            #expect(ledger.map(\.transactionId) == [ssn, gsm])
            #expect(ledger[1].count(.checkCart) == 1)
            #expect(ledger[0].customer == "*******119")

            try await control.injectNext(.serverError, on: .checkCart)
            let noRetries = NetgiroClient.withoutRetries(lb.client)
            let error = await clientError { _ = try await noRetries.checkCart(transactionId: gsm) }
            try await noRetries.shutdown()
            guard case .serverError(.checkCart, 500, _)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
        }
    }

    @Test func malformedRequestOverHTTPIsRefused() async throws {
        try await Loopback.run { lb in
            let control = lb.control
            // Signed for /v1/Checkout/InsertCart, sent to /v1/checkout/InsertCart.
            let builder = NetgiroRequestBuilder(configuration: lb.client.configuration)
            let prepared = try builder.insertCart(
                InsertCartRequest(amount: 1000, reference: "R", customerId: "8223281", confirmationType: .automatic),
                nonce: "99")
            let wrongCase = try await control.send(
                path: "/v1/checkout/InsertCart", headers: prepared.headers.map { ($0.name, $0.value) }, body: prepared.body)
            #expect(wrongCase.status == 404)
            #expect(wrongCase.text.contains(#""Success":false"#))
            let tampered = try await control.send(
                path: "/v1/Checkout/InsertCart", headers: prepared.headers.map { ($0.name, $0.value) },
                body: Array(String(decoding: prepared.body, as: UTF8.self).replacingOccurrences(of: "1000", with: "1000.0").utf8))
            #expect(tampered.status == 401)
            #expect(lb.sim.ledger().isEmpty)
        }
    }
}

extension NetgiroClient {
    /// The same client configuration without retries (a new client; shut down by the caller).
    static func withoutRetries(_ client: NetgiroClient) -> NetgiroClient {
        var configuration = client.configuration
        configuration.retry = .none
        return NetgiroClient(configuration: configuration, nonces: client.nonces, logger: Loopback.quietLogger)
    }
}
