import Common
import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels
import NetgiroSim

/// Runs `body`, which should fail with a client error, and returns that error.
func clientError(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> NetgiroClientError? {
    do {
        try await body()
        Issue.record("expected a NetgiroClientError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as NetgiroClientError {
        return error
    } catch {
        Issue.record("expected a NetgiroClientError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Every fault class surfaces as the right typed error.
@Suite struct FaultTests {
    @Test func serverErrorOnCheckCart() async throws {
        try await Loopback.run(retry: .none) { lb in
            let id = try #require(try await lb.insert("8223283", .automatic).transactionId)
            lb.sim.injectNext(.serverError, on: .checkCart)
            let error = await clientError { _ = try await lb.client.checkCart(transactionId: id) }
            guard case .serverError(.checkCart, 500, let envelope)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(envelope?.resultCode == .serverError)
            #expect(error?.requestMayHaveTakenEffect == false)
        }
    }

    @Test func serverErrorOnCheckCartIsRetried() async throws {
        try await Loopback.run(retry: .init(maxAttempts: 3, backoff: .zero), signatures: .off) { lb in
            let id = try #require(try await lb.insert("8223283", .automatic).transactionId)
            lb.sim.injectNext(.serverError, on: .checkCart)
            lb.sim.injectNext(.garbage, on: .checkCart)
            #expect(try await lb.client.checkCart(transactionId: id).resultCode == .pendingCustomerConfirmation)
            // The 500 never reached the cart; the garbage answer and the good one did.
            #expect(lb.sim.cart(id)?.count(.checkCart) == 2)
        }
    }

    /// Several payments call at once: a request whose nonce reaches Netgíró after a higher one
    /// is refused (401) before it is processed. It is sent again with a fresh nonce — even
    /// InsertCart — and exactly one cart results.
    @Test func requestRefusedForItsNonceIsSentAgainWithAFreshOne() async throws {
        try await Loopback.run { lb in
            let configuration = try NetgiroConfiguration(
                baseURL: lb.sim.baseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox,
                responseSignatures: .verify)
            let first = NetgiroClient(configuration: configuration, nonces: NonceGenerator(clock: { 1000 }), logger: Loopback.quietLogger)
            let late = NetgiroClient(configuration: configuration, nonces: NonceGenerator(clock: { 999 }), logger: Loopback.quietLogger)
            func cart(_ reference: String) -> InsertCartRequest {
                InsertCartRequest(
                    amount: 2500, reference: reference, customerId: "8223283", confirmationType: .manual,
                    items: [CartItem(productNo: "1", name: "Kaffi", unitPrice: 1250, count: 2)])
            }
            do {
                _ = try await first.insertCart(cart("NONCE-1"))  // nonce 1000 reaches Netgíró first
                // 999 (not increasing) and 1000 (used) are refused; 1001 goes through.
                let response = try await late.insertCart(cart("NONCE-2"))
                #expect(response.transactionId != nil)
            } catch {
                try? await first.shutdown()
                try? await late.shutdown()
                throw error
            }
            try await first.shutdown()
            try await late.shutdown()
            let carts = lb.sim.ledger().filter { $0.reference == "NONCE-2" }
            #expect(carts.count == 1)
            #expect(carts.first?.count(.insertCart) == 1)
        }
    }

    /// A request overtaken on the way (refused: its nonce arrived after a higher one) is sent
    /// again solo: the payments running beside it take no nonce until it has its answer, so it
    /// cannot be overtaken again however busy they are. Here every attempt of one CheckCart is
    /// slow to arrive (300 ms) while other payments keep inserting carts every 10 ms: re-sent
    /// with just a fresh nonce it was overtaken on each of its six attempts and failed.
    @Test func aRefusedRequestIsSentAgainSoloAndIsNotOvertakenTwice() async throws {
        try await Loopback.run(faults: NetgiroFaultProbabilities(slowDelayMilliseconds: 300)) { lb in
            let id = try #require(try await lb.insert("8223283", .manual, reference: "SOLO-0").transactionId)
            for _ in 0...NetgiroClient.authorizationRetries { lb.sim.injectNext(.slow, on: .checkCart) }
            let done = Locked(false)
            async let checked = { () async throws -> CartResponse in
                defer { done.withLock { $0 = true } }
                return try await lb.client.checkCart(transactionId: id)
            }()
            var busy = 0
            while !done.withLock({ $0 }), busy < 200 {
                busy += 1
                _ = try await lb.insert("8223283", .manual, reference: "SOLO-\(busy)")
                try await Task.sleep(for: .milliseconds(10))
            }
            let answer = try await checked
            #expect(answer.resultCode == .pendingCustomerConfirmation)
            #expect(busy > 1)  // other payments were busy throughout
        }
    }

    @Test func droppedConnectionOnInsertCartIsOutcomeUnknown() async throws {
        try await Loopback.run { lb in
            lb.sim.injectNext(.dropAfterCommit, on: .insertCart)
            let error = await clientError { _ = try await lb.insert("5000041234", .automatic) }
            guard case .outcomeUnknown(.insertCart, .connectionLost)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(error?.requestMayHaveTakenEffect == true)
            #expect("\(error!)".contains("do not insert again"))
            // Never retried, yet the cart exists (and is paid: AppCode + Automatic).
            let ledger = lb.sim.ledger()
            #expect(ledger.count == 1)
            #expect(ledger.first?.count(.insertCart) == 1)
            #expect(ledger.first?.state == "paid")
        }
    }

    @Test func droppedConnectionOnConfirmCartIsOutcomeUnknown() async throws {
        try await Loopback.run { lb in
            let id = try #require(try await lb.insert("5000041234", .manual).transactionId)
            lb.sim.injectNext(.dropAfterCommit, on: .confirmCart)
            let error = await clientError { _ = try await lb.client.confirmCart(transactionId: id) }
            guard case .outcomeUnknown(.confirmCart, .connectionLost)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(lb.sim.cart(id)?.count(.confirmCart) == 1)
            #expect(try await lb.client.checkCart(transactionId: id).resultCode == .paymentCompleted)
        }
    }

    @Test func droppedConnectionOnCheckCartIsRetried() async throws {
        try await Loopback.run { lb in
            let id = try #require(try await lb.insert("8223283", .automatic).transactionId)
            lb.sim.injectNext(.dropAfterCommit, on: .checkCart)
            #expect(try await lb.client.checkCart(transactionId: id).resultCode == .pendingCustomerConfirmation)
            #expect(lb.sim.cart(id)?.count(.checkCart) == 2)
        }
    }

    @Test func garbageIsADecodingError() async throws {
        // 'warn': the unsigned garbage is let through to the decoder, which refuses it.
        try await Loopback.run(retry: .none, signatures: .warn) { lb in
            let id = try #require(try await lb.insert("8223283", .automatic).transactionId)
            lb.sim.injectNext(.garbage, on: .checkCart)
            let error = await clientError { _ = try await lb.client.checkCart(transactionId: id) }
            guard case .decoding(.checkCart, 200, _)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
        }
    }

    /// An HTML error page in front of Netgíró is named for what it is, not as a missing signature.
    @Test func htmlErrorPageIsNamedForWhatItIs() {
        let page = Array("<!DOCTYPE html><html><head><title>500 Internal\nServer Error</title></head><body>oops</body></html>".utf8)
        let error = NetgiroClient.foreignAnswer(call: .checkCart, status: 500, body: page, contentType: "text/html; charset=utf-8")
        guard case .notNetgiroAnswer(.checkCart, 500, let answer)? = error else {
            Issue.record("got \(String(describing: error))")
            return
        }
        #expect(answer == "an HTML page of \(page.count) bytes titled \"500 Internal Server Error\"")
        let text = error?.description ?? ""
        #expect(text.contains("HTTP 500") && text.contains("not a Netgíró answer") && !text.contains("signature"))
        #expect(!text.contains("\n"), "nothing the far side sends makes a second log line")
        #expect(NetgiroClient.foreignAnswer(call: .checkCart, status: 503, body: [], contentType: nil)?.description.contains("an empty body") == true)
        // A gateway's 502 to InsertCart may have passed the request on: outcome unknown, as before.
        #expect(NetgiroClient.foreignAnswer(call: .insertCart, status: 502, body: page, contentType: "text/html") == .outcomeUnknown(call: .insertCart, cause: .gatewayStatus(502)))
        #expect(NetgiroClient.foreignAnswer(call: .checkCart, status: 200, body: page, contentType: "text/html") == nil)
    }

    @Test func unsignedAnswerFailsInVerifyMode() async throws {
        try await Loopback.run(retry: .none, signatures: .verify) { lb in
            lb.sim.injectNext(.garbage, on: .insertCart)
            let error = await clientError { _ = try await lb.insert("8223283", .automatic) }
            #expect(error == .responseSignatureInvalid(call: .insertCart, reason: "missing"))
            #expect(error?.requestMayHaveTakenEffect == true)
        }
    }

    @Test func slowAnswerIsATimeout() async throws {
        try await Loopback.run(faults: .init(slowDelayMilliseconds: 30_000), retry: .none) { lb in
            let id = try #require(try await lb.insert("8223283", .automatic).transactionId)
            // A client with a short limit, used only for calls the simulator holds for 30 s.
            var configuration = lb.client.configuration
            configuration.timeouts = .uniform(.milliseconds(300), connect: .seconds(5))
            let impatient = NetgiroClient(configuration: configuration, nonces: lb.client.nonces, logger: Loopback.quietLogger)
            lb.sim.injectNext(.slow, on: .checkCart)
            let check = await clientError { _ = try await impatient.checkCart(transactionId: id) }
            #expect(check == .timeout(call: .checkCart))
            lb.sim.injectNext(.slow, on: .insertCart)
            let insert = await clientError {
                _ = try await impatient.insertCart(
                    InsertCartRequest(amount: 100, reference: "R2", customerId: "8223283", confirmationType: .manual))
            }
            #expect(insert == .outcomeUnknown(call: .insertCart, cause: .timeout))
            try await impatient.shutdown()
        }
    }

    @Test func nothingListeningIsNotSent() async throws {
        // Port 1 on loopback: nothing listens there, the connection is refused.
        try await Loopback.run(timeouts: .uniform(.seconds(5), connect: .milliseconds(300)), baseURL: "http://127.0.0.1:1/v1/") { lb in
            let error = await clientError { _ = try await lb.insert("8223281", .automatic) }
            guard case .notSent(.insertCart, _)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(error?.requestMayHaveTakenEffect == false)
        }
    }

    @Test func invalidInsertCartIsNotSent() async throws {
        try await Loopback.run { lb in
            let error = await clientError {
                _ = try await lb.client.insertCart(
                    InsertCartRequest(amount: 1000, reference: "R", customerId: "8223281", confirmationType: .serverCallback))
            }
            guard case .invalidRequest(.insertCart, let reason)? = error else {
                Issue.record("got \(String(describing: error))")
                return
            }
            #expect(reason.contains("CallbackUrl"))
            #expect(error?.requestMayHaveTakenEffect == false)
            #expect(lb.sim.ledger().isEmpty)
        }
    }

    @Test func seededProbabilitiesAreReproducible() async throws {
        @Sendable func outcomes() async throws -> [String] {
            let results = Locked<[String]>([])
            try await Loopback.run(retry: .none, signatures: .off) { lb in
                let id = try #require(try await lb.insert("5000041234", .automatic, reference: "R").transactionId)
                lb.sim.setFaults(.init(serverError: 0.3, garbage: 0.3))
                for _ in 0..<12 {
                    do {
                        let code = try await lb.client.checkCart(transactionId: id).resultCode.code
                        results.withLock { $0.append("\(code)") }
                    } catch NetgiroClientError.serverError {
                        results.withLock { $0.append("500") }
                    } catch NetgiroClientError.decoding {
                        results.withLock { $0.append("garbage") }
                    } catch {
                        results.withLock { $0.append("\(error)") }
                    }
                }
            }
            return results.withLock { $0 }
        }
        let first = try await outcomes()
        let second = try await outcomes()
        #expect(first == second)
        #expect(Set(first).count > 1)
    }
}
