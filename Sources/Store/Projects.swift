import Foundation
import Postgres

/// Tenants: every certificate, job and API key belongs to one project.
public enum Projects {
    public struct Project: Sendable {
        public let id: UUID
        public let name: String
        public let createdAt: Date
    }

    /// The project named NAME, created when missing (the operator's CLI).
    public static func ensure(_ db: PostgresClient, name: String) async throws -> UUID {
        if let existing = try await db.query("SELECT id FROM projects WHERE name = \(name)").first {
            return try existing.decode(UUID.self, "id")
        }
        // Two concurrent callers: the loser's insert does nothing and it reads the winner's row.
        try await db.query("INSERT INTO projects (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING")
        return try await db.query("SELECT id FROM projects WHERE name = \(name)").first!.decode(UUID.self, "id")
    }

    /// The id of the project named NAME.
    public static func id(_ db: PostgresClient, name: String) async throws -> UUID? {
        try await db.query("SELECT id FROM projects WHERE name = \(name)").first?.decode(UUID.self, "id")
    }

    /// A new project named NAME; nil when the name is taken.
    public static func create(_ db: PostgresClient, name: String) async throws -> Project? {
        guard
            let row = try await db.query(
                """
                INSERT INTO projects (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING RETURNING id, created_at
                """
            ).first
        else { return nil }
        return Project(id: try row.decode(UUID.self, "id"), name: name, createdAt: try row.decode(Date.self, "created_at"))
    }

    /// The project the Unit socket manages: created for it (marked `unit_socket`) when
    /// missing; nil when a project of that name exists that was not created for it.
    public static func unitSocketProject(_ db: PostgresClient, name: String) async throws -> UUID? {
        try await db.query("INSERT INTO projects (name, unit_socket) VALUES (\(name), true) ON CONFLICT (name) DO NOTHING")
        return try await db.query("SELECT id FROM projects WHERE name = \(name) AND unit_socket").first?.decode(UUID.self, "id")
    }
}
