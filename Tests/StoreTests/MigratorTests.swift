import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// A database of its own for one test, dropped at the end.
struct ScratchDatabase {
    let name: String
    let url: String
    let admin: PostgresClient

    static func create() async throws -> ScratchDatabase {
        let admin = PostgresClient(TestStack.databaseURL, maxConnections: 1)
        let name = "test_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin.query("CREATE DATABASE \(unescaped: name)")
        return ScratchDatabase(name: name, url: PostgresConfiguration.connectionString(TestStack.databaseURL, replacingDatabase: name), admin: admin)
    }

    /// A client on this database with every project migration applied.
    func migratedClient(maxConnections: Int) async throws -> PostgresClient {
        let db = PostgresClient(url, maxConnections: maxConnections)
        try await Migrator(db: db, migrations: try Migrator.load(from: MigratorTests.directory)).migrate()
        return db
    }

    /// Runs BODY with a client on a new, fully migrated database, then shuts the client down
    /// and drops the database, whether BODY threw or not.
    static func withMigratedClient(maxConnections: Int, _ body: (PostgresClient) async throws -> Void) async throws {
        let scratch = try await create()
        let db = try await scratch.migratedClient(maxConnections: maxConnections)
        try await TestStack.using(
            (scratch, db),
            tearDown: {
                await $0.1.shutdown(); await $0.0.drop()
            }
        ) { try await body($0.1) }
    }

    func drop() async {
        _ = try? await admin.query("DROP DATABASE \(unescaped: name) WITH (FORCE)")
        await admin.shutdown()
    }
}

@Suite("Migrations")
struct MigratorTests {
    static let directory = TestStack.root.appendingPathComponent("schemas/migrations")

    @Test func theProjectsMigrationsApplyOnceAndTheSecondRunIsANoOp() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = PostgresClient(scratch.url, maxConnections: 2)
        let migrations = try Migrator.load(from: Self.directory)
        #expect(!migrations.isEmpty)
        let first = try await Migrator(db: db, migrations: migrations).migrate()
        #expect(first.map(\.version) == migrations.map(\.version))
        let second = try await Migrator(db: db, migrations: migrations).migrate()
        #expect(second.isEmpty)
        let tables = try await db.query(
            """
            SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name
            """
        ).map { try $0.decode(String.self, "table_name") }
        for table in [
            "acme_accounts", "acme_challenges", "api_keys", "bindings", "certificate_versions", "certificates",
            "events", "jobs", "outbox", "projects", "schema_migrations",
        ] {
            #expect(tables.contains(table), "missing table \(table)")
        }
        await db.shutdown()
        await scratch.drop()
    }

    @Test func concurrentMigratorsApplyEachMigrationOnce() async throws {
        let scratch = try await ScratchDatabase.create()
        let migrations = try Migrator.load(from: Self.directory)
        let applied = try await withThrowingTaskGroup(of: [Migration].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let db = PostgresClient(scratch.url, maxConnections: 1)
                    defer { Task { await db.shutdown() } }
                    return try await Migrator(db: db, migrations: migrations).migrate()
                }
            }
            return try await group.reduce(into: [Migration]()) { $0 += $1 }
        }
        #expect(applied.map(\.version).sorted() == migrations.map(\.version).sorted())
        let db = PostgresClient(scratch.url, maxConnections: 1)
        #expect(try await Migrator(db: db, migrations: migrations).appliedVersions() == migrations.map(\.version))
        await db.shutdown()
        await scratch.drop()
    }

    /// An installation that applied 0003 before its comment was corrected keeps starting.
    @Test func theChecksumOfA0003AppliedBeforeItsCommentWasFixedIsAccepted() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = try await scratch.migratedClient(maxConnections: 1)
        let migrations = try Migrator.load(from: Self.directory)
        let current = try await db.query("SELECT checksum FROM schema_migrations WHERE version = '0003'").first!.decode(String.self, "checksum")
        let before = "d30d829f4a62c601bd1734c6001f47a3d42776568d50a2452ebbd6a5be9586cc"
        #expect(current != before)
        try await db.query("UPDATE schema_migrations SET checksum = \(before) WHERE version = '0003'")
        #expect(try await Migrator(db: db, migrations: migrations).migrate().isEmpty)
        let replaced = try await db.query("SELECT checksum FROM schema_migrations WHERE version = '0003'").first!.decode(String.self, "checksum")
        #expect(replaced == current)
        // Any other checksum is still an edited migration.
        try await db.query("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0003'")
        await #expect(throws: MigrationError.self) { try await Migrator(db: db, migrations: migrations).migrate() }
        await db.shutdown()
        await scratch.drop()
    }

    @Test func anEditedAppliedMigrationIsRefused() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = PostgresClient(scratch.url, maxConnections: 1)
        let original = [Migration(version: "0001", name: "one", sql: "CREATE TABLE one (id int)")]
        try await Migrator(db: db, migrations: original).migrate()
        let edited = [
            Migration(version: "0001", name: "one", sql: "CREATE TABLE one (id bigint)"),
            Migration(version: "0002", name: "two", sql: "CREATE TABLE two (id int)"),
        ]
        await #expect(throws: MigrationError.checksumMismatch(version: "0001", name: "one")) {
            try await Migrator(db: db, migrations: edited).migrate()
        }
        // Nothing after the mismatch ran.
        #expect(try await Migrator(db: db, migrations: edited).appliedVersions() == ["0001"])
        await db.shutdown()
        await scratch.drop()
    }

    @Test func aFailingMigrationLeavesNothingBehind() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = PostgresClient(scratch.url, maxConnections: 1)
        let broken = [Migration(version: "0001", name: "broken", sql: "CREATE TABLE half (id int); SELECT no_such_function();")]
        await #expect(throws: PostgresError.self) { try await Migrator(db: db, migrations: broken).migrate() }
        #expect(try await db.query("SELECT to_regclass('half') IS NULL AS gone").first!.decode(Bool.self, "gone"))
        #expect(try await Migrator(db: db, migrations: broken).appliedVersions().isEmpty)
        await db.shutdown()
        await scratch.drop()
    }

    @Test func badFileNamesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "SELECT 1".write(to: dir.appendingPathComponent("first.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.badFileName("first.sql")) { try Migrator.load(from: dir) }
    }
}
