import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels

@Suite struct RequestBuildingTests {
    let configuration = try! NetgiroConfiguration(
        baseURL: NetgiroConfiguration.testBaseURL, appKey: NetgiroSecret.publicSandboxAppKey, secret: .publicSandbox)

    @Test func insertCartExactBytesPathAndHeaders() throws {
        let builder = NetgiroRequestBuilder(configuration: configuration)
        let request = InsertCartRequest(
            amount: 1500, reference: "POS1-000123", customerId: "8223281", confirmationType: .manual,
            cartDescription: "Kaffi og kleina",
            items: [
                CartItem(productNo: "K1", name: "Kaffi", unitPrice: 500, count: 2),
                CartItem(productNo: "K2", name: "Kleina", unitPrice: 1000, amount: 500, quantity: 500),
            ])
        let prepared = try builder.insertCart(request, nonce: "1000")
        #expect(prepared.url == "https://api.test.netgiro.is/v1/Checkout/InsertCart")
        let body = String(decoding: prepared.body, as: UTF8.self)
        #expect(
            body
                == #"{"Amount":1500,"CartItemRequests":[{"Amount":1000,"Name":"Kaffi","ProductNo":"K1","Quantity":2000,"UnitPrice":500},{"Amount":500,"Name":"Kleina","ProductNo":"K2","Quantity":500,"UnitPrice":1000}],"ConfirmationType":2,"CustomerId":"8223281","Description":"Kaffi og kleina","Reference":"POS1-000123"}"#
        )
        #expect(prepared.header("netgiro_appkey") == "881E674F-7891-4C20-AFD8-56FE2624C4B5")
        #expect(prepared.header("netgiro_nonce") == "1000")
        #expect(prepared.header("Content-Type") == "application/json")
        let expected = NetgiroSignature.compute(secret: .publicSandbox, nonce: "1000", url: prepared.url, body: prepared.body)
        #expect(prepared.header("netgiro_signature") == expected)
    }

    @Test func serverCallbackCarriesUrlsUnescaped() throws {
        let builder = NetgiroRequestBuilder(configuration: configuration)
        let prepared = try builder.insertCart(
            InsertCartRequest(
                amount: 1000, reference: "991100-123", customerId: "8223281", confirmationType: .serverCallback,
                callbackUrl: "http://127.0.0.1:9/cb/ok", callbackCancelUrl: "http://127.0.0.1:9/cb/cancel"),
            nonce: "7")
        #expect(
            String(decoding: prepared.body, as: UTF8.self)
                == #"{"Amount":1000,"CallbackCancelUrl":"http://127.0.0.1:9/cb/cancel","CallbackUrl":"http://127.0.0.1:9/cb/ok","ConfirmationType":1,"CustomerId":"8223281","Reference":"991100-123"}"#
        )
    }

    @Test func cartCallsExactBytesAndPathCase() throws {
        let builder = NetgiroRequestBuilder(configuration: configuration)
        let id = "2c9a1c1e-7d40-4f29-9d4b-31d9d1a2c001"
        let check = try builder.checkCart(transactionId: id, nonce: "1")
        #expect(check.url.hasSuffix("/v1/Checkout/CheckCart"))
        #expect(String(decoding: check.body, as: UTF8.self) == #"{"TransactionId":"2c9a1c1e-7d40-4f29-9d4b-31d9d1a2c001"}"#)
        let confirm = try builder.confirmCart(transactionId: id, identifier: "1234", nonce: "2")
        #expect(confirm.url.hasSuffix("/v1/Checkout/ConfirmCart"))
        #expect(
            String(decoding: confirm.body, as: UTF8.self)
                == #"{"Identifier":"1234","TransactionId":"2c9a1c1e-7d40-4f29-9d4b-31d9d1a2c001"}"#)
        let confirmPlain = try builder.confirmCart(transactionId: id, identifier: nil, nonce: "3")
        #expect(String(decoding: confirmPlain.body, as: UTF8.self) == #"{"TransactionId":"2c9a1c1e-7d40-4f29-9d4b-31d9d1a2c001"}"#)
        let cancel = try builder.cancelCart(transactionId: id, nonce: "4")
        #expect(cancel.url.hasSuffix("/v1/Checkout/CancelCart"))
    }

    @Test func refusesWhatNetgiroWouldRefuse() {
        let builder = NetgiroRequestBuilder(configuration: configuration)
        let bad: [InsertCartRequest] = [
            InsertCartRequest(amount: 0, reference: "R", customerId: "8223281", confirmationType: .automatic),
            InsertCartRequest(amount: 10, reference: "", customerId: "8223281", confirmationType: .automatic),
            InsertCartRequest(amount: 10, reference: "R", customerId: "", confirmationType: .automatic),
            InsertCartRequest(amount: 10, reference: "R", customerId: "8223281", confirmationType: .serverCallback),
        ]
        for request in bad {
            #expect(throws: NetgiroRequestError.self) { try builder.insertCart(request, nonce: "1") }
        }
    }

    @Test func baseURLNormalisation() throws {
        let c = try NetgiroConfiguration(baseURL: "http://127.0.0.1:8089/v1", appKey: "k", secret: .publicSandbox)
        #expect(c.url(for: .checkCart) == "http://127.0.0.1:8089/v1/Checkout/CheckCart")
        #expect(throws: NetgiroConfigurationError.self) {
            try NetgiroConfiguration(baseURL: "ftp://x", appKey: "k", secret: .publicSandbox)
        }
    }

    @Test func insertCartDescriptionMasksCustomer() {
        let r = InsertCartRequest(amount: 1, reference: "r", customerId: "1111111119", confirmationType: .automatic)
        #expect(!"\(r)".contains("1111111119"))
        #expect("\(r)".contains("*******119"))
    }
}
