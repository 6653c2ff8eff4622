import Foundation
import NetgiroModels

/// One HTTP request as the simulator's shell received it.
public struct NetgiroSimWireRequest: Sendable {
    public var method: String
    /// The path as received, e.g. `/v1/Checkout/InsertCart`.
    public var path: String
    /// The full URL as the client addressed it (scheme, Host, path, query): what it signed.
    public var url: String
    /// Header fields (names compared case-insensitively).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, url: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.path = path
        self.url = url
        self.headers = headers
        self.body = body
    }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// Netgíró's wire format, enforced: path and its case, the three signing headers, the app key,
/// the signature over the exact URL and body, `Content-Type`, JSON syntax, required fields and
/// JSON types (an `Amount` of `1000.0` or `"1000"` is refused), `CallbackUrl` with
/// ServerCallback. Each refusal is answered with Netgíró's envelope
/// `{"Success":false,"Message":…,"ResultCode":…}`.
public enum NetgiroSimWire {
    /// The path prefix the simulator serves, like Netgíró's `/v1/`.
    public static let basePath = "/v1/"

    struct InsertCart: Sendable, Hashable {
        var amount: Int
        var reference: String
        var customerId: String
        var confirmationType: ConfirmationType
        var callbackUrl: String?
        var callbackCancelUrl: String?
    }

    enum Body: Sendable, Hashable {
        case insertCart(InsertCart)
        case checkCart(String)
        case confirmCart(String, identifier: String?)
        case cancelCart(String)
    }

    struct Validated: Sendable {
        var call: NetgiroCall
        var appKey: String
        var nonce: String
        var body: Body
    }

    struct Rejection: Error {
        var status: Int
        var resultCode: Int
        var message: String
        var call: NetgiroCall?
        var violation: String

        var reply: NetgiroSimulatorCore.Reply {
            .init(status: status, body: NetgiroSimBody.envelope(message: message, code: resultCode), call: call,
                transactionId: nil, violation: violation, committed: false)
        }
    }

    static func validate(_ r: NetgiroSimWireRequest, apps: [String: NetgiroSecret]) -> Result<Validated, Rejection> {
        // Path, exactly (Netgíró signs the URL as sent; `checkout/insertcart` is another URL).
        guard let call = NetgiroCall.allCases.first(where: { basePath + $0.path == r.path }) else {
            let nearly = NetgiroCall.allCases.first { (basePath + $0.path).lowercased() == r.path.lowercased() }
            return .failure(Rejection(
                status: 404, resultCode: 400,
                message: "No HTTP resource was found that matches the request URI '\(r.path)'", call: nil,
                violation: nearly.map { "wrong path case: \(r.path) (expected \(basePath + $0.path))" }
                    ?? "unknown path \(r.path)"))
        }
        guard r.method == "POST" else {
            return .failure(Rejection(status: 405, resultCode: 400,
                message: "The requested resource does not support http method '\(r.method)'", call: call,
                violation: "method \(r.method)"))
        }
        // The three signing headers.
        for name in [NetgiroHeader.appKey, NetgiroHeader.nonce, NetgiroHeader.signature] {
            guard let value = r.header(name), !value.isEmpty else {
                return .failure(Rejection(status: 401, resultCode: 400,
                    message: "Authorization has been denied for this request: header \(name) is missing", call: call,
                    violation: "missing header \(name)"))
            }
        }
        let appKey = r.header(NetgiroHeader.appKey)!
        let nonce = r.header(NetgiroHeader.nonce)!
        let signature = r.header(NetgiroHeader.signature)!
        guard let secret = apps.first(where: { $0.key.lowercased() == appKey.lowercased() })?.value else {
            return .failure(Rejection(status: 401, resultCode: 400,
                message: "Authorization has been denied for this request: unknown application", call: call,
                violation: "unknown app key"))
        }
        guard NetgiroSignature.verify(signature: signature, secret: secret, nonce: nonce, url: r.url, body: r.body) else {
            return .failure(Rejection(status: 401, resultCode: 400,
                message: "Authorization has been denied for this request: invalid signature", call: call,
                violation: "bad signature (signed URL must be exactly \(r.url))"))
        }
        guard let contentType = r.header("Content-Type"),
            contentType.lowercased().split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "application/json"
        else {
            return .failure(Rejection(status: 415, resultCode: 400,
                message: "The request entity's media type is not supported; use application/json", call: call,
                violation: "Content-Type \(r.header("Content-Type") ?? "missing")"))
        }
        let object: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any] else {
                throw CocoaError(.propertyListReadCorrupt)
            }
            object = o
        } catch {
            return .failure(Rejection(status: 400, resultCode: 400, message: "The request body is not a JSON object",
                call: call, violation: "body is not a JSON object"))
        }
        // ASP.NET binds keys case-insensitively.
        var fields: [String: Any] = [:]
        for (k, v) in object { fields[k.lowercased()] = v }
        let reader = FieldReader(fields: fields, call: call)
        do {
            let body: Body
            switch call {
            case .insertCart:
                let amount = try reader.int("Amount")
                let reference = try reader.string("Reference")
                let customerId = try reader.string("CustomerId")
                let typeRaw = try reader.int("ConfirmationType")
                let callbackUrl = try reader.optionalString("CallbackUrl")
                let callbackCancelUrl = try reader.optionalString("CallbackCancelUrl")
                _ = try reader.optionalString("Description")
                try reader.cartItems()
                guard let type = ConfirmationType(rawValue: typeRaw) else {
                    return .failure(Rejection(status: 200, resultCode: 10427,
                        message: "Invalid confirmation type \(typeRaw)", call: call, violation: "ConfirmationType \(typeRaw)"))
                }
                if type == .serverCallback, (callbackUrl ?? "").isEmpty {
                    return .failure(Rejection(status: 400, resultCode: 400,
                        message: "CallbackUrl is required when ConfirmationType is ServerCallback", call: call,
                        violation: "ServerCallback without CallbackUrl"))
                }
                body = .insertCart(InsertCart(
                    amount: amount, reference: reference, customerId: customerId, confirmationType: type,
                    callbackUrl: callbackUrl, callbackCancelUrl: callbackCancelUrl))
            case .checkCart:
                body = .checkCart(try reader.string("TransactionId"))
            case .confirmCart:
                body = .confirmCart(try reader.string("TransactionId"), identifier: try reader.optionalString("Identifier"))
            case .cancelCart:
                body = .cancelCart(try reader.string("TransactionId"))
            }
            return .success(Validated(call: call, appKey: appKey, nonce: nonce, body: body))
        } catch let rejection as Rejection {
            return .failure(rejection)
        } catch {
            return .failure(Rejection(status: 400, resultCode: 400, message: "\(error)", call: call, violation: "\(error)"))
        }
    }

    struct FieldReader {
        var fields: [String: Any]
        var call: NetgiroCall

        func fail(_ message: String) -> Rejection {
            Rejection(status: 400, resultCode: 400, message: message, call: call, violation: message)
        }

        func value(_ name: String, in dict: [String: Any]? = nil) -> Any? {
            let v = (dict ?? fields)[name.lowercased()]
            return v is NSNull ? nil : v
        }

        func int(_ name: String, in dict: [String: Any]? = nil, prefix: String = "") throws -> Int {
            guard let v = value(name, in: dict) else { throw fail("\(prefix)\(name) is required") }
            guard JSONType.isInteger(v), let n = v as? NSNumber else {
                throw fail("\(prefix)\(name) must be a whole number (JSON integer)")
            }
            return n.intValue
        }

        func string(_ name: String, in dict: [String: Any]? = nil, prefix: String = "") throws -> String {
            guard let v = value(name, in: dict) else { throw fail("\(prefix)\(name) is required") }
            guard let s = v as? String else { throw fail("\(prefix)\(name) must be a string") }
            guard !s.isEmpty else { throw fail("\(prefix)\(name) is required") }
            return s
        }

        func optionalString(_ name: String, in dict: [String: Any]? = nil, prefix: String = "") throws -> String? {
            guard let v = value(name, in: dict) else { return nil }
            guard let s = v as? String else { throw fail("\(prefix)\(name) must be a string") }
            return s
        }

        func cartItems() throws {
            guard let v = value("CartItemRequests") else { return }
            guard let items = v as? [Any] else { throw fail("CartItemRequests must be an array") }
            for (i, item) in items.enumerated() {
                guard let raw = item as? [String: Any] else { throw fail("CartItemRequests[\(i)] must be an object") }
                var d: [String: Any] = [:]
                for (k, v) in raw { d[k.lowercased()] = v }
                let p = "CartItemRequests[\(i)]."
                _ = try optionalString("ProductNo", in: d, prefix: p)
                _ = try string("Name", in: d, prefix: p)
                _ = try optionalString("Description", in: d, prefix: p)
                _ = try int("UnitPrice", in: d, prefix: p)
                _ = try int("Amount", in: d, prefix: p)
                _ = try int("Quantity", in: d, prefix: p)
            }
        }
    }
}
