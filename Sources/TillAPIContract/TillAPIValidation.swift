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

    package static func paymentRequest(from body: Data) throws(TillAPIProblem) -> TillPaymentRequest {
        let parsed: JSONValue
        do {
            parsed = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            throw TillAPIProblem.malformedBody("the body is not valid JSON")
        }
        guard case .object(let object) = parsed else {
            throw TillAPIProblem.malformedBody("the body must be a JSON object like {\"amount\": 4990, \"reference\": \"R-1\"}")
        }
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
        let repeatPaid = try boolean(object["repeat"], field: "repeat")

        var items: [TillPaymentItem]?
        if let raw = object["items"], raw != .null {
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
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .invalidField(field, rule: "boolean", "\(field) must be true or false")
        }
    }

    private static func string(_ raw: JSONValue?, field: String, required: Bool, maxLength: Int) throws(TillAPIProblem) -> String? {
        let text: String
        switch raw {
        case nil, .null?:
            if required { throw .invalidField(field, rule: "required", "\(field) is required") }
            return nil
        case .string(let value)?:
            text = value
        default:
            throw .invalidField(field, rule: "string", "\(field) must be a string")
        }
        if required, text.trimmingCharacters(in: .whitespaces).isEmpty {
            throw .invalidField(field, rule: "non-empty", "\(field) must not be empty")
        }
        // Code points, as the OpenAPI document's maxLength counts: counting characters (grapheme
        // clusters) let one letter carrying thousands of combining marks through as "1 character".
        guard text.unicodeScalars.count <= maxLength else {
            throw .invalidField(field, rule: "max-length \(maxLength)", "\(field) may be at most \(maxLength) characters (Unicode code points)")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw .invalidField(field, rule: "no-control-characters", "\(field) must not hold control characters")
        }
        return text
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
        if c.decodeNil() { self = .null }
        else if let v = try? c.decode(Bool.self) { self = .bool(v) }
        else if let v = try? c.decode(Int.self) { self = .integer(v) }
        else if let v = try? c.decode(Double.self) { self = .number(v) }
        else if let v = try? c.decode(String.self) { self = .string(v) }
        else if let v = try? c.decode([JSONValue].self) { self = .array(v) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}
