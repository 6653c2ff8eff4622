import Foundation

/// A .NET date-time as Netgíró sends it: `2024-03-05T14:22:31.1234567`, often with no zone and a
/// fraction of 0–7 digits, sometimes with `Z` or an offset, or the old `/Date(ms)/` form.
///
/// A time without a zone is read as UTC: Netgíró runs in Iceland, whose time is UTC all year
/// (no daylight saving). The text is kept as received.
public struct NetgiroDateTime: Sendable, Hashable, CustomStringConvertible {
    public let raw: String
    public let date: Date?

    public init(raw: String) {
        self.raw = raw
        self.date = NetgiroDateTime.parse(raw)
    }

    public var description: String { raw }

    static func parse(_ text: String) -> Date? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("/Date("), s.hasSuffix(")/") {
            let inner = s.dropFirst(6).dropLast(2)
            let digits = inner.prefix { $0 == "-" || $0.isNumber }
            guard let ms = Int64(digits) else { return nil }
            return Date(timeIntervalSince1970: Double(ms) / 1000)
        }
        let u = Array(s.utf8)
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= u.count else { return nil }
            var v = 0
            for b in u[from..<(from + len)] {
                guard b >= 48, b <= 57 else { return nil }
                v = v * 10 + Int(b - 48)
            }
            return v
        }
        guard u.count >= 19, let year = num(0, 4), u[4] == 45, let month = num(5, 2), u[7] == 45,
            let day = num(8, 2), u[10] == 84 || u[10] == 32, let hour = num(11, 2), u[13] == 58,
            let minute = num(14, 2), u[16] == 58, let second = num(17, 2)
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < u.count, u[i] == 46 {  // '.'
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 {
                fraction += Double(u[i] - 48) * scale
                scale /= 10
                i += 1
            }
            if i == start { return nil }
        }
        var offsetSeconds = 0
        if i < u.count {
            if u[i] == 90 || u[i] == 122 {  // Z
                i += 1
            } else if u[i] == 43 || u[i] == 45 {  // + -
                let sign = u[i] == 43 ? 1 : -1
                guard let oh = num(i + 1, 2) else { return nil }
                var j = i + 3
                if j < u.count, u[j] == 58 { j += 1 }
                let om = num(j, 2) ?? 0
                if num(j, 2) != nil { j += 2 }
                offsetSeconds = sign * (oh * 3600 + om * 60)
                i = j
            }
            guard i == u.count else { return nil }
        }
        var components = DateComponents()
        components.year = year
        components.month = month
        components.day = day
        components.hour = hour
        components.minute = minute
        components.second = second
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let base = calendar.date(from: components) else { return nil }
        return base.addingTimeInterval(fraction - Double(offsetSeconds))
    }
}
