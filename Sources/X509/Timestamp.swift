import Foundation

/// Date formats used in CertFleet's certificate details.
public enum Timestamp {
    /// RFC 3339 in UTC with second precision, e.g. `2022-09-18T19:46:19Z`.
    public static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    /// Parses what ``rfc3339(_:)`` produces (and other RFC 3339 UTC or offset forms).
    public static func parseRFC3339(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(timeZone: .gmt))
    }

    /// OpenSSL's (and NGINX Unit's) form, e.g. `Sep 18 19:46:19 2022 GMT`; the
    /// day is space-padded as `ASN1_TIME_print` does.
    public static func openSSLStyle(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : "\(v)" }
        let day = c.day ?? 1
        let paddedDay = day < 10 ? " \(day)" : "\(day)"
        return "\(months[(c.month ?? 1) - 1]) \(paddedDay) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) \(c.year ?? 1970) GMT"
    }
}
