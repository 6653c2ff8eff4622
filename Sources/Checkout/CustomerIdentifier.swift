import NetgiroModels

/// What a customer's entry looks like, for the pad's display and for logs only. Netgíró decides
/// what the number really is (a 10428 answer means it was a kennitala): the entry is sent
/// unchanged apart from separators.
public enum CustomerIDKind: String, Sendable, Hashable, Codable {
    /// 7 digits starting with 6, 7 or 8: an Icelandic mobile number (GSM).
    case phone
    /// 10 digits: a kennitala (SSN) or a Netgíró app code — they cannot be told apart by form.
    case kennitalaOrAppCode
}

/// A customer identifier the checkout may send to InsertCart.
///
/// Personal data: `value` is what goes to Netgíró and nowhere else; `masked` is the form for
/// logs, the journal and the till.
public struct CustomerIdentifier: Sendable, Hashable, CustomStringConvertible {
    public let kind: CustomerIDKind
    /// Digits only, as sent in `CustomerId`.
    public let value: String
    /// False when the entry is 10 digits whose kennitala check digit (weights 3,2,7,6,5,4,3,2,
    /// mod 11) does not match. Only a warning: Registers Iceland issues kennitölur without it
    /// since 2026, and app codes never had one.
    public let passesKennitalaCheck: Bool

    public var masked: String { PersonalData.mask(value) }
    public var description: String { "\(kind.rawValue) \(masked)" }

    /// Classifies an entry from the pad. Spaces and hyphens (`DDMMYY-NNNN`) are dropped; what
    /// remains must be 7 digits starting with 6, 7 or 8, or 10 digits. Anything else is nil: the
    /// pad refuses it with a hint and Netgíró is not called.
    public static func classify(_ entry: String) -> CustomerIdentifier? {
        let digits = entry.filter { $0 != " " && $0 != "-" }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        switch digits.count {
        case 7 where ["6", "7", "8"].contains(digits.first!):
            return CustomerIdentifier(kind: .phone, value: digits, passesKennitalaCheck: true)
        case 10:
            return CustomerIdentifier(
                kind: .kennitalaOrAppCode, value: digits, passesKennitalaCheck: kennitalaCheckDigitMatches(digits))
        default:
            return nil
        }
    }

    /// The traditional kennitala check: the 9th digit equals 11 − (Σ wᵢ·dᵢ mod 11) with weights
    /// 3,2,7,6,5,4,3,2 over the first 8 digits (0 when the remainder is 0; remainder 1 can never
    /// be valid).
    public static func kennitalaCheckDigitMatches(_ digits: String) -> Bool {
        let d = digits.compactMap { $0.wholeNumberValue }
        guard d.count == 10 else { return false }
        let weights = [3, 2, 7, 6, 5, 4, 3, 2]
        let sum = zip(weights, d.prefix(8)).reduce(0) { $0 + $1.0 * $1.1 }
        let remainder = sum % 11
        let check = remainder == 0 ? 0 : 11 - remainder
        return check < 10 && check == d[8]
    }
}
