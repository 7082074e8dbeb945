import Foundation
import Postgres

/// The cluster-wide counts `/metrics` shows: jobs, certificates, outbox, renewals due, expiring.
public struct FleetCounts: Sendable {
    public var jobs: [(kind: String, state: String, count: Int)] = []
    public var certificates: [(state: String, count: Int)] = []
    public var outboxUnpublished: Int?
    public var renewalsDue: Int?
    /// Served certificates expiring within 30, 7 and 1 days.
    public var expiringWithinDays: [(days: Int, count: Int)] = []

    /// Each count independently: one failing query leaves its gauge out, not the others.
    public static func read(_ db: Database) async -> FleetCounts {
        var counts = FleetCounts()
        if let rows = try? await db.query("SELECT kind, state, count(*)::int8 AS n FROM jobs GROUP BY kind, state ORDER BY kind, state") {
            counts.jobs = rows.compactMap { row in
                guard let kind = try? row.decode(String.self, "kind"), let state = try? row.decode(String.self, "state"),
                      let n = try? row.decode(Int.self, "n") else { return nil }
                return (kind, state, n)
            }
        }
        if let rows = try? await db.query("""
            SELECT state, count(*)::int8 AS n FROM certificates WHERE deleted_at IS NULL GROUP BY state ORDER BY state
            """) {
            counts.certificates = rows.compactMap { row in
                guard let state = try? row.decode(String.self, "state"), let n = try? row.decode(Int.self, "n") else { return nil }
                return (state, n)
            }
        }
        counts.outboxUnpublished = try? await db.query("SELECT count(*)::int8 AS n FROM outbox WHERE published_at IS NULL")
            .first?.decode(Int.self, "n")
        if let row = try? await db.query("""
            SELECT count(*) FILTER (WHERE c.source = 'acme' AND c.state IN ('valid', 'expired') AND c.renew_at <= now())::int8 AS due,
                   count(*) FILTER (WHERE c.state IN ('valid', 'renewing') AND v.not_after <= now() + interval '30 days')::int8 AS d30,
                   count(*) FILTER (WHERE c.state IN ('valid', 'renewing') AND v.not_after <= now() + interval '7 days')::int8 AS d7,
                   count(*) FILTER (WHERE c.state IN ('valid', 'renewing') AND v.not_after <= now() + interval '1 day')::int8 AS d1
            FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
            WHERE c.deleted_at IS NULL
            """).first {
            counts.renewalsDue = (try? row.decode(Int.self, "due")) ?? 0
            counts.expiringWithinDays = [30, 7, 1].map { ($0, (try? row.decode(Int.self, "d\($0)")) ?? 0) }
        }
        return counts
    }
}
