import Foundation

/// An error answered as an RFC 9457 problem document (`application/problem+json`): what went
/// wrong (`type`, `title`), for which field and by which rule, and what to do (`detail`).
/// `Bridge` makes it an HTTP response (Hummingbird's `HTTPResponseError`).
public struct TillAPIProblem: Error, Sendable, Hashable, Codable {
    public var type: String
    public var title: String
    public var statusCode: Int
    public var detail: String
    /// The request field at fault (JSON path like `items[0].quantity`, `body`, or a header name).
    public var field: String?
    /// The rule the field broke, in a word or two (`required`, `positive`, `max-length 64` …).
    public var rule: String?
    /// The payment concerned, when there is one (e.g. the final payment a cancel came too late for).
    public var payment: TillPayment?
    /// Seconds to wait before trying again, for a refusal that is temporary (a pad away): sent as
    /// the `Retry-After` header, not in the document.
    public var retryAfter: Int? = nil

    enum CodingKeys: String, CodingKey {
        case type, title, statusCode = "status", detail, field, rule, payment
    }

    /// `type` is the short name (`invalid-field` …); the document carries it as a URI.
    public init(
        statusCode: Int, type: String, title: String, detail: String,
        field: String? = nil, rule: String? = nil, payment: TillPayment? = nil
    ) {
        self.type = "https://ngbridge.invalid/problems/" + type
        self.title = title
        self.statusCode = statusCode
        self.detail = detail
        self.field = field
        self.rule = rule
        self.payment = payment
    }

    /// The short name of `type` (`invalid-field` …).
    public var kind: String { String(type.split(separator: "/").last ?? "") }

    // MARK: - The problems the API answers with

    public static func invalidField(_ field: String, rule: String, _ detail: String) -> TillAPIProblem {
        TillAPIProblem(statusCode: 422, type: "invalid-field", title: "A field breaks a rule", detail: detail, field: field, rule: rule)
    }

    public static func invalidHeader(_ header: String, rule: String, _ detail: String) -> TillAPIProblem {
        TillAPIProblem(statusCode: 400, type: "invalid-header", title: "A header breaks a rule", detail: detail, field: header, rule: rule)
    }

    public static func invalidParameter(_ name: String, rule: String, _ detail: String) -> TillAPIProblem {
        TillAPIProblem(statusCode: 400, type: "invalid-parameter", title: "A query parameter breaks a rule", detail: detail, field: name, rule: rule)
    }

    public static func malformedBody(_ detail: String) -> TillAPIProblem {
        TillAPIProblem(statusCode: 400, type: "malformed-body", title: "The body is not a JSON object", detail: detail, field: "body", rule: "json-object")
    }

    public static func unauthorized() -> TillAPIProblem {
        TillAPIProblem(
            statusCode: 401, type: "unauthorized", title: "A bearer token is required",
            detail: "send `Authorization: Bearer TOKEN` with the token from api.token-file", field: "Authorization", rule: "bearer-token")
    }

    public static func notFound(_ what: String) -> TillAPIProblem {
        TillAPIProblem(statusCode: 404, type: "not-found", title: "Not found", detail: what)
    }

    public static func tooLarge(limit: Int) -> TillAPIProblem {
        TillAPIProblem(
            statusCode: 413, type: "body-too-large", title: "The request body is too large",
            detail: "the body may be at most \(limit) bytes (api.max-body-bytes)", field: "body", rule: "max-bytes \(limit)")
    }
}

/// The JSON form of every document the till API sends and reads.
package enum TillAPIJSON {
    package static let encoder = makeEncoder(sortedKeys: true)

    /// The encoder of the events a payment's stream carries (SSE `data`): the same JSON, its
    /// keys in no set order. Sorting each event's keys cost a few thousand instructions, ~9
    /// events a payment; a reader of the stream parses each event, and neither the API's
    /// contract nor a test compares their bytes. The documents the API answers with (payments,
    /// pages, reports, problems) stay sorted (``encoder``).
    package static let eventEncoder = makeEncoder(sortedKeys: false)

    private static func makeEncoder(sortedKeys: Bool) -> JSONEncoder {
        let e = JSONEncoder()
        // The text of `.iso8601` (`2026-12-04T20:30:23Z`), written without a calendar: every
        // event and payment the till reads carries dates, and `.iso8601` formats each one
        // through Foundation's Gregorian calendar and time zone.
        e.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(internetDateTime(date))
        }
        e.outputFormatting = sortedKeys ? [.sortedKeys, .withoutEscapingSlashes] : [.withoutEscapingSlashes]
        return e
    }

    /// `date` in UTC as RFC 3339 `YYYY-MM-DDThh:mm:ssZ`, whole seconds (the fraction dropped,
    /// as `.iso8601` does), for years 0001–9999.
    package static func internetDateTime(_ date: Date) -> String {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        // Days since 1970-01-01 to a civil date (H. Hinnant's `civil_from_days`).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        var out: [UInt8] = []
        out.reserveCapacity(20)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(truncatingIfNeeded: 0x30 + value / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4); out.append(UInt8(ascii: "-"))
        digits(month, 2); out.append(UInt8(ascii: "-"))
        digits(day, 2); out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); out.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); out.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    package static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}
