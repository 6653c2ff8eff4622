import Foundation

/// A day's reconciliation, built from the payments `GET /v1/payments` returns for the day
/// (`ngbridge payments export`): first every `unknown` payment staff must still check in
/// Netgíró's partner portal, then totals per outcome and terminal, then every paid payment with
/// Netgíró's TransactionId and InvoiceNumber for the books. Pure: the payments and the day in,
/// the report out.
public struct DayReport: Sendable, Hashable, Codable {
    /// What a payment counts as in the report.
    public enum Outcome: String, Sendable, Hashable, Codable, CaseIterable {
        case paid, declined, cancelled, failed
        /// Unknown, not yet checked by staff.
        case unknown
        /// Unknown to the bridge; staff found it paid at Netgíró.
        case resolvedPaid = "resolved-paid"
        /// Unknown to the bridge; staff found no payment at Netgíró.
        case resolvedNotPaid = "resolved-not-paid"
        /// Not final yet.
        case inFlight = "in-flight"

        public init(_ payment: TillPayment) {
            switch payment.state {
            case .paid: self = .paid
            case .declined: self = .declined
            case .cancelled: self = .cancelled
            case .failed: self = .failed
            case .unknown:
                switch payment.resolution?.outcome {
                case .paid?: self = .resolvedPaid
                case .notPaid?: self = .resolvedNotPaid
                case nil: self = .unknown
                }
            case .created, .awaitingCustomer, .processing, .awaitingSMSCode, .cancelRequested: self = .inFlight
            }
        }
    }

    public struct ToCheck: Sendable, Hashable, Codable {
        public var payment: String
        public var reference: String
        public var amount: Int
        public var terminal: String
        public var createdAt: Date
        /// The cart's TransactionId when the bridge has one.
        public var transactionId: String?
        /// What staff do, in words.
        public var check: String
    }

    public struct Total: Sendable, Hashable, Codable {
        public var outcome: Outcome
        public var terminal: String
        public var count: Int
        /// Whole ISK.
        public var amount: Int
    }

    public struct Paid: Sendable, Hashable, Codable {
        public var payment: String
        public var reference: String
        public var amount: Int
        public var terminal: String
        public var createdAt: Date
        public var transactionId: String?
        public var invoiceNumber: String?
        /// Found paid by staff (the bridge's state is `unknown`; no InvoiceNumber from the bridge).
        public var resolvedByStaff: Bool
    }

    /// `YYYY-MM-DD`.
    public var date: String
    public var timeZone: String
    public var from: Date
    public var to: Date
    public var payments: Int
    public var toCheck: [ToCheck]
    public var totals: [Total]
    public var paid: [Paid]
    /// Paid and found paid, whole ISK.
    public var paidAmount: Int

    public init(date: String, timeZone: TimeZone, from: Date, to: Date, payments list: [TillPayment]) {
        self.date = date
        self.timeZone = timeZone.identifier
        self.from = from
        self.to = to
        let payments = list.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        self.payments = payments.count
        let time = DateFormatter()
        time.locale = Locale(identifier: "en_US_POSIX")
        time.timeZone = timeZone
        time.dateFormat = "HH:mm"
        toCheck = payments.filter { Outcome($0) == .unknown }.map { p in
            ToCheck(
                payment: p.id, reference: p.reference, amount: p.amount, terminal: p.terminal, createdAt: p.createdAt,
                transactionId: p.transactionId,
                check: "In Netgíró's partner portal look for reference \(p.reference), \(p.amount) ISK, started \(time.string(from: p.createdAt))"
                    + (p.transactionId.map { " (TransactionId \($0))" } ?? "")
                    + ". Found paid: `ngbridge payment \(p.id) resolve --paid TRANSACTION_ID`; not there: `ngbridge payment \(p.id) resolve --not-paid`.")
        }
        var sums: [String: Total] = [:]
        for p in payments {
            let outcome = Outcome(p)
            let key = outcome.rawValue + "\u{0}" + p.terminal
            var total = sums[key] ?? Total(outcome: outcome, terminal: p.terminal, count: 0, amount: 0)
            total.count += 1
            total.amount += p.amount
            sums[key] = total
        }
        let order = Outcome.allCases
        totals = sums.values.sorted {
            (order.firstIndex(of: $0.outcome)!, $0.terminal) < (order.firstIndex(of: $1.outcome)!, $1.terminal)
        }
        paid = payments.compactMap { p in
            switch Outcome(p) {
            case .paid:
                return Paid(
                    payment: p.id, reference: p.reference, amount: p.amount, terminal: p.terminal, createdAt: p.createdAt,
                    transactionId: p.transactionId, invoiceNumber: p.invoiceNumber, resolvedByStaff: false)
            case .resolvedPaid:
                return Paid(
                    payment: p.id, reference: p.reference, amount: p.amount, terminal: p.terminal, createdAt: p.createdAt,
                    transactionId: p.resolution?.transactionId, invoiceNumber: nil, resolvedByStaff: true)
            default:
                return nil
            }
        }
        paidAmount = paid.reduce(0) { $0 + $1.amount }
    }

    /// The day `date` (`YYYY-MM-DD`) in `timeZone`: its start and the next day's start.
    public static func day(_ date: String, in timeZone: TimeZone) -> (from: Date, to: Date)? {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard date.count == 10, parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let components = DateComponents(year: y, month: m, day: d)
        guard components.isValidDate(in: calendar), let from = calendar.date(from: components),
            let to = calendar.date(byAdding: .day, value: 1, to: from)
        else { return nil }
        return (from, to)
    }

    /// One CSV table (RFC 4180, header row): `section` says which part a row belongs to —
    /// `to-check` rows first, then `total`, then `paid`. A cell a spreadsheet would run as a
    /// formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
    public func csv() -> String {
        let iso = ISO8601DateFormatter()
        var rows = [["section", "outcome", "terminal", "count", "amount", "payment", "reference", "created", "transactionId", "invoiceNumber", "check"]]
        for c in toCheck {
            rows.append(["to-check", Outcome.unknown.rawValue, c.terminal, "1", String(c.amount), c.payment, c.reference, iso.string(from: c.createdAt), c.transactionId ?? "", "", c.check])
        }
        for t in totals {
            rows.append(["total", t.outcome.rawValue, t.terminal, String(t.count), String(t.amount), "", "", "", "", "", ""])
        }
        for p in paid {
            rows.append([
                "paid", p.resolvedByStaff ? Outcome.resolvedPaid.rawValue : Outcome.paid.rawValue, p.terminal, "1", String(p.amount), p.payment,
                p.reference, iso.string(from: p.createdAt), p.transactionId ?? "", p.invoiceNumber ?? "", "",
            ])
        }
        return rows.map { $0.map(Self.cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }

    static func cell(_ text: String) -> String {
        var value = text
        if let first = value.first, "=+-@".contains(first), Int(value) == nil { value = "'" + value }
        guard value.contains(where: { ",\"\r\n".contains($0) }) || value != value.trimmingCharacters(in: .whitespaces) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
