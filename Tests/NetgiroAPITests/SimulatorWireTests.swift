import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels
@testable import NetgiroSim

/// The simulator refuses each class of malformed request, as Netgíró would.
@Suite struct SimulatorWireTests {
    typealias Core = NetgiroSimulatorCore

    /// A correctly signed request with a hand-written body.
    func signed(_ body: String, path: String = "/v1/Checkout/InsertCart", nonce: String = "5000",
                signedPath: String? = nil) -> NetgiroSimWireRequest {
        let origin = "http://127.0.0.1:8089"
        let url = origin + path
        let bytes = Array(body.utf8)
        let signature = NetgiroSignature.compute(secret: .publicSandbox, nonce: nonce, url: origin + (signedPath ?? path), body: bytes)
        return NetgiroSimWireRequest(
            method: "POST", path: path, url: url,
            headers: [("Content-Type", "application/json"), ("netgiro_appkey", NetgiroSecret.publicSandboxAppKey),
                ("netgiro_nonce", nonce), ("netgiro_signature", signature)],
            body: bytes)
    }

    func expectRefused(_ request: NetgiroSimWireRequest, status: Int, code: Int = 400, messageContains: String,
                       sourceLocation: SourceLocation = #_sourceLocation) {
        var core = Core()
        let (reply, _) = core.receive(request, now: at(0))
        #expect(reply.status == status, sourceLocation: sourceLocation)
        #expect(reply.violation != nil, sourceLocation: sourceLocation)
        let envelope = reply.envelope
        #expect(!envelope.success, sourceLocation: sourceLocation)
        #expect(envelope.resultCode.code == code, sourceLocation: sourceLocation)
        #expect(envelope.message?.contains(messageContains) == true, "\(envelope.message ?? "nil")", sourceLocation: sourceLocation)
        #expect(core.ledger.isEmpty, sourceLocation: sourceLocation)
    }

    let good = #"{"Amount":1000,"ConfirmationType":0,"CustomerId":"8223281","Reference":"R1"}"#

    @Test func acceptsAWellFormedRequest() {
        var core = Core()
        let (reply, _) = core.receive(signed(good), now: at(0))
        #expect(reply.status == 200)
        #expect(reply.violation == nil)
        #expect(core.ledger.count == 1)
    }

    @Test func badSignature() {
        var r = signed(good)
        r.headers[3].value = String(repeating: "0", count: 64)
        expectRefused(r, status: 401, messageContains: "invalid signature")
    }

    @Test func bodyChangedAfterSigning() {
        var r = signed(good)
        r.body = Array(good.replacingOccurrences(of: "1000", with: "1001").utf8)
        expectRefused(r, status: 401, messageContains: "invalid signature")
    }

    @Test(arguments: ["netgiro_appkey", "netgiro_nonce", "netgiro_signature"])
    func missingHeader(_ name: String) {
        var r = signed(good)
        r.headers.removeAll { $0.name == name }
        expectRefused(r, status: 401, messageContains: name)
    }

    @Test func unknownAppKey() {
        var r = signed(good)
        r.headers[1].value = "00000000-0000-0000-0000-000000000000"
        expectRefused(r, status: 401, messageContains: "unknown application")
    }

    @Test func wrongPathCase() {
        // Signed for the path it is sent to: only the case is wrong.
        expectRefused(signed(good, path: "/v1/checkout/insertcart"), status: 404, messageContains: "No HTTP resource")
        expectRefused(signed(good, path: "/v1/Checkout/Insertcart"), status: 404, messageContains: "No HTTP resource")
    }

    @Test func amountAsFloat() {
        expectRefused(signed(good.replacingOccurrences(of: "1000", with: "1000.0")), status: 400,
            messageContains: "Amount must be a whole number")
    }

    @Test func amountAsString() {
        expectRefused(signed(good.replacingOccurrences(of: "1000", with: "\"1000\"")), status: 400,
            messageContains: "Amount must be a whole number")
    }

    @Test func confirmationTypeAsStringOrBool() {
        expectRefused(signed(good.replacingOccurrences(of: "\"ConfirmationType\":0", with: "\"ConfirmationType\":\"0\"")),
            status: 400, messageContains: "ConfirmationType must be a whole number")
        expectRefused(signed(good.replacingOccurrences(of: "\"ConfirmationType\":0", with: "\"ConfirmationType\":false")),
            status: 400, messageContains: "ConfirmationType must be a whole number")
    }

    @Test(arguments: ["Amount", "Reference", "CustomerId", "ConfirmationType"])
    func missingField(_ field: String) throws {
        var o = try JSONSerialization.jsonObject(with: Data(good.utf8)) as! [String: Any]
        o.removeValue(forKey: field)
        let body = String(decoding: try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)
        expectRefused(signed(body), status: 400, messageContains: "\(field) is required")
    }

    @Test func missingTransactionId() {
        expectRefused(signed("{}", path: "/v1/Checkout/CheckCart"), status: 400, messageContains: "TransactionId is required")
    }

    @Test func serverCallbackWithoutCallbackUrl() {
        expectRefused(signed(good.replacingOccurrences(of: "\"ConfirmationType\":0", with: "\"ConfirmationType\":1")),
            status: 400, messageContains: "CallbackUrl is required")
    }

    @Test func invalidConfirmationType() {
        expectRefused(signed(good.replacingOccurrences(of: "\"ConfirmationType\":0", with: "\"ConfirmationType\":3")),
            status: 200, code: 10427, messageContains: "Invalid confirmation type")
    }

    @Test func cartLineTypes() {
        let body = #"{"Amount":1000,"CartItemRequests":[{"Amount":1000,"Name":"Kaffi","ProductNo":"K1","Quantity":1.5,"UnitPrice":1000}],"ConfirmationType":0,"CustomerId":"8223281","Reference":"R1"}"#
        expectRefused(signed(body), status: 400, messageContains: "CartItemRequests[0].Quantity must be a whole number")
    }

    @Test func notJSONAndWrongContentType() {
        expectRefused(signed("Amount=1000"), status: 400, messageContains: "not a JSON object")
        var r = signed(good)
        r.headers[0].value = "application/x-www-form-urlencoded"
        expectRefused(r, status: 415, messageContains: "media type")
    }

    @Test func reusedAndDecreasingNonce() {
        var core = Core()
        #expect(core.receive(signed(good, nonce: "5000"), now: at(0)).0.status == 200)
        let reused = core.receive(signed(good, nonce: "5000"), now: at(0)).0
        #expect(reused.status == 401)
        #expect(reused.envelope.message?.contains("nonce") == true)
        let lower = core.receive(signed(good, nonce: "4999"), now: at(0)).0
        #expect(lower.status == 401)
        #expect(core.receive(signed(good, nonce: "5001"), now: at(0)).0.status == 200)
        #expect(core.ledger.count == 2)
    }
}
