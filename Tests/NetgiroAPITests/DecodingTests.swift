import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels

@Suite struct DecodingTests {
    @Test func insertCartRealShape() throws {
        let body = #"""
            {"TransactionId":"7f1e0c52-3b9a-4b5c-9a57-2a0f1d3c4e5f","ProcessCartCheckIntervalMiliseconds":3000,
             "RemoteConfirmationAvailable":false,"AnnouncementMessage":null,"Success":true,"Message":null,
             "ResultCode":200,"SomethingNew":{"x":1}}
            """#
        let r = try NetgiroResponseDecoder.decodeInsertCart(Array(body.utf8))
        #expect(r.success)
        #expect(r.resultCode == .ok)
        #expect(r.transactionId == "7f1e0c52-3b9a-4b5c-9a57-2a0f1d3c4e5f")
        #expect(r.processCartCheckInterval == .milliseconds(3000))
        #expect(r.remoteConfirmationAvailable == false)
        #expect(r.announcementMessage == nil)
        #expect(r.message == nil)
    }

    @Test func insertCartNullIntervalAndFailure() throws {
        let body = #"{"TransactionId":null,"ProcessCartCheckIntervalMiliseconds":null,"Success":false,"Message":"Viðskiptavinur fannst ekki","ResultCode":10306}"#
        let r = try NetgiroResponseDecoder.decodeInsertCart(Array(body.utf8))
        #expect(!r.success)
        #expect(r.resultCode == .customerDoesNotExist)
        #expect(r.transactionId == nil)
        #expect(r.processCartCheckInterval == nil)
        #expect(r.message == "Viðskiptavinur fannst ekki")
    }

    @Test func checkCartPaidWithPaymentInfo() throws {
        let body = #"""
            {"PaymentSuccessful":true,"PaymentInfo":{"TransactionId":"7f1e0c52-3b9a-4b5c-9a57-2a0f1d3c4e5f",
            "InvoiceNumber":1234567,"ReferenceNumber":"POS1-000123","StatusId":2,"Created":"2024-03-05T14:22:31.1234567",
            "TotalAmount":1500.0,"DiscountAmount":0,"ShippingAmount":null,"HandlingAmount":null,"AccountNumber":null,
            "NumberOfInstallments":1,"ClientIdentityConfirmed":true,"CartId":null,"LocationId":null,"RegisterId":"3",
            "Extra":[1,2]},"Success":true,"Message":"Payment completed","ResultCode":10200}
            """#
        let r = try NetgiroResponseDecoder.decodeCart(Array(body.utf8))
        #expect(r.paymentSuccessful)
        #expect(r.resultCode == .paymentCompleted)
        #expect(r.message == "Payment completed")
        let info = try #require(r.paymentInfo)
        #expect(info.invoiceNumber == 1_234_567)
        #expect(info.referenceNumber == "POS1-000123")
        #expect(info.status == .confirmed)
        #expect(info.totalAmount == Decimal(1500))
        #expect(info.discountAmount == Decimal(0))
        #expect(info.shippingAmount == nil)
        #expect(info.numberOfInstallments == 1)
        #expect(info.clientIdentityConfirmed == true)
        #expect(info.registerId == "3")
        #expect(info.created?.raw == "2024-03-05T14:22:31.1234567")
        let expected = Date(timeIntervalSince1970: 1_709_648_551.1234567)
        #expect(abs(try #require(info.created?.date).timeIntervalSince(expected)) < 0.001)
    }

    @Test func checkCartPendingWithNullsAndLowercaseKeys() throws {
        let body = #"{"paymentSuccessful":false,"paymentInfo":null,"success":true,"message":null,"resultCode":10425}"#
        let r = try NetgiroResponseDecoder.decodeCart(Array(body.utf8))
        #expect(!r.paymentSuccessful)
        #expect(r.paymentInfo == nil)
        #expect(r.resultCode == .pendingCustomerConfirmation)
    }

    /// Keys match whatever the case of their ASCII letters, and only that: other characters
    /// and lengths must agree.
    @Test func keysMatchIgnoringTheCaseOfASCIILetters() throws {
        #expect(LenientObject.sameIgnoringCase("ResultCode", "resultcode"))
        #expect(LenientObject.sameIgnoringCase("RESULTCODE", "ResultCode"))
        #expect(!LenientObject.sameIgnoringCase("Result", "ResultCode"))
        #expect(!LenientObject.sameIgnoringCase("a@", "a`"))
        #expect(!LenientObject.sameIgnoringCase("a[", "a{"))
        let body = #"{"SUCCESS":true,"mEsSaGe":"ok","resultcode":200,"PAYMENTINFO":{"transactionid":"t-9"}}"#
        let r = try NetgiroResponseDecoder.decodeCart(Array(body.utf8))
        #expect(r.success && r.message == "ok" && r.resultCode == .ok)
        #expect(r.paymentInfo?.transactionId == "t-9")
    }

    @Test func dotNetDateTimes() throws {
        let base = Date(timeIntervalSince1970: 1_709_648_551)  // 2024-03-05T14:22:31Z
        let cases: [(String, Double)] = [
            ("2024-03-05T14:22:31", 0), ("2024-03-05T14:22:31.1", 0.1), ("2024-03-05T14:22:31.12", 0.12),
            ("2024-03-05T14:22:31.1234567", 0.1234567), ("2024-03-05T14:22:31Z", 0),
            ("2024-03-05T14:22:31.5+00:00", 0.5), ("2024-03-05T15:22:31+01:00", 0), ("2024-03-05T14:22:31.000Z", 0),
            ("/Date(1709648551000)/", 0),
        ]
        for (text, fraction) in cases {
            let date = try #require(NetgiroDateTime(raw: text).date, "\(text)")
            #expect(abs(date.timeIntervalSince(base) - fraction) < 0.0005, "\(text)")
        }
        #expect(NetgiroDateTime(raw: "yesterday").date == nil)
        #expect(NetgiroDateTime(raw: "2024-03-05T14:22:31.").date == nil)
    }

    @Test func undecodableBodies() {
        #expect(throws: NetgiroDecodingError.self) { try NetgiroResponseDecoder.decodeCart(Array("<html>oops</html>".utf8)) }
        #expect(throws: NetgiroDecodingError.self) { try NetgiroResponseDecoder.decodeCart(Array("[1,2]".utf8)) }
        #expect(throws: NetgiroDecodingError.self) { try NetgiroResponseDecoder.decodeCart(Array(#"{"Success":true}"#.utf8)) }
        #expect(throws: NetgiroDecodingError.self) { try NetgiroResponseDecoder.decodeInsertCart([]) }
    }

    /// The client parses a body once and reads its envelope and then its call's fields from that
    /// parse: the same answers, and the same refusals, as decoding the bytes each time.
    @Test func aBodyParsedOnceDecodesAsItsBytesDo() throws {
        let cart = #"{"success":true,"Message":"ok","ResultCode":"200","PaymentSuccessful":1,"PaymentInfo":{"TransactionId":"t-1","TotalAmount":4990.5,"StatusId":2}}"#
        let insert = #"{"Success":true,"ResultCode":200,"TransactionId":"t-2","ProcessCartCheckIntervalMiliseconds":"250"}"#
        let parsedCart = NetgiroResponseBody(Array(cart.utf8))
        #expect(try NetgiroResponseDecoder.decodeEnvelope(parsedCart) == NetgiroResponseDecoder.decodeEnvelope(Array(cart.utf8)))
        #expect(try NetgiroResponseDecoder.decodeCart(parsedCart) == NetgiroResponseDecoder.decodeCart(Array(cart.utf8)))
        #expect(try NetgiroResponseDecoder.decodeCart(parsedCart).paymentInfo?.totalAmount == Decimal(string: "4990.5"))
        let parsedInsert = NetgiroResponseBody(Array(insert.utf8))
        #expect(try NetgiroResponseDecoder.decodeInsertCart(parsedInsert) == NetgiroResponseDecoder.decodeInsertCart(Array(insert.utf8)))
        #expect(try NetgiroResponseDecoder.decodeInsertCart(parsedInsert).processCartCheckInterval == .milliseconds(250))
        for bad in ["<html>oops</html>", "[1,2]", #"{"Success":true}"#, ""] {
            let bytes = Array(bad.utf8)
            var fromBytes: NetgiroDecodingError?
            do { _ = try NetgiroResponseDecoder.decodeCart(bytes) } catch { fromBytes = error }
            var fromParsed: NetgiroDecodingError?
            do { _ = try NetgiroResponseDecoder.decodeCart(NetgiroResponseBody(bytes)) } catch { fromParsed = error }
            #expect(fromBytes != nil && fromParsed == fromBytes, "\(bad)")
            #expect(throws: NetgiroDecodingError.self) { try NetgiroResponseDecoder.decodeEnvelope(NetgiroResponseBody(bytes)) }
        }
    }

    @Test func everyResultCodeMapped() {
        let expected: [Int: ResultCode] = [
            200: .ok, 400: .badRequest, 500: .serverError, 10200: .paymentCompleted, 10201: .paymentCancelled,
            10202: .alreadyCancelled, 10203: .alreadyConfirmed, 10302: .customerDeclined(10302),
            10307: .customerDeclined(10307), 10422: .customerDeclined(10422), 10423: .customerDeclined(10423),
            10304: .cartNotValid, 10305: .belowMinimumAmount, 10306: .customerDoesNotExist, 10424: .cartNotFound,
            10425: .pendingCustomerConfirmation, 10426: .reservationAwaitingConfirmCart,
            10427: .invalidConfirmationType, 10428: .smsCodeRequired, 10429: .awaitingCallbackResponse,
        ]
        #expect(Set(expected.keys) == Set(ResultCode.documentedCodes))
        for (code, result) in expected {
            #expect(ResultCode(code: code) == result)
            #expect(result.code == code)
            let body = #"{"Success":false,"Message":"m\#(code)","ResultCode":\#(code),"PaymentSuccessful":false}"#
            let decoded = try? NetgiroResponseDecoder.decodeCart(Array(body.utf8))
            #expect(decoded?.resultCode == result)
            #expect(decoded?.message == "m\(code)")
        }
        #expect(ResultCode(code: 12345) == .unknown(12345))
        #expect(ResultCode(code: 12345).code == 12345)
    }

    @Test func callbackVerification() throws {
        let url = "http://127.0.0.1:9000/netgiro/callback?ref=1"
        let body = Array(#"{"Success":true,"Message":null,"ResultCode":10200,"PaymentSuccessful":true,"PaymentInfo":null}"#.utf8)
        let signature = NetgiroCallback.sign(secret: .publicSandbox, nonce: "42", url: url, body: body)
        let headers = ["netgiro_nonce": "42", "netgiro_signature": signature]
        let ok = NetgiroCallback.verify(secret: .publicSandbox, url: url, body: body) { headers[$0.lowercased()] }
        guard case .valid(let response) = ok else {
            Issue.record("expected valid, got \(ok)")
            return
        }
        #expect(response.resultCode == .paymentCompleted)
        let wrongURL = NetgiroCallback.verify(secret: .publicSandbox, url: url + "&x", body: body) { headers[$0.lowercased()] }
        #expect(wrongURL == .badSignature)
        #expect(NetgiroCallback.verify(secret: .publicSandbox, url: url, body: body) { _ in nil } == .missingHeaders)
    }

    @Test func strictJSONTypes() throws {
        let o = try JSONSerialization.jsonObject(with: Data(#"{"a":1000,"b":1000.0,"c":"1000","d":true,"e":1,"f":1e3}"#.utf8)) as! [String: Any]
        #expect(JSONType.isInteger(o["a"]!))
        #expect(!JSONType.isInteger(o["b"]!))
        #expect(!JSONType.isInteger(o["c"]!))
        #expect(!JSONType.isInteger(o["d"]!))
        #expect(JSONType.isInteger(o["e"]!))
        #expect(!JSONType.isInteger(o["f"]!))
    }
}
