import Foundation
import Postgres

/// The console's expiry timeline: per day of the next DAYS, how many of a project's
/// certificates expire (`not_after`) and are planned to renew (`renew_at`), and what needs a
/// person: renewals overdue, certificates failing, renewals deferred by the issuance budget.
public struct ExpiryTimeline: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    public struct Summary: Sendable {
        /// Index = days from now (0 = within the next 24 hours).
        public var expiring: [Int]
        public var renewing: [Int]
        public var overdue: Int
        public var failing: Int
        public var deferred: Int

        public init(expiring: [Int], renewing: [Int], overdue: Int, failing: Int, deferred: Int) {
            self.expiring = expiring
            self.renewing = renewing
            self.overdue = overdue
            self.failing = failing
            self.deferred = deferred
        }
    }

    public func summary(project: UUID, days: Int = 90) async throws -> Summary {
        var summary = Summary(
            expiring: Array(repeating: 0, count: days), renewing: Array(repeating: 0, count: days),
            overdue: 0, failing: 0, deferred: 0)
        let rows = try await db.query(
            """
            SELECT 'expiring' AS series, floor(extract(epoch FROM v.not_after - now()) / 86400)::int AS day, count(*)::int8 AS n
            FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id AND v.version = c.current_version
            WHERE c.project_id = \(project) AND c.deleted_at IS NULL
              AND v.not_after >= now() AND v.not_after < now() + make_interval(days => \(days)::int)
            GROUP BY 2
            UNION ALL
            SELECT 'renewing', floor(extract(epoch FROM c.renew_at - now()) / 86400)::int, count(*)::int8
            FROM certificates c
            WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.state IN ('valid', 'expired')
              AND c.renew_at >= now() AND c.renew_at < now() + make_interval(days => \(days)::int)
            GROUP BY 2
            """)
        for row in rows {
            let day = try row.decode(Int.self, "day")
            guard (0..<days).contains(day) else { continue }
            let count = try row.decode(Int.self, "n")
            if try row.decode(String.self, "series") == "expiring" { summary.expiring[day] += count } else { summary.renewing[day] += count }
        }
        if let row = try await db.query(
            """
            SELECT count(*) FILTER (WHERE source = 'acme' AND state IN ('valid', 'expired') AND renew_at < now())::int8 AS overdue,
                   count(*) FILTER (WHERE state = 'error')::int8 AS failing,
                   count(*) FILTER (WHERE last_error_code = 'rate_limit_budget')::int8 AS deferred
            FROM certificates WHERE project_id = \(project) AND deleted_at IS NULL
            """
        ).first {
            summary.overdue = try row.decode(Int.self, "overdue")
            summary.failing = try row.decode(Int.self, "failing")
            summary.deferred = try row.decode(Int.self, "deferred")
        }
        return summary
    }
}
