import Foundation

/// RFC 3339 timestamps in UTC with second precision (`2022-09-18T19:46:19Z`), the one
/// form CertFleet shows dates in. Formatting is plain arithmetic: the Foundation
/// formatters go through ICU and cost more than the database read of a whole API request.
public enum RFC3339 {
    /// The UTC calendar fields of DATE (whole seconds, rounded down).
    public struct Fields: Equatable, Sendable {
        public let year, month, day, hour, minute, second: Int
    }

    public static func fields(_ date: Date) -> Fields {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return Fields(year: year, month: month, day: day, hour: secondOfDay / 3600, minute: secondOfDay / 60 % 60, second: secondOfDay % 60)
    }

    public static func format(_ date: Date) -> String {
        let f = fields(date)
        var text = ""
        text.reserveCapacity(20)
        append(f.year, width: 4, to: &text)
        text += "-"
        append(f.month, width: 2, to: &text)
        text += "-"
        append(f.day, width: 2, to: &text)
        text += "T"
        append(f.hour, width: 2, to: &text)
        text += ":"
        append(f.minute, width: 2, to: &text)
        text += ":"
        append(f.second, width: 2, to: &text)
        text += "Z"
        return text
    }

    /// Parses RFC 3339 with `Z` or an offset, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(timeZone: .gmt)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    public static func civilDate(daysSinceEpoch: Int64) -> (year: Int, month: Int, day: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }

    private static func append(_ value: Int, width: Int, to text: inout String) {
        let digits = String(value)
        if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
        text += digits
    }
}
