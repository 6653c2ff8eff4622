/// ServerCallback support: Netgíró POSTs the CheckCart response shape to `CallbackUrl` (or
/// `CallbackCancelUrl`) with headers `NETGIRO_NONCE` and `NETGIRO_SIGNATURE`, where the signature
/// is hex SHA-256(SecretKey + nonce + the full callback URL as called + raw body). The provider
/// answers HTTP 200 to create the payment.
public enum NetgiroCallback {
    public enum Verification: Sendable, Hashable {
        case valid(CartResponse)
        case missingHeaders
        case badSignature
        case unreadableBody(NetgiroDecodingError)
    }

    /// Verifies a received callback and decodes its body.
    ///
    /// - Parameters:
    ///   - url: the full URL the callback was sent to, as called (scheme, host, port, path, query).
    ///   - headerValue: looks a header up by name (case-insensitively).
    public static func verify(
        secret: NetgiroSecret, url: String, body: [UInt8], headerValue: (String) -> String?
    ) -> Verification {
        guard let nonce = headerValue(NetgiroHeader.callbackNonce),
            let signature = headerValue(NetgiroHeader.callbackSignature)
        else { return .missingHeaders }
        guard NetgiroSignature.verify(signature: signature, secret: secret, nonce: nonce, url: url, body: body) else {
            return .badSignature
        }
        do {
            return .valid(try NetgiroResponseDecoder.decodeCart(body))
        } catch {
            return .unreadableBody(error)
        }
    }

    /// The signature Netgíró puts on a callback (used by the simulator and by tests).
    public static func sign(secret: NetgiroSecret, nonce: String, url: String, body: [UInt8]) -> String {
        NetgiroSignature.compute(secret: secret, nonce: nonce, url: url, body: body)
    }
}
