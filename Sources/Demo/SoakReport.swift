import Checkout
import Foundation
import NetgiroAPI
import NetgiroSim

/// What a soak run found: the payments' outcomes as the journal has them, and the audit of the
/// journal against the Netgíró simulator's ledger. `lost`, `duplicated`, `wrongAmount`,
/// `phantomPaid`, `unknownWithoutReference` and `unfinished` must all be 0.
public struct SoakReport: Sendable, Codable {
    public var command = ""
    public var seconds = 0.0
    public var attempted = 0
    public var paid = 0
    public var declined = 0
    public var cancelled = 0
    public var failed = 0
    public var unknown = 0
    /// Not final in the journal when the run gave up on it.
    public var unfinished = 0

    /// A cart paid in the ledger that the journal does not show as paid (and not `unknown`).
    public var lost = 0
    /// More than one cart for a payment's reference, a cart nobody asked for, or ConfirmCart
    /// applied twice to one cart.
    public var duplicated = 0
    /// A ledger cart whose amount differs from the payment's.
    public var wrongAmount = 0
    /// The journal says paid, the ledger does not.
    public var phantomPaid = 0
    public var unknownWithoutReference = 0
    /// `unknown` payments by confirmation type (`manual`, `automatic`, `server-callback`).
    public var unknownByConfirmation: [String: Int] = [:]
    /// Payments by confirmation type.
    public var paymentsByConfirmation: [String: Int] = [:]
    /// `unknown` under Manual or ServerCallback before the bridge gave its go-ahead (ConfirmCart
    /// capture, callback answered 200): no money can have moved, so it must be `failed` instead.
    public var unknownWhereNothingCanMove = 0
    /// Every `unknown` payment's reference, for staff to look up at Netgíró.
    public var unknownReferences: [String] = []
    public var ledgerCarts = 0
    public var ledgerPaid = 0

    public var unplugs = 0
    /// Unplug → the terminal reports the link down, milliseconds, one per unplug that was seen.
    public var unplugDetectionMilliseconds: [Int] = []
    /// The pad goes silent → the terminal reports the link down (nil: not measured / not seen).
    public var silenceDetectionMilliseconds: Int?
    /// Link-down reports over the whole run (line faults and unplugs both cause them).
    public var linkDownReports = 0

    public init() {}

    public var mustBeZero: [(String, Int)] {
        [("lost", lost), ("duplicated", duplicated), ("wrong amount", wrongAmount), ("paid in the journal only", phantomPaid),
         ("unknown without reference", unknownWithoutReference),
         ("unknown where no money can move", unknownWhereNothingCanMove), ("unfinished", unfinished)]
    }

    public var passed: Bool { mustBeZero.allSatisfy { $0.1 == 0 } }

    /// Compares the journal's final records with the simulator's ledger.
    mutating func audit(records: [PaymentRecord], ledger: [NetgiroSimLedgerEntry], captures: [String: Int]) {
        attempted = records.count
        ledgerCarts = ledger.count
        ledgerPaid = ledger.filter { $0.state == "paid" }.count
        let cartsByReference = Dictionary(grouping: ledger, by: \.reference)
        let references = Set(records.map(\.reference))
        for type in [ConfirmationType.manual, .automatic, .serverCallback] {
            unknownByConfirmation[Self.name(type)] = 0
            paymentsByConfirmation[Self.name(type)] = 0
        }
        for record in records {
            paymentsByConfirmation[Self.name(record.request.confirmationType), default: 0] += 1
            switch record.phase {
            case .paid: paid += 1
            case .declined: declined += 1
            case .cancelled: cancelled += 1
            case .failed: failed += 1
            case .unknown:
                unknown += 1
                unknownByConfirmation[Self.name(record.request.confirmationType), default: 0] += 1
                if !record.moneyCanHaveMoved { unknownWhereNothingCanMove += 1 }
                if record.reference.isEmpty { unknownWithoutReference += 1 } else { unknownReferences.append(record.reference) }
            default: unfinished += 1
            }
            let carts = cartsByReference[record.reference] ?? []
            if carts.count > 1 { duplicated += carts.count - 1 }
            if carts.contains(where: { $0.amount != record.amount }) { wrongAmount += 1 }
            let paidAtNetgiro = carts.contains { $0.state == "paid" }
            if paidAtNetgiro, record.phase != .paid, record.phase != .unknown { lost += 1 }
            if record.phase == .paid, !paidAtNetgiro { phantomPaid += 1 }
            if record.phase == .paid, let id = record.transactionId, !carts.contains(where: { $0.transactionId == id }) {
                phantomPaid += 1
            }
        }
        // Carts under references no payment used.
        duplicated += ledger.filter { !references.contains($0.reference) }.count
        duplicated += captures.values.filter { $0 > 1 }.map { $0 - 1 }.reduce(0, +)
    }

    static func name(_ type: ConfirmationType) -> String {
        switch type {
        case .manual: return "manual"
        case .automatic: return "automatic"
        case .serverCallback: return "server-callback"
        }
    }

    public func text() -> String {
        var lines: [String] = []
        lines.append("soak: \(attempted) payments in \(String(format: "%.1f", seconds)) s")
        lines.append("  paid \(paid), declined \(declined), cancelled \(cancelled), failed \(failed), unknown \(unknown)"
            + (unfinished > 0 ? ", unfinished \(unfinished)" : ""))
        lines.append("  unknown by confirmation type: " + ["manual", "automatic", "server-callback"].map {
            "\($0) \(unknownByConfirmation[$0] ?? 0) of \(paymentsByConfirmation[$0] ?? 0)"
        }.joined(separator: ", "))
        lines.append("  Netgíró ledger: \(ledgerCarts) carts, \(ledgerPaid) paid")
        lines.append("  " + mustBeZero.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        if !unknownReferences.isEmpty {
            lines.append("  unknown, check at Netgíró by reference: " + unknownReferences.joined(separator: ", "))
        }
        lines.append("  link-down reports: \(linkDownReports)")
        if unplugs > 0 {
            let seen = unplugDetectionMilliseconds.sorted()
            let summary = seen.isEmpty ? "none seen" :
                "median \(seen[seen.count / 2]) ms, max \(seen.last!) ms (\(seen.count) seen)"
            lines.append("  unplugs: \(unplugs); unplug → till sees link down: \(summary)")
        }
        if let silence = silenceDetectionMilliseconds {
            lines.append("  pad goes silent → till sees link down: \(silence) ms")
        }
        lines.append(passed ? "  PASS: every must-be-zero count is 0" : "  FAIL: a must-be-zero count is not 0")
        return lines.joined(separator: "\n")
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}
