/// Masking for personal data: kennitala, phone numbers, app codes, SMS payment codes.
///
/// These never appear in logs, metrics or error text in clear. Use ``mask(_:)`` whenever one of
/// them has to be mentioned.
public enum PersonalData {
    /// Masks all but the last few characters: values of up to 4 characters (SMS codes) are
    /// masked whole, up to 8 characters (phone numbers) keep the last 2, longer ones (kennitala,
    /// app codes) keep the last 3. `"8223281"` → `"*****81"`, `"1111111119"` → `"*******119"`.
    public static func mask(_ value: String) -> String {
        let count = value.count
        let keep: Int
        switch count {
        case 0...4: keep = 0
        case 5...8: keep = 2
        default: keep = 3
        }
        return String(repeating: "*", count: count - keep) + value.suffix(keep)
    }
}
