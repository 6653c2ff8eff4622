import Foundation

/// A request ready to go on the wire: the body serialised once, and the signature computed over
/// exactly those bytes. The HTTP shell sends `url`, `headers` and `body` unchanged.
public struct PreparedRequest: Sendable, Hashable {
    public var call: NetgiroCall
    public var url: String
    public var nonce: String
    public var body: [UInt8]
    /// In order: Content-Type, Accept, netgiro_appkey, netgiro_nonce, netgiro_signature.
    public var headers: [Header]

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Builds and signs the four calls. Pure: no I/O, the nonce is passed in.
public struct NetgiroRequestBuilder: Sendable {
    public var configuration: NetgiroConfiguration

    public init(configuration: NetgiroConfiguration) {
        self.configuration = configuration
    }

    /// The JSON encoder for request bodies: keys sorted (so the bytes are deterministic),
    /// slashes not escaped (URLs read as written), UTF-8.
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Builds InsertCart after checking what Netgíró would refuse anyway, so that such a cart
    /// is known not to have been sent: a positive whole-krónur amount, a reference, a customer id,
    /// and `CallbackUrl` with ServerCallback.
    public func insertCart(_ request: InsertCartRequest, nonce: String) throws -> PreparedRequest {
        try Self.validate(request)
        return try prepare(.insertCart, body: request, nonce: nonce)
    }

    public static func validate(_ request: InsertCartRequest) throws(NetgiroRequestError) {
        guard request.amount > 0 else { throw .init("Amount must be a positive number of krónur (got \(request.amount))") }
        guard !request.reference.isEmpty else { throw .init("Reference is empty") }
        guard !request.customerId.isEmpty else { throw .init("CustomerId is empty") }
        if request.confirmationType == .serverCallback, (request.callbackUrl ?? "").isEmpty {
            throw .init("CallbackUrl is required with ServerCallback")
        }
        for (i, item) in request.items.enumerated() where item.quantity <= 0 {
            throw .init("CartItemRequests[\(i)].Quantity must be positive (thousandths: 1 item = 1000)")
        }
    }

    public func checkCart(transactionId: String, nonce: String) throws -> PreparedRequest {
        try prepare(.checkCart, body: TransactionRequest(transactionId: transactionId), nonce: nonce)
    }

    public func confirmCart(transactionId: String, identifier: String?, nonce: String) throws -> PreparedRequest {
        try prepare(.confirmCart, body: ConfirmCartRequest(transactionId: transactionId, identifier: identifier), nonce: nonce)
    }

    public func cancelCart(transactionId: String, nonce: String) throws -> PreparedRequest {
        try prepare(.cancelCart, body: TransactionRequest(transactionId: transactionId), nonce: nonce)
    }

    func prepare(_ call: NetgiroCall, body: some Encodable, nonce: String) throws -> PreparedRequest {
        let bytes = Array(try Self.makeEncoder().encode(body))
        let url = configuration.url(for: call)
        let signature = NetgiroSignature.compute(secret: configuration.secret, nonce: nonce, url: url, body: bytes)
        return PreparedRequest(
            call: call, url: url, nonce: nonce, body: bytes,
            headers: [
                .init(name: "Content-Type", value: "application/json"),
                .init(name: "Accept", value: "application/json"),
                .init(name: NetgiroHeader.appKey, value: configuration.appKey),
                .init(name: NetgiroHeader.nonce, value: nonce),
                .init(name: NetgiroHeader.signature, value: signature),
            ])
    }
}

/// A request that cannot be sent as it is.
public struct NetgiroRequestError: Error, Hashable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// The outcome of checking a response's signature.
public enum ResponseSignatureCheck: Sendable, Hashable {
    case valid
    case missing
    case mismatch

    /// Checks `netgiro_nonce`/`netgiro_signature` of a response against the request URL and the
    /// raw response body.
    public static func check(
        nonce: String?, signature: String?, secret: NetgiroSecret, requestURL: String, body: [UInt8]
    ) -> ResponseSignatureCheck {
        guard let nonce, let signature, !signature.isEmpty else { return .missing }
        return NetgiroSignature.verify(signature: signature, secret: secret, nonce: nonce, url: requestURL, body: body)
            ? .valid : .mismatch
    }
}
