import Foundation
import Postgres

/// Tenants: every certificate, job and API key belongs to one project.
public enum Projects {
    /// The project named NAME, created when missing.
    public static func ensure(_ db: PostgresClient, name: String) async throws -> UUID {
        if let existing = try await db.query("SELECT id FROM projects WHERE name = \(name)").first {
            return try existing.decode(UUID.self, "id")
        }
        // Two concurrent callers: the loser's insert does nothing and it reads the winner's row.
        try await db.query("INSERT INTO projects (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING")
        return try await db.query("SELECT id FROM projects WHERE name = \(name)").first!.decode(UUID.self, "id")
    }
}
