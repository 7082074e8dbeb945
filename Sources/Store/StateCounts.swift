import Foundation
import Postgres

/// The cluster-wide counts of `/metrics` (`FleetCounts`), read from state the triggers of migrations 0012 and 0021
/// maintain (`state_counts` + `state_count_deltas`, `expiry_buckets` + their deltas), so a
/// scrape or a scheduler tick costs the same at a million certificates as at ten.
public enum StateCounts {
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

    /// The live certificates, every state: the totals plus the deltas not folded yet.
    public static func liveCertificates(_ db: Database) async throws -> Int {
        try await db.query(
            """
            SELECT coalesce(sum(n), 0)::int8 AS n FROM (
                SELECT n FROM state_counts WHERE subject = 'certificates'
                UNION ALL SELECT delta FROM state_count_deltas WHERE subject = 'certificates') AS s
            """
        ).first?.decode(Int.self, "n") ?? 0
    }

    /// Both bounded by what is pending, never by the fleet: the partial indexes of unpublished
    /// outbox rows and of certificates due for renewal.
    public static let backlogQuery: PostgresQuery = """
        SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL)::int8 AS outbox,
               coalesce((SELECT extract(epoch FROM now() - min(deliver_after)) FROM outbox
                         WHERE published_at IS NULL AND deliver_after <= now()), 0)::int8 AS outbox_lag,
               (SELECT count(*) FROM certificates WHERE source = 'acme' AND state IN ('valid', 'expired')
                  AND deleted_at IS NULL AND renew_at <= now())::int8 AS due
        """

    /// Moves up to LIMIT deltas of each kind into the totals (one short transaction each;
    /// concurrent folds skip each other's rows) and drops the buckets of hours gone by.
    /// Returns how many deltas it folded.
    @discardableResult
    public static func fold(_ db: PostgresClient, limit: Int = 10_000) async throws -> Int {
        let counts =
            try await db.query(
                """
                WITH taken AS (
                    DELETE FROM state_count_deltas WHERE id = ANY(ARRAY(
                        SELECT id FROM state_count_deltas ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                    RETURNING subject, kind, state, delta),
                summed AS (SELECT subject, kind, state, sum(delta) AS n, count(*) AS rows FROM taken GROUP BY subject, kind, state),
                applied AS (
                    INSERT INTO state_counts (subject, kind, state, n) SELECT subject, kind, state, n FROM summed
                    ON CONFLICT (subject, kind, state) DO UPDATE SET n = state_counts.n + excluded.n)
                SELECT coalesce(sum(rows), 0)::int8 AS folded FROM summed
                """
            ).first?.decode(Int.self, "folded") ?? 0
        let buckets =
            try await db.query(
                """
                WITH taken AS (
                    DELETE FROM expiry_bucket_deltas WHERE id = ANY(ARRAY(
                        SELECT id FROM expiry_bucket_deltas ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED))
                    RETURNING hour, delta),
                summed AS (SELECT hour, sum(delta) AS n, count(*) AS rows FROM taken GROUP BY hour),
                applied AS (
                    INSERT INTO expiry_buckets (hour, n) SELECT hour, n FROM summed
                    ON CONFLICT (hour) DO UPDATE SET n = expiry_buckets.n + excluded.n)
                SELECT coalesce(sum(rows), 0)::int8 AS folded FROM summed
                """
            ).first?.decode(Int.self, "folded") ?? 0
        // A bucket of an hour gone by counts in no window. Its deltas stay until folded, so
        // late -1s (a renewal of a certificate past its end) still meet their +1.
        try await db.query("DELETE FROM expiry_buckets WHERE hour < now() - interval '2 days'")
        return counts + buckets
    }
}
