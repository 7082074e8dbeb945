import CertFleetCore
import Foundation

/// Date formats used in CertFleet's certificate details.
public enum Timestamp {
    /// OpenSSL's (and NGINX Unit's) form, e.g. `Sep 18 19:46:19 2022 GMT`; the
    /// day is space-padded as `ASN1_TIME_print` does.
    public static func openSSLStyle(_ date: Date) -> String {
        let c = RFC3339.fields(date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let paddedDay = c.day < 10 ? " \(c.day)" : "\(c.day)"
        return "\(months[c.month - 1]) \(paddedDay) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) \(c.year) GMT"
    }
}
