import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// The constraints the job protocol relies on, proven against the real schema.
@Suite("Schema constraints")
struct SchemaConstraintTests {
    /// A migrated scratch database with one project and one certificate.
    struct Fixture {
        let scratch: ScratchDatabase
        let db: PostgresClient
        let project: UUID
        let certificate: UUID

        static func make() async throws -> Fixture {
            let scratch = try await ScratchDatabase.create()
            let db = try await scratch.migratedClient(maxConnections: 2)
            let project = try await db.query("INSERT INTO projects (name) VALUES ('p') RETURNING id").first!.decode(UUID.self, "id")
            let certificate = try await db.query(
                """
                INSERT INTO certificates (project_id, name, source) VALUES (\(project), 'web', 'uploaded') RETURNING id
                """
            ).first!.decode(UUID.self, "id")
            return Fixture(scratch: scratch, db: db, project: project, certificate: certificate)
        }

        func tearDown() async {
            await db.shutdown()
            await scratch.drop()
        }
    }

    @Test func aNameIsUniquePerProjectUntilDeleted() async throws {
        let f = try await Fixture.make()
        let error = await #expect(throws: PostgresError.self) {
            try await f.db.query("INSERT INTO certificates (project_id, name, source) VALUES (\(f.project), 'web', 'uploaded')")
        }
        #expect(error?.sqlState == .uniqueViolation)
        #expect(error?.constraint == "certificates_project_name")
        try await f.db.query("UPDATE certificates SET state = 'deleted', deleted_at = now() WHERE id = \(f.certificate)")
        try await f.db.query("INSERT INTO certificates (project_id, name, source) VALUES (\(f.project), 'web', 'uploaded')")
        await f.tearDown()
    }

    @Test func oneUnfinishedJobPerCertificateAndKind() async throws {
        let f = try await Fixture.make()
        let insert: PostgresQuery =
            "INSERT INTO jobs (project_id, certificate_id, kind) VALUES (\(f.project), \(f.certificate), 'validate') RETURNING id"
        let first = try await f.db.query(insert).first!.decode(UUID.self, "id")
        let error = await #expect(throws: PostgresError.self) { try await f.db.query(insert) }
        #expect(error?.constraint == "jobs_one_active_per_kind")
        // Another kind is fine; a finished job frees the slot.
        try await f.db.query("INSERT INTO jobs (project_id, certificate_id, kind) VALUES (\(f.project), \(f.certificate), 'delete')")
        try await f.db.query("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = \(first)")
        try await f.db.query(insert)
        await f.tearDown()
    }

    @Test func idempotencyKeysAreUniquePerProject() async throws {
        let f = try await Fixture.make()
        try await f.db.query(
            """
            INSERT INTO jobs (project_id, certificate_id, kind, idempotency_key) VALUES (\(f.project), \(f.certificate), 'validate', 'k1')
            """)
        let error = await #expect(throws: PostgresError.self) {
            try await f.db.query(
                """
                INSERT INTO jobs (project_id, certificate_id, kind, idempotency_key) VALUES (\(f.project), \(f.certificate), 'renew', 'k1')
                """)
        }
        #expect(error?.constraint == "jobs_idempotency")
        await f.tearDown()
    }

    @Test func statesAndLeasesAreChecked() async throws {
        let f = try await Fixture.make()
        let badState = await #expect(throws: PostgresError.self) {
            try await f.db.query("UPDATE certificates SET state = 'bogus' WHERE id = \(f.certificate)")
        }
        #expect(badState?.sqlState == .checkViolation)
        // A running job must carry its lease; a finished one its finish time.
        let job = try await f.db.query(
            """
            INSERT INTO jobs (project_id, certificate_id, kind) VALUES (\(f.project), \(f.certificate), 'validate') RETURNING id
            """
        ).first!.decode(UUID.self, "id")
        let noLease = await #expect(throws: PostgresError.self) {
            try await f.db.query("UPDATE jobs SET state = 'running' WHERE id = \(job)")
        }
        #expect(noLease?.sqlState == .checkViolation)
        let noFinish = await #expect(throws: PostgresError.self) {
            try await f.db.query("UPDATE jobs SET state = 'failed' WHERE id = \(job)")
        }
        #expect(noFinish?.sqlState == .checkViolation)
        await f.tearDown()
    }

    @Test func versionsBelongToAnExistingCertificate() async throws {
        let f = try await Fixture.make()
        let error = await #expect(throws: PostgresError.self) {
            try await f.db.query("INSERT INTO certificate_versions (certificate_id, version, chain_pem) VALUES (\(UUID()), 1, 'x')")
        }
        #expect(error?.sqlState == .foreignKeyViolation)
        await f.tearDown()
    }
}
