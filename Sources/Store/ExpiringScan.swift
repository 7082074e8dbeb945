import CertFleetCore
import Foundation
import Postgres

extension Maintenance {
    /// The default `expiring` thresholds: days before `not_after`.
    public static let defaultExpiringThresholds = [30, 14, 7, 1]

    /// Announces `expiring` for served certificates whose current version is within one of
    /// THRESHOLDS (days) of `not_after`: once per threshold and version (`expiry_notices`'
    /// key, and the event's dedupe key). When several thresholds are crossed at once (a
    /// certificate uploaded 5 days before it expires), only the tightest is announced and
    /// the wider ones are recorded as passed over. Uploaded certificates are never renewed
    /// automatically, so for them this is the only warning. Returns outbox ids to publish.
    public func announceExpiring(thresholds: [Int] = Maintenance.defaultExpiringThresholds, limit: Int = 100) async throws -> (announced: Int, outboxIDs: [Int64]) {
        let thresholds = Array(Set(thresholds.filter { $0 > 0 })).sorted()
        guard !thresholds.isEmpty else { return (0, []) }
        return try await db.transaction { tx in
            let rows = try await tx.query(Self.expiringQuery(thresholds: thresholds, limit: limit))
            var outbox: [Int64] = []
            for row in rows {
                let certificate = try Certificates.snapshot(row)
                guard let version = certificate.currentVersion else { continue }
                let remaining = try row.decode(Double.self, "remaining")
                let crossed = thresholds.filter { remaining <= Double($0) * 86400 }
                let recorded = Set(try await tx.query("""
                    SELECT threshold_days FROM expiry_notices WHERE certificate_id = \(certificate.id) AND version = \(Int32(version))
                    """).map { try $0.decode(Int.self, "threshold_days") })
                let pending = crossed.filter { !recorded.contains($0) }
                guard let tightest = pending.min() else { continue }
                for threshold in pending {
                    try await tx.query("""
                        INSERT INTO expiry_notices (certificate_id, version, threshold_days, announced)
                        VALUES (\(certificate.id), \(Int32(version)), \(Int32(threshold)), \(threshold == tightest))
                        ON CONFLICT DO NOTHING
                        """)
                }
                if let id = try await Events.announceOnce(
                    tx, certificate: certificate, event: "expiring", dedupeKey: "expiring:\(certificate.id.uuidString.lowercased()):\(version):\(tightest)",
                    actor: actor, version: version, serial: try row.decode(String?.self, "serial"),
                    notAfter: try row.decode(Date.self, "not_after"), reason: "expires_within_\(tightest)_days", thresholdDays: tightest) {
                    outbox.append(id)
                }
            }
            return (outbox.count, outbox)
        }
    }

    /// The `expiring` scan's SELECT. The current version is the one `valid` version of a
    /// certificate, so the partial index on `not_after` finds the few near their end.
    /// THRESHOLDS: sorted, positive days.
    public static func expiringQuery(thresholds: [Int], limit: Int) -> PostgresQuery {
        let widest = thresholds.last ?? 0
        let days = thresholds.map(String.init)
        return """
            SELECT c.id, c.project_id, c.name, c.state, c.current_version, c.version, v.not_after, v.serial,
                   extract(epoch FROM v.not_after - now())::float8 AS remaining
            FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
            WHERE c.state IN ('valid', 'renewing') AND c.deleted_at IS NULL AND v.state = 'valid'
              AND v.not_after > now() AND v.not_after <= now() + \(Int32(widest)) * interval '1 day'
              AND EXISTS (SELECT 1 FROM unnest(\(days)::int[]) AS t(days)
                          WHERE v.not_after <= now() + t.days * interval '1 day'
                            AND NOT EXISTS (SELECT 1 FROM expiry_notices n WHERE n.certificate_id = c.id
                                            AND n.version = c.current_version AND n.threshold_days = t.days))
            ORDER BY v.not_after LIMIT \(limit) FOR UPDATE OF c SKIP LOCKED
            """
    }
}
