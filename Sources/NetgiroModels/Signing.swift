import Crypto

/// Netgíró's request signature:
///
///     lowercase hex of SHA-256( UTF-8( SecretKey + nonce + fullRequestUrl + requestBody ) )
///
/// Netgíró's docs call it HMAC-SHA256, but the docs' own worked examples, Netgíró's demo client
/// and every plugin use plain SHA-256 over the concatenation; HMAC does not reproduce the
/// published test vectors. The same recipe verifies response signatures (with the response's
/// nonce and raw body) and ServerCallback signatures (with the callback URL as called).
public enum NetgiroSignature {
    public static func compute(secret: NetgiroSecret, nonce: String, url: String, body: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: secret.utf8)
        // The strings' own UTF-8 storage, not a copy of it in an Array.
        var nonce = nonce
        nonce.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        var url = url
        url.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        hasher.update(data: body)
        let digest = hasher.finalize()
        // Lowercase hex, two digits a byte, written straight into the string's storage (a
        // `String(byte, radix: 16)` and an append per byte cost more than the hash itself).
        return digest.withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { out in
                var i = 0
                for byte in bytes {
                    out[i] = hexDigits[Int(byte >> 4)]
                    out[i + 1] = hexDigits[Int(byte & 0x0F)]
                    i += 2
                }
                return i
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Compares a received signature with the expected one, ignoring hex case, in time that does
    /// not depend on where they differ.
    public static func matches(_ received: String, expected: String) -> Bool {
        let a = Array(received.lowercased().utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }

    /// Whether `signature` is valid for the given nonce, URL and body.
    public static func verify(
        signature: String, secret: NetgiroSecret, nonce: String, url: String, body: [UInt8]
    ) -> Bool {
        matches(signature, expected: compute(secret: secret, nonce: nonce, url: url, body: body))
    }
}

/// Header names Netgíró uses. They contain underscores, which some proxies drop by default
/// (nginx: `underscores_in_headers on;`).
public enum NetgiroHeader {
    public static let appKey = "netgiro_appkey"
    public static let nonce = "netgiro_nonce"
    public static let signature = "netgiro_signature"
    public static let referenceId = "netgiro_referenceId"
    /// Header names on ServerCallback requests (HTTP header names are case-insensitive).
    public static let callbackNonce = "NETGIRO_NONCE"
    public static let callbackSignature = "NETGIRO_SIGNATURE"
}
