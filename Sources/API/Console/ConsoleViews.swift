import Foundation
import Store

/// Records turned into the plain values the templates show (text, numbers, flags, lists).
enum ConsoleViews {
    /// `2026-11-30 18:20 UTC`; empty for nil.
    static func date(_ date: Date?) -> String {
        guard let date else { return "" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    /// Whole days from NOW until DATE (negative once past).
    static func daysLeft(_ date: Date?, now: Date = Date()) -> Int? {
        date.map { Int(($0.timeIntervalSince(now) / 86_400).rounded(.down)) }
    }

    static func daysClass(_ days: Int?) -> String {
        guard let days else { return "" }
        return days < 7 ? "soon" : days < 30 ? "warn" : ""
    }

    /// A dictionary without the nil values (a missing key renders as nothing and is false in a section).
    static func values(_ pairs: [(String, Any?)]) -> [String: Any] {
        var values: [String: Any] = [:]
        for (key, value) in pairs { if let value { values[key] = value } }
        return values
    }

    static func row(_ row: CertificateTableRow) -> [String: Any] {
        let days = daysLeft(row.notAfter)
        let extra = max(0, row.sans.count - (row.sans.contains(row.commonName ?? "") ? 1 : 0))
        return values([
            ("name", row.name), ("href", "/console/certificates/\(row.id.uuidString.lowercased())"),
            ("commonName", row.commonName ?? row.sans.first), ("moreNames", extra > 0 ? extra : nil),
            ("state", row.state), ("source", row.source), ("ca", row.ca ?? (row.source == "uploaded" ? "—" : nil)),
            ("expires", date(row.notAfter)), ("daysLeft", days.map(String.init) ?? ""), ("daysClass", daysClass(days)),
            ("errorCode", row.errorCode),
        ])
    }

    static func job(_ job: JobRecord) -> [String: Any] {
        values([
            ("href", "/console/jobs/\(job.id.uuidString.lowercased())"), ("short", String(job.id.uuidString.lowercased().prefix(8))),
            ("kind", job.kind), ("state", job.state), ("attempt", job.attempt), ("maxAttempts", job.maxAttempts),
            ("errorCode", job.errorCode), ("errorDetail", job.errorDetail), ("created", date(job.createdAt)),
            ("started", date(job.startedAt)), ("finished", date(job.finishedAt)),
        ])
    }

    static func event(_ event: EventRecord) -> [String: Any] {
        values([
            ("created", date(event.createdAt)), ("type", event.type), ("from", event.fromState ?? "—"), ("to", event.toState ?? "—"),
            ("reason", event.reason), ("actor", event.actor),
        ])
    }

    /// `/console/certificates?…` with the given query items (empty ones left out).
    static func link(_ path: String, _ items: [(String, String?)]) -> String {
        var components = URLComponents()
        components.path = path
        let present = items.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : URLQueryItem(name: name, value: $0) } }
        components.queryItems = present.isEmpty ? nil : present
        return components.string ?? path
    }
}
