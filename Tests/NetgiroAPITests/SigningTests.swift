import Crypto
import Foundation
import Testing

@testable import NetgiroAPI
@testable import NetgiroModels

@Suite struct SigningTests {
    @Test func publishedVectorGET() {
        let signature = NetgiroSignature.compute(
            secret: .publicSandbox, nonce: "635318618538563781",
            url: "https://api.netgiro.is/v1/Sales/GetList?AllForCompany=true", body: [])
        #expect(signature == "1fcfcbf71b1350cf914ebb952c71d74551416a965ee3b65c38a16b35e687f87c")
    }

    @Test func publishedVectorInsertCart() {
        let body =
            #"{"Amount":1000,"Reference":"991100-123","CustomerId":"8223281","ConfirmationType":1,"CallbackUrl":"www.example.com/callback-success/991100-123","CallbackCancelUrl":"www.example.com/callback-cancel/991100-123"}"#
        let signature = NetgiroSignature.compute(
            secret: .publicSandbox, nonce: "39084373214935208",
            url: "https://api.test.netgiro.is/v1/Checkout/InsertCart", body: Array(body.utf8))
        #expect(signature == "8ff35684c44ae5279f16f5b024b80a7f4de18f45b71aafc9c03a2f07ac3e9856")
        #expect(
            NetgiroSignature.verify(
                signature: signature.uppercased(), secret: .publicSandbox, nonce: "39084373214935208",
                url: "https://api.test.netgiro.is/v1/Checkout/InsertCart", body: Array(body.utf8)))
        #expect(
            !NetgiroSignature.verify(
                signature: signature, secret: .publicSandbox, nonce: "39084373214935209",
                url: "https://api.test.netgiro.is/v1/Checkout/InsertCart", body: Array(body.utf8)))
    }

    /// The signature is the digest's lowercase hex, two digits a byte (leading zeros kept), for
    /// non-ASCII URLs and bodies too.
    @Test func signatureIsTheDigestInLowercaseHex() {
        for i in 0..<64 {
            let nonce = String(1_733_400_000_000_000 + i * 7919)
            let url = "https://test.netgiro.is/api/checkout/InsertCart?x=\(i)&é=ð"
            let body = Array("{\"Amount\":\(i * 1000),\"Reference\":\"Þ-\(i)\"}".utf8)
            var hasher = SHA256()
            hasher.update(data: Array("secret-\(i)".utf8) + Array(nonce.utf8) + Array(url.utf8) + body)
            let expected = hasher.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            #expect(NetgiroSignature.compute(secret: NetgiroSecret("secret-\(i)"), nonce: nonce, url: url, body: body) == expected)
        }
    }

    @Test func secretIsRedacted() {
        let secret = NetgiroSecret("super-secret-value")
        #expect(!"\(secret)".contains("super"))
        #expect(!String(reflecting: secret).contains("super"))
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("super"))
        let config = try! NetgiroConfiguration(baseURL: "http://127.0.0.1:1", appKey: "k", secret: secret)
        var dumpedConfig = ""
        dump(config, to: &dumpedConfig)
        #expect(!dumpedConfig.contains("super"))
    }

    @Test func secretFromFileAndEnvironment() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ng-secret-\(UUID().uuidString)").path
        try "  abc/def=\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try NetgiroSecret.fromFile(path)
        #expect(fromFile == NetgiroSecret("abc/def="))
        #expect(try NetgiroSecret.fromEnvironment(environment: ["NGBRIDGE_NETGIRO_SECRET": "xyz"]) == NetgiroSecret("xyz"))
        #expect(throws: NetgiroConfigurationError.secretEnvironmentMissing(variable: "NGBRIDGE_NETGIRO_SECRET")) {
            try NetgiroSecret.fromEnvironment(environment: [:])
        }
        #expect(throws: NetgiroConfigurationError.self) { try NetgiroSecret.fromFile(path + ".missing") }
    }

    @Test func responseSignatureCheck() {
        let url = "https://api.netgiro.is/v1/Checkout/CheckCart"
        let body = Array(#"{"Success":true,"ResultCode":10200}"#.utf8)
        let good = NetgiroSignature.compute(secret: .publicSandbox, nonce: "9", url: url, body: body)
        #expect(ResponseSignatureCheck.check(nonce: "9", signature: good, secret: .publicSandbox, requestURL: url, body: body) == .valid)
        #expect(ResponseSignatureCheck.check(nonce: "8", signature: good, secret: .publicSandbox, requestURL: url, body: body) == .mismatch)
        #expect(ResponseSignatureCheck.check(nonce: nil, signature: good, secret: .publicSandbox, requestURL: url, body: body) == .missing)
        #expect(ResponseSignatureCheck.check(nonce: "9", signature: nil, secret: .publicSandbox, requestURL: url, body: body) == .missing)
    }

    @Test func masking() {
        #expect(PersonalData.mask("8223281") == "*****81")
        #expect(PersonalData.mask("1111111119") == "*******119")
        #expect(PersonalData.mask("5000041234") == "*******234")
        #expect(PersonalData.mask("1234") == "****")
        #expect(PersonalData.mask("") == "")
    }

    @Test func noncesIncreaseAndSurviveRestartWithClockGoingBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ng-nonce-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let generator = NonceGenerator(stateFile: path, clock: { 5_000_000 })
        let first = UInt64(generator.next())!
        let second = UInt64(generator.next())!
        #expect(first == 5_000_000)
        #expect(second == first + 1)
        // Restart with a clock that went backwards: still above everything handed out.
        let restarted = NonceGenerator(stateFile: path, clock: { 1 })
        let third = UInt64(restarted.next())!
        #expect(third > second)
        // Without a state file the wall clock carries it.
        let plain = NonceGenerator()
        let a = UInt64(plain.next())!
        let b = UInt64(plain.next())!
        #expect(b > a)
        #expect(a > 1_700_000_000_000_000)
    }
}
