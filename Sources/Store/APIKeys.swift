import Foundation
import Postgres
import X509

/// API keys: `cf_` plus 32 random bytes in base64url, shown once; only SHA-256 of
/// the whole secret is stored, with its first characters to recognise it in lists.
public enum APIKeys {
    public static let scopes = ["certificates:read", "certificates:write", "keys:export", "admin", system]
    /// Creates projects; only keys made with `certfleet keys create --system` hold it.
    public static let system = "system"
    /// What a new project's first key gets: everything inside the project.
    public static let projectAdminScopes = ["admin", "certificates:read", "certificates:write", "keys:export"]

    public struct Key: Sendable, Equatable {
        public let id: UUID
        public let projectID: UUID
        public let name: String
        public let prefix: String
        public let scopes: [String]
        public let createdAt: Date
        public let lastUsedAt: Date?
    }

    public static func hash(_ secret: String) -> [UInt8] { Digest.sha256(Array(secret.utf8)) }

    /// Creates a key; returns it and the secret (never stored).
    public static func create(_ db: PostgresClient, project: UUID, name: String, scopes: [String]) async throws -> (key: Key, secret: String) {
        let secret = "cf_" + Base64URL.encode(SecureRandom.bytes(32))
        let prefix = String(secret.prefix(10))
        let row = try await db.query(
            """
            INSERT INTO api_keys (project_id, name, prefix, secret_hash, scopes)
            VALUES (\(project), \(name), \(prefix), \(PostgresBytes(hash(secret))), \(scopes))
            RETURNING id, project_id, name, prefix, scopes, created_at, last_used_at
            """
        ).first!
        return (try key(row), secret)
    }

    /// The live key whose secret is SECRET.
    public static func authenticate(_ db: PostgresClient, secret: String) async throws -> Key? {
        guard
            let row = try await db.query(
                """
                SELECT id, project_id, name, prefix, scopes, created_at, last_used_at FROM api_keys
                WHERE secret_hash = \(PostgresBytes(hash(secret))) AND revoked_at IS NULL
                """
            ).first
        else { return nil }
        return try key(row)
    }

    /// Records that key ID was used (`last_used_at`); at most once a minute in the table.
    public static func touch(_ db: PostgresClient, id: UUID) async throws {
        try await db.query(
            """
            UPDATE api_keys SET last_used_at = now()
            WHERE id = \(id) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
            """)
    }

    public static func list(_ db: PostgresClient, project: UUID) async throws -> [Key] {
        try await db.query(
            """
            SELECT id, project_id, name, prefix, scopes, created_at, last_used_at FROM api_keys
            WHERE project_id = \(project) AND revoked_at IS NULL ORDER BY created_at, id
            """
        ).map(key)
    }

    /// Revokes key ID of PROJECT; false when there is none.
    public static func revoke(_ db: PostgresClient, project: UUID, id: UUID) async throws -> Bool {
        !(try await db.query(
            """
            UPDATE api_keys SET revoked_at = now() WHERE project_id = \(project) AND id = \(id) AND revoked_at IS NULL RETURNING id
            """
        ).isEmpty)
    }

    static func key(_ row: PostgresRow) throws -> Key {
        Key(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"),
            name: try row.decode(String.self, "name"), prefix: try row.decode(String.self, "prefix"),
            scopes: try row.decode([String].self, "scopes"), createdAt: try row.decode(Date.self, "created_at"),
            lastUsedAt: try row.decode(Date?.self, "last_used_at"))
    }
}
