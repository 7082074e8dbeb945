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
    /// automatically, so for them this is the only warning.
    ///
    /// Only certificates whose `expiring_check_at` has come are visited; each visit schedules
    /// the next one at the next threshold its version crosses (`ExpiringSchedule`),
    /// so a tick with nothing to announce reads nothing, whatever the fleet size. Thresholds
    /// changed in the configuration apply from each certificate's next visit.
    /// Returns the events announced, their outbox ids, and the certificates visited.
    public func announceExpiring(
        thresholds: [Int] = Maintenance.defaultExpiringThresholds, limit: Int = 100
    )
        async throws -> (announced: Int, outbox: [OutboxMessage], visited: Int)
    {
        let thresholds = Array(Set(thresholds.filter { $0 > 0 })).sorted()
        guard !thresholds.isEmpty else { return (0, [], 0) }
        return try await db.transaction { tx in
            let rows = try await tx.query(Self.expiringQuery(limit: limit))
            var outbox: [OutboxMessage] = []
            for row in rows {
                let certificate = try Certificates.snapshot(row)
                let remaining = try row.decode(Double.self, "remaining")
                let next = ExpiringSchedule.nextCheck(remaining: remaining, thresholds: thresholds, now: Date())
                try await tx.query("UPDATE certificates SET expiring_check_at = \(next) WHERE id = \(certificate.id)")
                guard let version = certificate.currentVersion, remaining > 0 else { continue }
                let crossed = thresholds.filter { remaining <= Double($0) * 86400 }
                let recorded = Set(
                    try await tx.query(
                        """
                        SELECT threshold_days FROM expiry_notices WHERE certificate_id = \(certificate.id) AND version = \(Int32(version))
                        """
                    ).map { try $0.decode(Int.self, "threshold_days") })
                let pending = crossed.filter { !recorded.contains($0) }
                guard let tightest = pending.min() else { continue }
                for threshold in pending {
                    try await tx.query(
                        """
                        INSERT INTO expiry_notices (certificate_id, version, threshold_days, announced)
                        VALUES (\(certificate.id), \(Int32(version)), \(Int32(threshold)), \(threshold == tightest))
                        ON CONFLICT DO NOTHING
                        """)
                }
                if let id = try await Events.announceOnce(
                    tx, certificate: certificate, event: "expiring",
                    dedupeKey: "expiring:\(certificate.id.uuidString.lowercased()):\(version):\(tightest)",
                    actor: actor, version: version, serial: try row.decode(String?.self, "serial"),
                    notAfter: try row.decode(Date.self, "not_after"), reason: "expires_within_\(tightest)_days", thresholdDays: tightest)
                {
                    outbox.append(id)
                }
            }
            return (outbox.count, outbox, rows.count)
        }
    }

    /// The `expiring` scan's SELECT: the certificates whose check has come
    /// (`certificates_expiring_check`), never-checked first.
    public static func expiringQuery(limit: Int) -> PostgresQuery {
        """
        SELECT c.id, c.project_id, c.name, c.state, c.current_version, c.version, v.not_after, v.serial,
               extract(epoch FROM v.not_after - now())::float8 AS remaining
        FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
        WHERE c.state IN ('valid', 'renewing') AND c.deleted_at IS NULL AND c.current_version IS NOT NULL
          AND coalesce(c.expiring_check_at, '-infinity'::timestamptz) <= now() AND v.not_after IS NOT NULL
        ORDER BY coalesce(c.expiring_check_at, '-infinity'::timestamptz) LIMIT \(limit) FOR UPDATE OF c SKIP LOCKED
        """
    }
}
