import Foundation

/// Reads a `POST /v1/payments` body field by field, so that every refusal names the field and
/// the rule it broke (a typo like `ammount` is refused, not ignored).
package enum TillAPIValidation {
    package static let maxAmount = 10_000_000
    /// Netgíró's smallest payment: below it InsertCart answers 10305, after the customer was asked.
    package static let minAmount = 100
    package static let maxReference = 64
    package static let maxDescription = 255
    package static let maxItems = 100
    package static let maxIdempotencyKey = 255

    /// Unicode's general category Cc (`Control`), which is fixed: U+0000–U+001F and U+007F–U+009F.
    /// Compared as numbers: the property lookup costs a table search per scalar, on every text
    /// field of every request.
    @inline(__always) package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    package static func paymentRequest(from body: Data) throws(TillAPIProblem) -> TillPaymentRequest {
        let object = try jsonObject(body, example: #"{"amount": 4990, "reference": "R-1"}"#)
        let known: Set<String> = ["amount", "reference", "description", "items", "confirmation", "terminal", "repeat"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidField(unknown, rule: "unknown-field", "`\(unknown)` is not a field of a payment; known: \(known.sorted().joined(separator: ", "))")
        }

        let amount = try integer(object["amount"], field: "amount", required: true)!
        guard amount > 0 else { throw .invalidField("amount", rule: "positive", "amount must be a positive number of whole krónur (got \(amount))") }
        guard amount >= minAmount else {
            throw .invalidField(
                "amount", rule: "minimum \(minAmount)",
                "amount must be at least \(minAmount) ISK, Netgíró's smallest payment (got \(amount))")
        }
        guard amount <= maxAmount else { throw .invalidField("amount", rule: "max \(maxAmount)", "amount may be at most \(maxAmount) ISK") }

        let reference = try string(object["reference"], field: "reference", required: true, maxLength: maxReference)!
        let description = try string(object["description"], field: "description", required: false, maxLength: maxDescription)

        var confirmation: TillConfirmation?
        if let text = try string(object["confirmation"], field: "confirmation", required: false, maxLength: 32) {
            guard let value = TillConfirmation(rawValue: text) else {
                throw .invalidField(
                    "confirmation", rule: "one-of",
                    "confirmation must be one of \(TillConfirmation.allCases.map(\.rawValue).joined(separator: ", ")) (got \(text))")
            }
            confirmation = value
        }
        let terminal = try string(object["terminal"], field: "terminal", required: false, maxLength: 64)
        if let terminal, terminal.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidField("terminal", rule: "non-empty", "terminal must name a terminal (GET /v1/terminals lists them) or be left out")
        }
        let repeatPaid = try boolean(object["repeat"], field: "repeat")

        var items: [TillPaymentItem]?
        if let raw = object["items"] {
            guard raw != .null else { throw .invalidField("items", rule: "not-null", "items must be an array or left out (null is not a value here)") }
            guard case .array(let array) = raw else { throw .invalidField("items", rule: "array", "items must be an array of {name, unitPrice, quantity}") }
            guard array.count <= maxItems else { throw .invalidField("items", rule: "max-items \(maxItems)", "at most \(maxItems) items") }
            items = []
            for (i, element) in array.enumerated() {
                let path = "items[\(i)]"
                guard case .object(let item) = element else {
                    throw .invalidField(path, rule: "object", "\(path) must be an object {name, unitPrice, quantity}")
                }
                let itemKnown: Set<String> = ["productNo", "name", "unitPrice", "quantity"]
                if let unknown = item.keys.sorted().first(where: { !itemKnown.contains($0) }) {
                    throw .invalidField("\(path).\(unknown)", rule: "unknown-field", "`\(unknown)` is not a field of an item; known: \(itemKnown.sorted().joined(separator: ", "))")
                }
                let name = try string(item["name"], field: "\(path).name", required: true, maxLength: 128)!
                let productNo = try string(item["productNo"], field: "\(path).productNo", required: false, maxLength: 64)
                let unitPrice = try integer(item["unitPrice"], field: "\(path).unitPrice", required: true)!
                guard unitPrice >= 0, unitPrice <= maxAmount else {
                    throw .invalidField("\(path).unitPrice", rule: "range 0…\(maxAmount)", "\(path).unitPrice must be 0…\(maxAmount) whole krónur")
                }
                let quantity = try integer(item["quantity"], field: "\(path).quantity", required: true)!
                guard quantity > 0, quantity <= 100_000 else {
                    throw .invalidField("\(path).quantity", rule: "positive", "\(path).quantity must be a positive whole number of units")
                }
                items?.append(TillPaymentItem(productNo: productNo, name: name, unitPrice: unitPrice, quantity: quantity))
            }
            // At most 100 × 10^7 × 10^5: no overflow. The same rule as the checkout's, but refused
            // here, before a terminal is chosen or anything is journalled.
            let total = items?.reduce(0) { $0 + $1.unitPrice * $1.quantity } ?? 0
            guard items?.isEmpty != false || total == amount else {
                throw .invalidField(
                    "items", rule: "sum-equals-amount",
                    "the items add up to \(total) ISK (unitPrice × quantity) but the amount is \(amount) ISK — send matching items or none")
            }
        }
        return TillPaymentRequest(
            amount: amount, reference: reference, description: description, items: items, confirmation: confirmation,
            terminal: terminal, repeat: repeatPaid)
    }

    /// `GET /v1/payments` query parameters (each at most once; unknown ones refused).
    package static func paymentQuery(_ parameters: [(name: String, value: String)]) throws(TillAPIProblem) -> TillPaymentQuery {
        let known = ["reference", "state", "terminal", "from", "to", "limit", "cursor"]
        var values: [String: String] = [:]
        for (name, value) in parameters {
            guard known.contains(name) else {
                throw .invalidParameter(
                    printable(name, limit: 64), rule: "unknown-parameter", "`\(printable(name, limit: 64))` is not a filter; known: \(known.joined(separator: ", "))")
            }
            guard values[name] == nil else { throw .invalidParameter(name, rule: "once", "\(name) may be given once") }
            values[name] = value
        }
        func text(_ name: String, maxLength: Int) throws(TillAPIProblem) -> String? {
            guard let value = values[name] else { return nil }
            guard !value.isEmpty, value.unicodeScalars.count <= maxLength,
                !value.unicodeScalars.contains(where: { isControl($0) })
            else {
                throw .invalidParameter(name, rule: "string 1…\(maxLength)", "\(name) must be 1–\(maxLength) characters, no control characters")
            }
            return value
        }
        func date(_ name: String) throws(TillAPIProblem) -> Date? {
            guard let value = values[name] else { return nil }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard value.count <= 40, let date = formatter.date(from: value) ?? fractional.date(from: value) else {
                throw .invalidParameter(name, rule: "date-time", "\(name) must be an RFC 3339 date-time like 2026-12-04T00:00:00Z")
            }
            return date
        }
        var query = TillPaymentQuery()
        query.reference = try text("reference", maxLength: maxReference)
        query.terminal = try text("terminal", maxLength: 64)
        if let state = values["state"] {
            guard let value = TillPaymentState(rawValue: state) else {
                throw .invalidParameter(
                    "state", rule: "one-of", "state must be one of \(TillPaymentState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.state = value
        }
        query.from = try date("from")
        query.to = try date("to")
        if let limit = values["limit"] {
            guard limit.utf8.count <= 4, limit.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(limit),
                (1...TillPaymentQuery.maxLimit).contains(value)
            else {
                throw .invalidParameter("limit", rule: "range 1…\(TillPaymentQuery.maxLimit)", "limit must be a whole number 1–\(TillPaymentQuery.maxLimit)")
            }
            query.limit = value
        }
        if let cursor = values["cursor"] {
            guard let value = TillPaymentCursor(token: cursor) else {
                throw .invalidParameter("cursor", rule: "pattern", "cursor must be a `nextCursor` this API gave, unchanged")
            }
            query.cursor = value
        }
        return query
    }

    /// `POST /v1/payments/{id}/resolution` body.
    package static func resolutionRequest(from body: Data) throws(TillAPIProblem) -> TillResolutionRequest {
        let object = try jsonObject(body, example: #"{"outcome": "paid", "transactionId": "…"}"#)
        let known: Set<String> = ["outcome", "transactionId", "note"]
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidField(unknown, rule: "unknown-field", "`\(unknown)` is not a field of a resolution; known: \(known.sorted().joined(separator: ", "))")
        }
        let text = try string(object["outcome"], field: "outcome", required: true, maxLength: 16)!
        guard let outcome = TillResolutionOutcome(rawValue: text) else {
            throw .invalidField("outcome", rule: "one-of", "outcome must be paid or not-paid (got \(printable(text, limit: 16)))")
        }
        let transactionId = try string(object["transactionId"], field: "transactionId", required: false, maxLength: 64)
        let note = try string(object["note"], field: "note", required: false, maxLength: maxDescription)
        switch outcome {
        case .paid:
            guard let transactionId, transactionId.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }), !transactionId.isEmpty else {
                throw .invalidField(
                    "transactionId", rule: "required-when-paid",
                    "transactionId is required with outcome paid: copy it from the payment in Netgíró's partner portal (visible ASCII, no spaces)")
            }
        case .notPaid:
            guard transactionId == nil else {
                throw .invalidField("transactionId", rule: "only-when-paid", "transactionId goes with outcome paid only")
            }
        }
        return TillResolutionRequest(outcome: outcome, transactionId: transactionId, note: note)
    }

    /// The body as a JSON object: valid JSON, an object at the top, no key twice in any object.
    package static func jsonObject(_ body: Data, example: String) throws(TillAPIProblem) -> [String: JSONValue] {
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw TillAPIProblem.malformedBody("the body is not valid JSON")
        }
        guard case .object(let object) = parsed else {
            throw TillAPIProblem.malformedBody("the body must be a JSON object like \(example)")
        }
        if let duplicate = JSONDuplicateKeys.first(in: body) {
            throw TillAPIProblem(
                statusCode: 400, type: "duplicate-key", title: "A key appears twice in one object",
                detail: "`\(duplicate)` is given more than once; JSON parsers disagree on which value counts, so send it once",
                field: duplicate, rule: "no-duplicate-keys")
        }
        return object
    }

    /// `Content-Type` of a request with a JSON body: `application/json` (parameters such as
    /// `charset=utf-8` allowed), else 415.
    package static func jsonContentType(_ value: String?) throws(TillAPIProblem) {
        let mediaType = value.map { String($0.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased() }
        guard mediaType == "application/json" else {
            throw TillAPIProblem(
                statusCode: 415, type: "unsupported-media-type", title: "The body must be JSON",
                detail: "send the body as `Content-Type: application/json`" + (value.map { " (got \(Self.printable($0, limit: 64)))" } ?? " (no Content-Type was sent)"),
                field: "Content-Type", rule: "application/json")
        }
    }

    /// `Last-Event-ID`: the sequence number of the last event the client saw (0 when absent).
    package static func lastEventID(_ value: String?) throws(TillAPIProblem) -> Int {
        guard let value else { return 0 }
        guard !value.isEmpty, value.utf8.count <= 18, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(value) else {
            throw .invalidHeader(
                "Last-Event-ID", rule: "non-negative-integer",
                "Last-Event-ID must be the `id` of an event this stream sent (a whole number like 3)")
        }
        return number
    }

    /// Text from the request, safe to echo: control characters shown as `?`, at most `limit` characters.
    package static func printable(_ text: String, limit: Int) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.prefix(limit).map { isControl($0) ? "?" : $0 }))
    }

    package static func idempotencyKey(_ value: String?) throws(TillAPIProblem) -> String? {
        guard let value else { return nil }
        guard !value.isEmpty, value.utf8.count <= maxIdempotencyKey,
            value.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E })
        else {
            throw .invalidHeader(
                "Idempotency-Key", rule: "visible-ascii 1…\(maxIdempotencyKey)",
                "Idempotency-Key must be 1–\(maxIdempotencyKey) visible ASCII characters (a UUID is a good choice)")
        }
        return value
    }

    private static func integer(_ raw: JSONValue?, field: String, required: Bool) throws(TillAPIProblem) -> Int? {
        switch raw {
        case nil, .null?:
            if required { throw .invalidField(field, rule: "required", "\(field) is required") }
            if raw != nil { throw .invalidField(field, rule: "not-null", "\(field) must be a whole number or left out (null is not a value here)") }
            return nil
        case .integer(let value)?:
            return value
        case .number?:
            throw .invalidField(field, rule: "integer", "\(field) must be a whole number (krónur have no minor unit)")
        default:
            throw .invalidField(field, rule: "integer", "\(field) must be a whole number")
        }
    }

    private static func boolean(_ raw: JSONValue?, field: String) throws(TillAPIProblem) -> Bool? {
        switch raw {
        case nil: return nil
        case .null?: throw .invalidField(field, rule: "not-null", "\(field) must be true or false or left out (null is not a value here)")
        case .bool(let value)?: return value
        default: throw .invalidField(field, rule: "boolean", "\(field) must be true or false")
        }
    }

    package static func string(_ raw: JSONValue?, field: String, required: Bool, maxLength: Int) throws(TillAPIProblem) -> String? {
        let text: String
        switch raw {
        case nil, .null?:
            if required { throw .invalidField(field, rule: "required", "\(field) is required") }
            if raw != nil { throw .invalidField(field, rule: "not-null", "\(field) must be a string or left out (null is not a value here)") }
            return nil
        case .string(let value)?:
            text = value
        default:
            throw .invalidField(field, rule: "string", "\(field) must be a string")
        }
        // Blank = only white space, as the document's pattern `\S` reads it (line separators too).
        if required, text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidField(field, rule: "non-empty", "\(field) must not be empty")
        }
        // Code points, as the OpenAPI document's maxLength counts: counting characters (grapheme
        // clusters) let one letter carrying thousands of combining marks through as "1 character".
        guard text.unicodeScalars.count <= maxLength else {
            throw .invalidField(field, rule: "max-length \(maxLength)", "\(field) may be at most \(maxLength) characters (Unicode code points)")
        }
        guard !text.unicodeScalars.contains(where: { isControl($0) }) else {
            throw .invalidField(field, rule: "no-control-characters", "\(field) must not hold control characters")
        }
        return text
    }
}

/// Finds a key given twice in one object of a JSON text. Foundation's parser keeps the first
/// value and drops the rest without a word, while most parsers keep the last: a body like
/// `{"amount":1000,"amount":2000}` would mean different sums to the till and to the bridge. This
/// runs only on text Foundation has already parsed as valid JSON, so it need not check the
/// grammar: it follows strings (with their escapes) and nesting, and decodes each key through
/// Foundation to compare them as JSON strings (`"a"` and `"\u0061"` are the same key).
package enum JSONDuplicateKeys {
    /// The first duplicate key, as a path like `items[0].name` (array positions not tracked: `items[].name`).
    package static func first(in json: Data) -> String? {
        struct Level {
            var isObject: Bool
            var keys: Set<String> = []
            var name: String
        }
        let bytes = [UInt8](json)
        var stack: [Level] = []
        var expectKey = false
        var pendingKey: String?
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                let start = i
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                if expectKey, var top = stack.last, top.isObject {
                    let key: String
                    if !bytes[start..<min(i, bytes.count)].contains(UInt8(ascii: "\\")) {
                        // No escape: the key is its bytes (the text is valid JSON, so valid UTF-8).
                        key = String(decoding: bytes[(start + 1)..<min(i, bytes.count)], as: UTF8.self)
                    } else {
                        let raw = Data(bytes[start...min(i, bytes.count - 1)])
                        key = (try? JSONDecoder().decode(String.self, from: raw)) ?? String(decoding: raw, as: UTF8.self)
                    }
                    let path = top.name.isEmpty ? key : top.name + "." + key
                    if !top.keys.insert(key).inserted { return path }
                    stack[stack.count - 1] = top
                    pendingKey = path
                    expectKey = false
                }
            case UInt8(ascii: "{"):
                stack.append(Level(isObject: true, name: pendingKey ?? (stack.last.map { $0.isObject ? "" : $0.name + "[]" } ?? "")))
                expectKey = true
                pendingKey = nil
            case UInt8(ascii: "["):
                stack.append(Level(isObject: false, name: pendingKey ?? ""))
                pendingKey = nil
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                stack.removeLast()
                pendingKey = nil
            case UInt8(ascii: ","):
                expectKey = stack.last?.isObject == true
                pendingKey = nil
            default:
                break
            }
            i += 1
        }
        return nil
    }
}

/// A JSON value as parsed, keeping whole numbers apart from fractions and booleans.
package enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    package init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Each failed attempt throws (and formats) a DecodingError, so the kinds a till's body
        // holds most are tried first. The kinds are disjoint but for numbers, where a whole
        // number is tried before a fraction.
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode(Int.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode([String: JSONValue].self) { self = .object(v) }
        else { self = .array(try c.decode([JSONValue].self)) }
    }
}
