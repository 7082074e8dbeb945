import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// What the triggers keep current instead of counting per scrape (`state_counts`,
/// `expiry_buckets`, `certificates.valid_until`) agrees with a recount of the tables after
/// every kind of change a certificate goes through: made valid, renewing, a new version over
/// an old one, an end moved by hand, expired, revoked, deleted. Before migration 0021 a new
/// version over an old one left the certificate counted in its old version's hour as well, and
/// a revoked certificate counted as expiring.
@Suite("Maintained counts")
struct MaintainedCountsTests {
    static let certificates = 300

    /// Rows where the maintained value (totals plus deltas not folded yet) and a recount disagree.
    struct Mismatches: Equatable, CustomStringConvertible {
        var states = 0, hours = 0, validUntil = 0
        var description: String { "states \(states), expiry hours \(hours), valid_until \(validUntil)" }
    }

    static func mismatches(_ db: PostgresClient) async throws -> Mismatches {
        let row = try await db.query(
            """
            SELECT
              (SELECT count(*) FROM (
                  SELECT state, sum(n) AS n FROM (
                      SELECT state, n FROM state_counts WHERE subject = 'certificates'
                      UNION ALL SELECT state, delta FROM state_count_deltas WHERE subject = 'certificates') s
                  GROUP BY state HAVING sum(n) <> 0) d
               FULL JOIN (SELECT state, count(*) AS n FROM certificates WHERE deleted_at IS NULL GROUP BY state) t
               USING (state) WHERE d.n IS DISTINCT FROM t.n)::int8 AS states,
              (SELECT count(*) FROM (
                  SELECT hour, sum(n) AS n FROM (
                      SELECT hour, n FROM expiry_buckets UNION ALL SELECT hour, delta FROM expiry_bucket_deltas) b
                  GROUP BY hour HAVING sum(n) <> 0) d
               FULL JOIN (
                  SELECT date_trunc('hour', v.not_after) AS hour, count(*) AS n
                  FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                  WHERE c.deleted_at IS NULL AND c.state <> 'revoked' AND v.state = 'valid' GROUP BY 1) t
               USING (hour) WHERE d.n IS DISTINCT FROM t.n)::int8 AS hours,
              (SELECT count(*) FROM certificates c
               LEFT JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
               WHERE c.valid_until IS DISTINCT FROM (CASE WHEN v.state = 'valid' THEN v.not_after END))::int8 AS valid_until
            """
        ).first!
        return Mismatches(
            states: try row.decode(Int.self, "states"), hours: try row.decode(Int.self, "hours"),
            validUntil: try row.decode(Int.self, "valid_until"))
    }

    /// Makes version VERSION of the certificates in RANGE (`n` of their names) current and
    /// valid, the one it replaces superseded, in the two statements a job's commit uses.
    static func makeCurrent(_ db: PostgresClient, version: Int32, where range: ClosedRange<Int>, days: Int) async throws {
        try await db.transaction { tx in
            try await tx.query(
                """
                UPDATE certificate_versions v SET state = CASE WHEN v.version = \(version) THEN 'valid' ELSE 'superseded' END,
                       not_after = CASE WHEN v.version = \(version)
                                        THEN now() + make_interval(days => \(Int32(days)) + (c.n % 48)) ELSE v.not_after END
                FROM (SELECT id, substr(name, 2)::int AS n FROM certificates) c
                WHERE v.certificate_id = c.id AND c.n BETWEEN \(Int32(range.lowerBound)) AND \(Int32(range.upperBound))
                  AND (v.version = \(version) OR v.state = 'valid')
                """)
            try await tx.query(
                """
                UPDATE certificates SET state = 'valid', current_version = \(version), version = version + 1
                WHERE substr(name, 2)::int BETWEEN \(Int32(range.lowerBound)) AND \(Int32(range.upperBound))
                """)
        }
    }

    @Test func triggersAgreeWithARecountThroughEveryKindOfChange() async throws {
        try await ScratchDatabase.withMigratedClient(maxConnections: 2) { db in
            let project = try await Projects.ensure(db, name: "counts")
            try await db.query(
                """
                WITH made AS (
                    INSERT INTO certificates (project_id, name, source) SELECT \(project), 'c' || n, 'acme'
                    FROM generate_series(1, \(Int32(Self.certificates))) n RETURNING id)
                INSERT INTO certificate_versions (certificate_id, version, chain_pem, state)
                SELECT id, v, 'PEM', 'pending' FROM made, generate_series(1, 2) v
                """)
            var steps: [(String, Mismatches)] = [("created", try await Self.mismatches(db))]
            try await Self.makeCurrent(db, version: 1, where: 1...250, days: 60)
            steps.append(("version 1 valid", try await Self.mismatches(db)))
            try await db.query("UPDATE certificates SET state = 'renewing', version = version + 1 WHERE substr(name, 2)::int BETWEEN 1 AND 150")
            steps.append(("renewing", try await Self.mismatches(db)))
            try await Self.makeCurrent(db, version: 2, where: 1...100, days: 90)
            steps.append(("version 2 over 1", try await Self.mismatches(db)))
            try await db.query(
                """
                UPDATE certificate_versions v SET not_after = v.not_after + interval '3 days' FROM certificates c
                WHERE v.certificate_id = c.id AND v.version = c.current_version AND substr(c.name, 2)::int % 7 = 0
                """)
            steps.append(("end moved", try await Self.mismatches(db)))
            try await db.query("UPDATE certificates SET state = 'expired' WHERE substr(name, 2)::int BETWEEN 200 AND 230")
            steps.append(("expired", try await Self.mismatches(db)))
            try await db.query("UPDATE certificates SET state = 'revoked' WHERE substr(name, 2)::int BETWEEN 90 AND 110")
            steps.append(("revoked", try await Self.mismatches(db)))
            try await db.query(
                "UPDATE certificates SET state = 'deleted', deleted_at = now() WHERE substr(name, 2)::int % 5 = 0 OR substr(name, 2)::int > 280")
            steps.append(("deleted", try await Self.mismatches(db)))
            _ = try await StateCounts.fold(db)
            steps.append(("folded", try await Self.mismatches(db)))

            for (step, found) in steps { #expect(found == Mismatches(), "after \(step): \(found)") }
            // The recount saw something to agree on: served certificates in the expiry window.
            let served = try await db.query("SELECT count(*)::int8 AS n FROM certificates WHERE valid_until IS NOT NULL AND deleted_at IS NULL")
                .first!.decode(Int.self, "n")
            #expect(served > 150)
        }
    }
}
