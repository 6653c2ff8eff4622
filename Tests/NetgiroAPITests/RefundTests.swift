import Common
import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

/// Refunds on Netgíró's partner API (docs/netgiro-refund.md): the request, reading the answer,
/// the strict simulator, and the client against it.
@Suite struct RefundTests {
    @Test func requestBodyHasExactlyTheDocumentedFields() throws {
        let request = try NetgiroRefundRequest(transactionId: "T-1", amount: 1500, idempotencyKey: "ab12-cd", reason: "returned")
        #expect(String(decoding: request.body(), as: UTF8.self)
            == #"{"idempotencyKey":"ab12-cd","reason":"returned","refundAmount":1500,"transactionId":"T-1"}"#)
        let bare = try NetgiroRefundRequest(transactionId: "T-1", amount: 1, idempotencyKey: "0", reason: "")
        #expect(String(decoding: bare.body(), as: UTF8.self) == #"{"idempotencyKey":"0","refundAmount":1,"transactionId":"T-1"}"#)
    }

    @Test func requestRules() {
        #expect(throws: NetgiroRefundError.invalid(field: "refundAmount", rule: "a whole number of krónur, at least 1")) {
            try NetgiroRefundRequest(transactionId: "T", amount: 0, idempotencyKey: "a")
        }
        #expect(throws: NetgiroRefundError.self) { try NetgiroRefundRequest(transactionId: "", amount: 1, idempotencyKey: "a") }
        #expect(throws: NetgiroRefundError.self) { try NetgiroRefundRequest(transactionId: "T", amount: 1, idempotencyKey: "KEY") }
        #expect(throws: NetgiroRefundError.self) {
            try NetgiroRefundRequest(transactionId: "T", amount: 1, idempotencyKey: String(repeating: "a", count: 41))
        }
        #expect(throws: NetgiroRefundError.self) {
            try NetgiroRefundRequest(transactionId: "T", amount: 1, idempotencyKey: "a", reason: String(repeating: "x", count: 101))
        }
    }

    @Test func answers() throws {
        #expect(try NetgiroRefundOutcome.interpret(status: 200, body: []) == .refunded(message: nil))
        #expect(try NetgiroRefundOutcome.interpret(status: 200, body: Array(#"{"Message":"ok"}"#.utf8)) == .refunded(message: "ok"))
        #expect(try NetgiroRefundOutcome.interpret(status: 409, body: Array(#"{"message":"too much"}"#.utf8))
            == .refused(status: 409, message: "too much"))
        #expect(try NetgiroRefundOutcome.interpret(status: 404, body: []) == .refused(status: 404, message: "HTTP 404 with no reason given"))
        // A 5xx or a proxy's page says nothing about the refund.
        #expect(throws: NetgiroRefundError.outcomeUnknown(cause: "HTTP 500: An error has occurred.")) {
            try NetgiroRefundOutcome.interpret(status: 500, body: Array(#"{"Message":"An error has occurred."}"#.utf8))
        }
        #expect(throws: NetgiroRefundError.outcomeUnknown(cause: "HTTP 502 with a body that is not Netgíró's JSON")) {
            try NetgiroRefundOutcome.interpret(status: 502, body: Array("<html>bad gateway</html>".utf8))
        }
    }

    @Test func partnerBaseURLs() {
        #expect(netgiroPartnerBaseURL(checkoutBaseURL: "https://api.netgiro.is/v1/") == "https://api.netgiro.is/partner/")
        #expect(netgiroPartnerBaseURL(checkoutBaseURL: "https://api.test.netgiro.is/v1/") == "https://partner-api.test.netgiro.is/")
        #expect(netgiroPartnerBaseURL(checkoutBaseURL: "http://127.0.0.1:4000/v1/") == "http://127.0.0.1:4000/partner/")
        #expect(netgiroPartnerBaseURL(checkoutBaseURL: "https://example.com/other/") == nil)
    }

    // MARK: The simulator's refund desk (pure)

    static let secret = NetgiroSecret.publicSandbox
    static let token = String(decoding: NetgiroSecret.publicSandbox.utf8, as: UTF8.self)

    func send(
        _ desk: inout NetgiroSimRefunds, _ json: String, token: String? = RefundTests.token, paid: Bool = true, amount: Int = 2500
    ) -> NetgiroSimRefunds.Reply {
        var headers = [("Content-Type", "application/json; charset=utf-8")]
        if let token { headers.append(("token", token)) }
        return desk.receive(method: "POST", headers: headers, body: Array(json.utf8)) { id in
            id == "T-1" ? .init(amount: amount, paid: paid, secret: Self.secret) : nil
        }
    }

    @Test func deskRefundsPartiallyThenInFullButNeverMore() {
        var desk = NetgiroSimRefunds()
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":1000,"idempotencyKey":"k1"}"#).status == 200)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":1501,"idempotencyKey":"k2"}"#).status == 409)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":1500,"idempotencyKey":"k2","reason":"all back"}"#).status == 200)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":1,"idempotencyKey":"k3"}"#).status == 409)
        #expect(desk.refunded("T-1") == 2500)
    }

    @Test func deskSameKeyIsSameRefund() {
        var desk = NetgiroSimRefunds()
        let body = #"{"transactionId":"T-1","refundAmount":700,"idempotencyKey":"k1"}"#
        #expect(send(&desk, body).status == 200)
        #expect(send(&desk, body).status == 200)
        #expect(desk.refunded("T-1") == 700)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":800,"idempotencyKey":"k1"}"#).status == 409)
        #expect(desk.refunds.count == 1)
    }

    @Test func deskIsStrict() {
        var desk = NetgiroSimRefunds()
        let ok = #"{"transactionId":"T-1","refundAmount":100,"idempotencyKey":"k"}"#
        #expect(send(&desk, ok, token: nil).status == 401)
        #expect(send(&desk, ok, token: "wrong").status == 401)
        #expect(send(&desk, ok, paid: false).status == 409)
        #expect(send(&desk, #"{"transactionId":"T-2","refundAmount":100,"idempotencyKey":"k"}"#).status == 404)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":100.5,"idempotencyKey":"k"}"#).status == 400)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":"100","idempotencyKey":"k"}"#).status == 400)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":true,"idempotencyKey":"k"}"#).status == 400)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":0,"idempotencyKey":"k"}"#).status == 400)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":100}"#).status == 400)
        #expect(send(&desk, #"{"TransactionId":"T-1","RefundAmount":100,"IdempotencyKey":"k"}"#).status == 400)
        #expect(send(&desk, #"{"transactionId":"T-1","refundAmount":100,"idempotencyKey":"k","amount":1}"#).status == 400)
        #expect(desk.refunds.isEmpty)
    }

    // MARK: The client against the simulator

    @Test func clientRefundsAPaidCartOnTheSimulator() async throws {
        try await Loopback.run { lb in
            let inserted = try await lb.insert(CustomerKind.appCode.customerId, .automatic)
            let id = try #require(inserted.transactionId)
            #expect(inserted.resultCode == .paymentCompleted)
            let partnerURL = try #require(netgiroPartnerBaseURL(checkoutBaseURL: lb.sim.baseURL))
            #expect(partnerURL == lb.sim.partnerBaseURL)
            let seen = ObservedExchanges()
            let partner = NetgiroPartnerClient(baseURL: partnerURL, secret: .publicSandbox, logger: Loopback.quietLogger, observer: { seen.add($0) })
            let wrongSecret = NetgiroPartnerClient(baseURL: partnerURL, secret: NetgiroSecret("not-the-secret"), logger: Loopback.quietLogger)
            do {
                let first = try NetgiroRefundRequest(transactionId: id, amount: 1000, idempotencyKey: "a1")
                #expect(try await partner.refund(first) == .refunded(message: "Refund processed."))
                #expect(try await partner.refund(first) == .refunded(message: "Refund already processed."))
                let tooMuch = try NetgiroRefundRequest(transactionId: id, amount: 1501, idempotencyKey: "b2")
                guard case .refused(409, _) = try await partner.refund(tooMuch) else { throw RefundTestError.unexpected("a refund above what is left was taken") }
                #expect(lb.sim.refunds().map(\.amount) == [1000])
                let other = try NetgiroRefundRequest(transactionId: id, amount: 1, idempotencyKey: "c3")
                guard case .refused(401, _) = try await wrongSecret.refund(other) else { throw RefundTestError.unexpected("a refund with the wrong secret was taken") }
                // Each exchange reaches the metrics as a Refund with its HTTP status.
                #expect(seen.all.map(\.operation) == ["Refund", "Refund", "Refund"])
                #expect(seen.all.map(\.result) == ["http_200", "http_200", "http_409"])
                #expect(seen.all.allSatisfy { $0.duration > .zero })
            } catch {
                Issue.record("\(error)")
            }
            await partner.shutdown()
            await wrongSecret.shutdown()
        }
    }
}

enum RefundTestError: Error { case unexpected(String) }

/// What a client's exchange observer was told (called from the client's tasks).
final class ObservedExchanges: Sendable {
    private let exchanges = Locked<[NetgiroExchange]>([])
    func add(_ e: NetgiroExchange) { exchanges.withLock { $0.append(e) } }
    var all: [NetgiroExchange] { exchanges.withLock { $0 } }
}
