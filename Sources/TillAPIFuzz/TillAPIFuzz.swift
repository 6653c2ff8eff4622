// Fuzz target for the till API's request decoding and validation: what `POST /v1/payments` does
// with its headers and body before the payments side sees anything (TillAPIContract). Checked
// for every input:
//   - no trap, and the same input always gives the same answer;
//   - the answer is either a validated request or a problem (400 or 422) that names the field or
//     header at fault and the rule it broke, and survives the JSON round trip the till makes (a
//     key given twice in one object is always refused: 400 duplicate-key);
//   - a validated request keeps the published limits (openapi/till-api.json: lengths counted in
//     Unicode code points, amounts and quantities in range, no control characters), its lines add
//     up to the amount without overflow, and it re-encodes to a body that validates to the same
//     request; a validated Idempotency-Key is 1–255 visible ASCII characters.
//
// Fuzzing build (libFuzzer):
//   swift build -c release --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING --product TillAPIFuzz
//   SWIFT_BACKTRACE=enable=no .build-fuzz/release/TillAPIFuzz -max_total_time=60 -dict=Tests/Fuzz/tillapi.dict Tests/Fuzz/corpus-tillapi
// Plain build: `TillAPIFuzz FILE-OR-DIRECTORY...` runs the given inputs once each (regression runs).
//
// Input format, like an HTTP request without its start line: header lines (`Name: value`), a blank
// line, then the body. An input without a blank line ("\n\n") is all body, with no headers.
import Foundation
import FuzzSupport
import TillAPIContract

/// The headers and body an input stands for.
struct FuzzRequest {
    var headers: [(name: String, value: String)] = []
    var body: [UInt8]

    init(_ data: [UInt8]) {
        guard let split = data.indices.dropLast().first(where: { data[$0] == 0x0A && data[$0 + 1] == 0x0A }) else {
            body = data
            return
        }
        body = Array(data[(split + 2)...])
        for line in data[..<split].split(separator: 0x0A) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            // HTTP strips optional white space around a field value.
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: CharacterSet(charactersIn: " \t\r"))
            headers.append((name, value))
        }
    }

    /// A header as the server reads it: every field of that name, joined with ", " (HTTPFields).
    func header(_ name: String) -> String? {
        let values = headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}

enum Answer: Equatable {
    case accepted(TillPaymentRequest, idempotencyKey: String?)
    case refused(TillAPIProblem)
}

/// What `POST /v1/payments` decides before it asks the payments side, in the server's order.
func answer(_ request: FuzzRequest) -> Answer {
    do throws(TillAPIProblem) {
        let key = try TillAPIValidation.idempotencyKey(request.header("Idempotency-Key"))
        return .accepted(try TillAPIValidation.paymentRequest(from: Data(request.body)), idempotencyKey: key)
    } catch {
        return .refused(error)
    }
}

let topLevelFields: Set<String> = ["amount", "reference", "description", "items", "confirmation", "terminal"]
let itemFields: Set<String> = ["productNo", "name", "unitPrice", "quantity"]

/// `items[N]` or `items[N].name`: the index and the rest, if `field` has that form.
func itemPath(_ field: String) -> (index: Int, member: String?)? {
    guard field.hasPrefix("items["), let close = field.firstIndex(of: "]") else { return nil }
    guard let index = Int(field[field.index(field.startIndex, offsetBy: 6)..<close]), index >= 0 else { return nil }
    let rest = field[field.index(after: close)...]
    if rest.isEmpty { return (index, nil) }
    guard rest.hasPrefix(".") else { return nil }
    return (index, String(rest.dropFirst()))
}

func checkProblem(_ problem: TillAPIProblem) {
    precondition(!problem.title.isEmpty && !problem.detail.isEmpty, "a problem without title or detail")
    precondition(problem.type.hasSuffix("/" + problem.kind))
    guard let field = problem.field, let rule = problem.rule, !rule.isEmpty else {
        preconditionFailure("a problem that names no field or no rule: \(problem)")
    }
    // Only a key as sent (unknown, or given twice) is named verbatim, and that may be "".
    precondition(!field.isEmpty || rule == "unknown-field" || rule == "no-duplicate-keys", "a problem that names an empty field: \(problem)")
    switch problem.kind {
    case "malformed-body":
        precondition(problem.statusCode == 400 && field == "body")
    case "duplicate-key":
        // A key given twice in one object, named by its path (`amount`, `items[].name`).
        precondition(problem.statusCode == 400 && rule == "no-duplicate-keys")
    case "invalid-header":
        precondition(problem.statusCode == 400 && field == "Idempotency-Key")
    case "invalid-field":
        precondition(problem.statusCode == 422)
        if rule == "unknown-field" {
            // The key as sent (an unknown top-level key may itself look like `items[0].name`).
            precondition(!topLevelFields.contains(field), "unknown-field for a known field: \(field)")
        } else if let path = itemPath(field) {
            precondition(path.index < TillAPIValidation.maxItems, "a problem for an item past the limit: \(field)")
            precondition(path.member.map(itemFields.contains) ?? true, "a problem for no item field: \(field)")
        } else {
            precondition(topLevelFields.contains(field), "a problem for no field: \(field)")
        }
    default:
        preconditionFailure("an unexpected problem from validation: \(problem)")
    }
    // The till reads the problem back from its JSON.
    let encoded = try! TillAPIJSON.encoder.encode(problem)
    precondition((try? TillAPIJSON.decoder.decode(TillAPIProblem.self, from: encoded)) == problem, "a problem that does not survive JSON")
}

/// A string the schema allows: at most `max` code points, no control characters; non-blank if required.
func checkText(_ text: String?, max: Int, required: Bool, _ what: String) {
    guard let text else {
        precondition(!required, "\(what) missing")
        return
    }
    precondition(text.unicodeScalars.count <= max, "\(what) is \(text.unicodeScalars.count) code points, over \(max)")
    precondition(!text.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(what) holds a control character")
    if required { precondition(!text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(what) is blank") }
}

func checkRequest(_ request: TillPaymentRequest, idempotencyKey: String?) {
    precondition((1...TillAPIValidation.maxAmount).contains(request.amount), "amount \(request.amount) out of range")
    checkText(request.reference, max: TillAPIValidation.maxReference, required: true, "reference")
    checkText(request.description, max: TillAPIValidation.maxDescription, required: false, "description")
    checkText(request.terminal, max: 64, required: false, "terminal")
    precondition(request.terminal.map { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty } ?? true, "terminal is blank")
    if let items = request.items {
        precondition(items.count <= TillAPIValidation.maxItems)
        var total = 0
        for item in items {
            checkText(item.name, max: 128, required: true, "item name")
            checkText(item.productNo, max: 64, required: false, "item productNo")
            precondition((0...TillAPIValidation.maxAmount).contains(item.unitPrice), "unitPrice \(item.unitPrice) out of range")
            precondition((1...100_000).contains(item.quantity), "quantity \(item.quantity) out of range")
            let (line, lineOverflow) = item.unitPrice.multipliedReportingOverflow(by: item.quantity)
            precondition(!lineOverflow, "a line total overflows")
            let (sum, sumOverflow) = total.addingReportingOverflow(line)
            precondition(!sumOverflow, "the lines' sum overflows")
            total = sum
        }
        precondition(items.isEmpty || total == request.amount, "lines add up to \(total), amount is \(request.amount)")
    }
    if let key = idempotencyKey {
        precondition((1...TillAPIValidation.maxIdempotencyKey).contains(key.utf8.count))
        precondition(key.utf8.allSatisfy { (0x21...0x7E).contains($0) })
    }
    // What the till client sends for this request validates to the same request.
    let body = try! TillAPIJSON.encoder.encode(request)
    do throws(TillAPIProblem) {
        let again = try TillAPIValidation.paymentRequest(from: body)
        precondition(again == request, "re-encoding changed the request: \(request) became \(again)")
    } catch {
        preconditionFailure("a validated request re-encodes to a refused body (\(error.field ?? "-"), \(error.rule ?? "-")): \(String(decoding: body, as: UTF8.self))")
    }
}

/// Checks every property that must hold for any input; traps (a fuzzer finding) when one fails.
func fuzzOne(_ data: [UInt8]) {
    let request = FuzzRequest(data)
    let first = answer(request)
    precondition(answer(request) == first, "the same request answered two ways")
    switch first {
    case .refused(let problem): checkProblem(problem)
    case .accepted(let payment, let key): checkRequest(payment, idempotencyKey: key)
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    FuzzMain.input(start, count, fuzzOne)
}
#endif

@main
struct TillAPIFuzz {
    static func main() {
        #if FUZZING
        FuzzMain.runLibFuzzer(fuzzTestOneInput)
        #else
        FuzzMain.replay(name: "TillAPIFuzz", fuzzOne)
        #endif
    }
}
