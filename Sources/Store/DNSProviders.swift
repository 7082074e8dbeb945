import Foundation
import Postgres

/// A DNS provider of a project as the API lists it: never its secret.
public struct DNSProviderRecord: Sendable, Equatable {
    public let id: UUID
    public let projectID: UUID
    public let name: String
    /// `rfc2136`, `exec`, `httpreq`, `acme-dns`.
    public let kind: String
    /// The non-secret settings, a JSON object.
    public let config: String
    public let zones: [String]
    public let hasSecret: Bool
    public let createdAt: Date
}

/// The `dns_providers` table. Secrets are sealed (AAD = the provider id), so a blob copied
/// to another provider does not open.
public enum DNSProviders {
    static let columns = "id, project_id, name, kind, config::text AS config, zones, secret_sealed IS NOT NULL AS has_secret, created_at"

    /// Stores a provider; throws `nameTaken` for a duplicate name in the project.
    public static func create(
        _ db: PostgresClient, sealer: KeySealer, id: UUID = UUID(), project: UUID, name: String, kind: String,
        config: String, secret: [UInt8]?, zones: [String]
    ) async throws -> DNSProviderRecord {
        let sealed = try secret.map { try sealer.seal($0, context: KeySealer.dnsProviderSecretContext(provider: id)) }
        guard
            let row = try await db.query(
                """
                INSERT INTO dns_providers (id, project_id, name, kind, config, secret_sealed, master_key_id, zones)
                VALUES (\(id), \(project), \(name), \(kind), \(PostgresJSON(text: config)), \(sealed.map { PostgresBytes($0.sealed) }),
                        \(sealed?.keyID), \(zones))
                ON CONFLICT (project_id, name) DO NOTHING
                RETURNING \(unescaped: columns)
                """
            ).first
        else { throw StoreError.dnsProviderNameTaken(name) }
        return try record(row)
    }

    public static func list(_ db: PostgresClient, project: UUID) async throws -> [DNSProviderRecord] {
        try await db.query("SELECT \(unescaped: columns) FROM dns_providers WHERE project_id = \(project) ORDER BY name").map(record)
    }

    /// Deletes provider NAME of PROJECT; throws `dnsProviderNotFound` when there is none.
    public static func delete(_ db: PostgresClient, project: UUID, name: String) async throws {
        guard try await db.query("DELETE FROM dns_providers WHERE project_id = \(project) AND name = \(name) RETURNING id").count > 0 else {
            throw StoreError.dnsProviderNotFound(name)
        }
    }

    /// Provider NAME of PROJECT with its secret opened (for the worker and the test action).
    public static func load(_ db: PostgresClient, sealer: KeySealer, project: UUID, name: String) async throws -> (DNSProviderRecord, [UInt8]?) {
        guard
            let row = try await db.query(
                """
                SELECT \(unescaped: columns), secret_sealed, master_key_id FROM dns_providers WHERE project_id = \(project) AND name = \(name)
                """
            ).first
        else { throw StoreError.dnsProviderNotFound(name) }
        let record = try record(row)
        guard let sealed = try row.decode(PostgresBytes?.self, "secret_sealed"), let keyID = try row.decode(String?.self, "master_key_id") else {
            return (record, nil)
        }
        return (record, try sealer.open(sealed.bytes, keyID: keyID, context: KeySealer.dnsProviderSecretContext(provider: record.id)))
    }

    /// Replaces the sealed secret (acme-dns: the credentials a registration returned).
    public static func replaceSecret(_ db: PostgresClient, sealer: KeySealer, provider: UUID, secret: [UInt8]) async throws {
        let sealed = try sealer.seal(secret, context: KeySealer.dnsProviderSecretContext(provider: provider))
        try await db.query(
            """
            UPDATE dns_providers SET secret_sealed = \(PostgresBytes(sealed.sealed)), master_key_id = \(sealed.keyID) WHERE id = \(provider)
            """)
    }

    /// The project's zone map: (zone pattern, provider name) for every zone of every provider.
    public static func zoneMap(_ db: PostgresClient, project: UUID) async throws -> [(zone: String, provider: String)] {
        try await db.query(
            """
            SELECT name, unnest(zones) AS zone FROM dns_providers WHERE project_id = \(project) ORDER BY name
            """
        ).map { (try $0.decode(String.self, "zone"), try $0.decode(String.self, "name")) }
    }

    static func record(_ row: PostgresRow) throws -> DNSProviderRecord {
        DNSProviderRecord(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"), name: try row.decode(String.self, "name"),
            kind: try row.decode(String.self, "kind"), config: try row.decode(String.self, "config"), zones: try row.decode([String].self, "zones"),
            hasSecret: try row.decode(Bool.self, "has_secret"), createdAt: try row.decode(Date.self, "created_at"))
    }
}
