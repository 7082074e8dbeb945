import Foundation
import Postgres

/// The cluster-wide counts of `/metrics`, read from state the triggers of migration 0013
/// maintain (`state_counts` + `state_count_deltas`, `expiry_buckets` + their deltas), so a
/// scrape or a scheduler tick costs the same at a million certificates as at ten.
public enum StateCounts {
    /// Live certificates by state, jobs by kind and state.
    public struct Snapshot: Sendable, Equatable {
        public var certificates: [String: Int] = [:]
        public var jobs: [String: [String: Int]] = [:]
        /// Served certificates whose current version ends within 30, 7 and 1 days (hour granularity).
        public var expiring: [Int: Int] = [:]
        public var outboxUnpublished = 0
        public var renewalsDue = 0
    }

    public static let expiringWindows = [30, 7, 1]

    /// The totals plus the deltas not folded yet: a few hundred rows whatever the fleet size.
    public static let readQuery: PostgresQuery = """
        SELECT subject, kind, state, sum(n)::int8 AS n FROM (
            SELECT subject, kind, state, n FROM state_counts
            UNION ALL SELECT subject, kind, state, delta FROM state_count_deltas) AS s
        GROUP BY subject, kind, state ORDER BY subject, kind, state
        """

    public static let expiringQuery: PostgresQuery = """
        SELECT sum(n) FILTER (WHERE hour < now() + interval '30 days')::int8 AS d30,
               sum(n) FILTER (WHERE hour < now() + interval '7 days')::int8 AS d7,
               sum(n) FILTER (WHERE hour < now() + interval '1 day')::int8 AS d1
        FROM (SELECT hour, n FROM expiry_buckets WHERE hour >= date_trunc('hour', now()) AND hour < now() + interval '30 days'
              UNION ALL SELECT hour, delta FROM expiry_bucket_deltas
              WHERE hour >= date_trunc('hour', now()) AND hour < now() + interval '30 days') AS b
        """

    /// Both bounded by what is pending, never by the fleet: the partial indexes of unpublished
    /// outbox rows and of certificates due for renewal.
    public static let backlogQuery: PostgresQuery = """
        SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)::int8 AS outbox,
               (SELECT count(*) FROM certificates WHERE source = 'acme' AND state IN ('valid', 'expired')
                  AND deleted_at IS NULL AND renew_at <= now())::int8 AS due
        """

    public static func read(_ db: PostgresClient) async throws -> Snapshot {
        var snapshot = Snapshot()
        for row in try await db.query(readQuery) {
            let kind = try row.decode(String.self, "kind"), state = try row.decode(String.self, "state")
            let n = try row.decode(Int.self, "n")
            switch try row.decode(String.self, "subject") {
            case "certificates": if n != 0 { snapshot.certificates[state] = n }
            default: snapshot.jobs[kind, default: [:]][state] = n
            }
        }
        if let row = try await db.query(expiringQuery).first {
            for days in expiringWindows { snapshot.expiring[days] = try row.decode(Int?.self, "d\(days)") ?? 0 }
        }
        if let row = try await db.query(backlogQuery).first {
            snapshot.outboxUnpublished = try row.decode(Int.self, "outbox")
            snapshot.renewalsDue = try row.decode(Int.self, "due")
        }
        return snapshot
    }

    /// Moves up to LIMIT deltas of each kind into the totals (one short transaction each;
    /// concurrent folds skip each other's rows) and drops the buckets of hours gone by.
    /// Returns how many deltas it folded.
    @discardableResult
    public static func fold(_ db: PostgresClient, limit: Int = 10_000) async throws -> Int {
        let counts = try await db.query("""
            WITH taken AS (
                DELETE FROM state_count_deltas WHERE id = ANY(ARRAY(
                    SELECT id FROM state_count_deltas ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                RETURNING subject, kind, state, delta),
            summed AS (SELECT subject, kind, state, sum(delta) AS n, count(*) AS rows FROM taken GROUP BY subject, kind, state),
            applied AS (
                INSERT INTO state_counts (subject, kind, state, n) SELECT subject, kind, state, n FROM summed
                ON CONFLICT (subject, kind, state) DO UPDATE SET n = state_counts.n + excluded.n)
            SELECT coalesce(sum(rows), 0)::int8 AS folded FROM summed
            """).first?.decode(Int.self, "folded") ?? 0
        let buckets = try await db.query("""
            WITH taken AS (
                DELETE FROM expiry_bucket_deltas WHERE id = ANY(ARRAY(
                    SELECT id FROM expiry_bucket_deltas ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                RETURNING hour, delta),
            summed AS (SELECT hour, sum(delta) AS n, count(*) AS rows FROM taken GROUP BY hour),
            applied AS (
                INSERT INTO expiry_buckets (hour, n) SELECT hour, n FROM summed
                ON CONFLICT (hour) DO UPDATE SET n = expiry_buckets.n + excluded.n)
            SELECT coalesce(sum(rows), 0)::int8 AS folded FROM summed
            """).first?.decode(Int.self, "folded") ?? 0
        // A bucket of an hour gone by counts in no window. Its deltas stay until folded, so
        // late -1s (a renewal of a certificate past its end) still meet their +1.
        try await db.query("DELETE FROM expiry_buckets WHERE hour < now() - interval '2 days'")
        return counts + buckets
    }
}
