import ArgumentParser
import Bridge
import Foundation

/// `ngbridge payments list|export`: find payments and reconcile a day, through the daemon's
/// `GET /v1/payments` (the daemon holds the journal).
struct PaymentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payments", abstract: "Find payments and reconcile a day.",
        subcommands: [PaymentsListCommand.self, PaymentsExportCommand.self])
}

/// Pages through `GET /v1/payments` until `limit` payments (or the end).
func fetchPayments(_ client: TillAPIClient, filters: [(String, String)], limit: Int) async throws -> [TillPayment] {
    var payments: [TillPayment] = []
    var cursor: String?
    repeat {
        var parameters = filters + [("limit", String(min(TillPaymentQuery.maxLimit, limit - payments.count)))]
        if let cursor { parameters.append(("cursor", cursor)) }
        let query = parameters.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? value)"
        }.joined(separator: "&")
        let answer = try await client.request(.GET, "/v1/payments?" + query)
        if let problem = answer.problem {
            throw CLIFailure("\(problem.title): \(problem.detail)" + (problem.field.map { " [\($0)]" } ?? ""))
        }
        let page = try answer.decode(TillPaymentPage.self)
        payments += page.payments
        cursor = page.nextCursor
    } while cursor != nil && payments.count < limit
    return payments
}

/// `ngbridge payments list`
struct PaymentsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List payments, newest first.",
        discussion: "Filters combine. Times are RFC 3339 (2026-12-04T08:00:00Z).")

    @Option(help: "The till's reference, exactly.") var reference: String?
    @Option(help: ArgumentHelp("Only payments in this state (\(TillPaymentState.allCases.map(\.rawValue).joined(separator: ", "))).", valueName: "STATE"))
    var state: String?
    @Option(help: "Only payments on this terminal.") var terminal: String?
    @Option(help: ArgumentHelp("Created at or after.", valueName: "TIME")) var from: String?
    @Option(help: ArgumentHelp("Created before.", valueName: "TIME")) var to: String?
    @Option(help: "At most this many.") var limit: Int = 50
    @Flag(help: "Print JSON (an array of payments).") var json = false
    @OptionGroup var address: DaemonAddressOptions

    func validate() throws {
        guard limit > 0 else { throw ValidationError("--limit must be above 0") }
        if let state, TillPaymentState(rawValue: state) == nil {
            throw ValidationError("--state \(state) is not one of \(TillPaymentState.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let filters = [("reference", reference), ("state", state), ("terminal", terminal), ("from", from), ("to", to)]
            .compactMap { name, value in value.map { (name, $0) } }
        let payments = try await callDaemon(address) { try await fetchPayments($0, filters: filters, limit: limit) }
        if json {
            print(String(decoding: try TillAPIJSON.encoder.encode(payments), as: UTF8.self))
            return
        }
        if payments.isEmpty {
            print("no payments")
            return
        }
        let time = ISO8601DateFormatter()
        for p in payments {
            var line = "\(time.string(from: p.createdAt))  \(p.id)  \(p.state.rawValue)  \(p.amount) ISK  ref \(p.reference)  terminal \(p.terminal)"
            if let t = p.transactionId { line += "  transaction \(t)" }
            if let i = p.invoiceNumber { line += "  invoice \(i)" }
            if let r = p.resolution { line += "  resolved \(r.outcome.rawValue)" + (r.transactionId.map { " \($0)" } ?? "") }
            print(line)
        }
    }
}

/// `ngbridge payments export --date YYYY-MM-DD --format csv|json`
struct PaymentsExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "A day's reconciliation: payments to check first, totals, paid payments for the books.",
        discussion: """
            Unknown payments come first, each with what to check in Netgíró's partner portal and the \
            command that records the finding (`ngbridge payment ID resolve`). Then totals per outcome \
            and terminal, then every paid payment with Netgíró's TransactionId and InvoiceNumber. \
            The day is the machine's local day unless --time-zone says otherwise.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, json }

    @Option(help: ArgumentHelp("The day.", valueName: "YYYY-MM-DD")) var date: String
    @Option(help: "csv or json.") var format: Format = .csv
    @Option(name: .customLong("time-zone"), help: ArgumentHelp("The day's time zone (e.g. Atlantic/Reykjavik).", valueName: "ZONE"))
    var timeZone: String?
    @Option(help: ArgumentHelp("Write here instead of standard output.", valueName: "FILE")) var output: String?
    @OptionGroup var address: DaemonAddressOptions

    func zone() throws -> TimeZone {
        guard let timeZone else { return .current }
        guard let zone = TimeZone(identifier: timeZone) else { throw ValidationError("--time-zone \(timeZone) is not a time zone name like Atlantic/Reykjavik") }
        return zone
    }

    func validate() throws {
        guard DayReport.day(date, in: try zone()) != nil else { throw ValidationError("--date \(date) is not a day like 2026-12-04") }
    }

    func run() async throws {
        let zone = try zone()
        let (from, to) = DayReport.day(date, in: zone)!
        let iso = ISO8601DateFormatter()
        let payments = try await callDaemon(address) {
            try await fetchPayments($0, filters: [("from", iso.string(from: from)), ("to", iso.string(from: to))], limit: .max)
        }
        let report = DayReport(date: date, timeZone: zone, from: from, to: to, payments: payments)
        let text: String
        switch format {
        case .csv: text = report.csv()
        case .json:
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            text = String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
        }
        if let output {
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw CLIFailure("cannot write \(output): \(error.localizedDescription) — check the directory exists and is writable")
            }
        } else {
            print(text, terminator: "")
        }
        if !report.toCheck.isEmpty {
            FileHandle.standardError.write(Data("\(report.toCheck.count) unknown payment(s) to check in Netgíró's partner portal — see the to-check rows\n".utf8))
        }
    }
}
