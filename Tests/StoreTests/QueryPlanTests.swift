import CertFleetCore
import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// Issue 20's "queries that cannot regress": every hot query (`QueryCatalog`, built by the
/// functions the code runs) is EXPLAINed against 100,000 seeded certificates (≈ 1 million
/// rows over all tables) and none may read `certificates`, `certificate_versions`, `jobs`,
/// `events` or `outbox` sequentially.
@Suite("Query plans at 100k certificates")
struct QueryPlanTests {
    static let certificates = 100_000

    @Test func noHotQueryScansALargeTableSequentially() async throws {
        try await ScratchDatabase.withMigratedClient(maxConnections: 2) { db in
            var projects: [UUID] = []
            for name in ["p0", "p1", "p2", "p3"] { projects.append(try await Projects.ensure(db, name: name)) }
            let template = ScaleSeed.Template(
                chainPEM: "-----BEGIN CERTIFICATE-----\nseed\n-----END CERTIFICATE-----\n",
                sealedKey: Array(repeating: 7, count: 120), masterKeyID: "seed", detailsJSON: "{}")
            let start = ContinuousClock.now
            let rows = try await ScaleSeed(db: db, projects: projects, template: template).seed(from: 0, to: Self.certificates)
            try await ScaleSeed.rebuildCounts(db)
            // Work in flight, as a live installation has it: queued and running jobs, unpublished messages.
            try await db.query(
                """
                UPDATE jobs SET state = 'queued', finished_at = NULL WHERE id IN (SELECT id FROM jobs WHERE kind = 'renew' LIMIT 50);
                """)
            try await db.query("UPDATE outbox SET published_at = NULL WHERE id IN (SELECT id FROM outbox ORDER BY id DESC LIMIT 50)")
            try await db.query("ANALYZE")
            print("seeded \(rows) rows in \(ContinuousClock.now - start)")
            #expect(rows > 10 * Self.certificates)

            let i = 4242
            let sample = QueryCatalog.Sample(
                project: projects[i % projects.count],
                certificate: try await db.query("SELECT id FROM certificates WHERE name = \(ScaleSeed.name(i))").first!.decode(UUID.self, "id"),
                name: ScaleSeed.name(i), commonName: ScaleSeed.commonName(i), host: ScaleSeed.commonName(i),
                job: try await db.query("SELECT id FROM jobs WHERE state = 'queued' LIMIT 1").first!.decode(UUID.self, "id"),
                idempotencyKey: "seed-\(i)", expiresBefore: Date().addingTimeInterval(3 * 86400))
            let entries = QueryCatalog.entries(sample)
            #expect(entries.count >= 35)
            print("explaining \(entries.count) hot queries")
            for entry in entries {
                let plan = try await QueryCatalog.plan(db, entry.query)
                #expect(!plan.isEmpty, "\(entry.name): no plan")
                let scans = QueryCatalog.largeTableScans(plan)
                #expect(scans.isEmpty, "\(entry.name) scans \(scans) sequentially: \(plan.map { "\($0.type) \($0.relation ?? "")" })")
            }
            // The check itself can fail: a query no index serves is caught.
            let unindexed: PostgresQuery = "SELECT id FROM certificates WHERE common_name LIKE '%.z7.example.net'"
            #expect(QueryCatalog.largeTableScans(try await QueryCatalog.plan(db, unindexed)) == ["certificates"])
        }
    }
}
