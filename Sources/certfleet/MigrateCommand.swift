import ArgumentParser
import CertFleetOptions
import Foundation
import Store

/// `certfleet migrate`: applies schemas/migrations/*.sql in order, once.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (safe to run concurrently; a no-op when current).")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Directory of NNNN_name.sql files (env CERTFLEET_MIGRATIONS_DIR; default schemas/migrations).")
    var migrations: String?

    func run() async throws {
        let directory = try Migrator.locateDirectory(explicit: migrations)
        let db = database.makeClient(applicationName: "certfleet-migrate")
        do {
            let applied = try await Migrator(db: db, migrations: try Migrator.load(from: directory)).migrate()
            print(
                applied.isEmpty
                    ? "database is up to date"
                    : "applied \(applied.count) migration(s): \(applied.map { "\($0.version)_\($0.name)" }.joined(separator: ", "))")
            await db.shutdown()
        } catch {
            await db.shutdown()
            throw error
        }
    }
}
