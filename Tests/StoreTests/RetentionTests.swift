import CertFleetCore
import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// Retention against the real schema: what a year of operation left is deleted by age and
/// kind, two schedulers sharing the work delete each row once, and nothing still needed
/// (unpublished messages, unfinished jobs, current versions, recent rows) is touched.
@Suite("Retention")
struct RetentionTests {
    static let certificates = 2_000

    struct Counts: Equatable {
        var outbox = 0, jobs = 0, events = 0, versions = 0
    }

    static func counts(_ db: PostgresClient) async throws -> Counts {
        let row = try await db.query(
            """
            SELECT (SELECT count(*) FROM outbox)::int8 AS o, (SELECT count(*) FROM jobs)::int8 AS j,
                   (SELECT count(*) FROM events)::int8 AS e, (SELECT count(*) FROM certificate_versions)::int8 AS v
            """
        ).first!
        return Counts(
            outbox: try row.decode(Int.self, "o"), jobs: try row.decode(Int.self, "j"),
            events: try row.decode(Int.self, "e"), versions: try row.decode(Int.self, "v"))
    }

    @Test func twoSchedulersDeleteWhatThePolicyNoLongerKeepsOnceAndNothingElse() async throws {
        try await ScratchDatabase.withMigratedClient(maxConnections: 6) { db in
            let keep = try await Projects.ensure(db, name: "default-retention")
            let short = try await Projects.ensure(db, name: "short-events")
            // `short` keeps events 30 days, and versions 500 days (longer than the default): one walk
            // over all projects' versions must leave this project's old ones.
            try await db.query("UPDATE projects SET event_retention_days = 30, version_retention_days = 500 WHERE id = \(short)")
            let template = ScaleSeed.Template(chainPEM: "PEM", sealedKey: [1, 2, 3], masterKeyID: "k", detailsJSON: "{}")
            try await ScaleSeed(db: db, projects: [keep, short], template: template).seed(from: 0, to: Self.certificates)
            // Old but still needed: an unpublished message and a running job.
            try await db.query("UPDATE outbox SET published_at = NULL WHERE id = (SELECT min(id) FROM outbox)")
            let running = try await db.query(
                """
                UPDATE jobs SET state = 'running', finished_at = NULL, lease_owner = 'w', lease_expires_at = now()
                WHERE id = (SELECT id FROM jobs WHERE kind <> 'renew' ORDER BY finished_at LIMIT 1) RETURNING id
                """
            ).first!.decode(UUID.self, "id")
            let before = try await Self.counts(db)
            let pending = Self.certificates / 500 // seeded `pending`: one version, one job, no events

            // outbox 1 day, jobs 90 days, events 365 days (30 for `short`), versions 90 days.
            var policy = RetentionPolicy.defaults
            policy.batchSize = 100
            async let first = Retention(db: db, policy: policy).run(maxBatches: 10_000)
            async let second = Retention(db: db, policy: policy).run(maxBatches: 10_000)
            let reports = try await [first, second]
            let after = try await Self.counts(db)

            // Every seeded outbox row is published long ago except the one left unpublished.
            #expect(after.outbox == 1)
            // The first job of each certificate finished 400 days ago (all but the running one go);
            // the renewals finished 70 days ago and stay.
            #expect(after.jobs == Self.certificates - pending + 1)
            // Events: 400, 250 and 100 days old; the default keeps the last two, `short` none.
            let withEvents = { (project: Int) in (0..<Self.certificates).filter { $0 % 2 == project && $0 % 500 != 11 }.count }
            #expect(after.events == withEvents(0) * 2)
            // Versions: the superseded first versions (created 400 days ago) go, the current ones stay;
            // a pending certificate's only version is not current either (it failed long ago).
            // `short` (odd certificates) keeps its first versions for 500 days.
            let shortFirstVersions = (0..<Self.certificates).filter { $0 % 2 == 1 }.count
            #expect(after.versions == Self.certificates - pending + shortFirstVersions)
            #expect(
                try await db.query(
                    """
                    SELECT count(*)::int8 AS n FROM certificates c
                    WHERE c.current_version IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM certificate_versions v WHERE v.certificate_id = c.id AND v.version = c.current_version)
                    """
                ).first!.decode(Int.self, "n") == 0)
            #expect(try await db.query("SELECT state FROM jobs WHERE id = \(running)").first?.decode(String.self, "state") == "running")
            // Shared, not repeated: the two reports add up to exactly what disappeared, and both took part.
            let deleted = RetentionReport.sum(reports)
            #expect(deleted.outbox == before.outbox - after.outbox)
            #expect(deleted.jobs == before.jobs - after.jobs)
            #expect(deleted.events == before.events - after.events)
            #expect(deleted.versions == before.versions - after.versions)
            #expect(reports.allSatisfy { $0.total > 0 }, "\(reports)")
            // Events that named a deleted job keep the event without the link.
            #expect(
                try await db.query(
                    """
                    SELECT count(*)::int8 AS n FROM events e WHERE e.job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = e.job_id)
                    """
                ).first!.decode(Int.self, "n") == 0)
            // A second pass finds nothing left to do.
            #expect(try await Retention(db: db, policy: policy).run().total == 0)
        }
    }

    @Test(arguments: [
        ([:], RetentionPolicy.defaults),
        (
            ["CERTFLEET_RETENTION_OUTBOX_DAYS": "0.5", "CERTFLEET_RETENTION_EVENTS_DAYS": "off", "CERTFLEET_RETENTION_BATCH": "50"],
            RetentionPolicy(
                publishedOutbox: .seconds(43_200), finishedJobs: .seconds(90 * 86_400), events: nil,
                retiredVersions: .seconds(90 * 86_400), batchSize: 50)
        ),
    ])
    func thePolicyReadsItsVariables(environment: [String: String], expected: RetentionPolicy) throws {
        #expect(try RetentionPolicy.from(environment: environment) == expected)
    }

    @Test(arguments: ["0", "-1", "ten", "40000"])
    func aRetentionThatIsNotAPositiveNumberOfDaysIsRefused(value: String) {
        #expect(throws: RetentionPolicyError.invalid(variable: "CERTFLEET_RETENTION_JOBS_DAYS", value: value)) {
            try RetentionPolicy.from(environment: ["CERTFLEET_RETENTION_JOBS_DAYS": value])
        }
    }
}
