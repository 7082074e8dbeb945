import CertFleetCore
import Foundation
import Postgres

/// A delivery target as the API shows it: never its secret, only whether it has one.
public struct DeliveryTarget: Sendable, Equatable {
    public let id: UUID
    public let projectID: UUID
    public let name: String
    public let kind: DeliveryTargetKind
    /// Non-secret settings (paths, URLs, commands).
    public let config: [String: String]
    public let hasSecret: Bool
    public let createdAt: Date
}

/// What a new target is made of (already checked by the caller).
public struct NewDeliveryTarget: Sendable {
    public var name: String
    public var kind: DeliveryTargetKind
    public var config: [String: String]
    /// A webhook's HMAC key: sealed at rest, never shown again.
    public var secret: String?

    public init(name: String, kind: DeliveryTargetKind, config: [String: String], secret: String?) {
        self.name = name
        self.kind = kind
        self.config = config
        self.secret = secret
    }
}

/// `delivery_targets`: one project's targets; every lookup is filtered by the project,
/// so another project's target is "not found", never "forbidden".
public struct Targets: Sendable {
    let db: Database
    let sealer: KeySealer

    public init(db: Database, sealer: KeySealer) {
        self.db = db
        self.sealer = sealer
    }

    /// The AAD of a target's sealed secret: a secret copied to another row does not open.
    public static func secretContext(target: UUID) -> String { "delivery-target:\(target.uuidString.lowercased())" }

    static let columns = "id, project_id, name, kind, config::text AS config, (secret_sealed IS NOT NULL) AS has_secret, created_at"

    public func create(project: UUID, _ target: NewDeliveryTarget) async throws -> DeliveryTarget {
        let id = UUID()
        let sealed = try target.secret.map { try sealer.seal(Array($0.utf8), context: Self.secretContext(target: id)) }
        let rows = try await db.query(
            """
            INSERT INTO delivery_targets (id, project_id, name, kind, config, secret_sealed, master_key_id)
            VALUES (\(id), \(project), \(target.name), \(target.kind.rawValue), \(try PostgresJSON(encoding: target.config)),
                    \(sealed.map { PostgresBytes($0.sealed) }), \(sealed?.keyID))
            ON CONFLICT DO NOTHING
            RETURNING \(unescaped: Self.columns)
            """)
        guard let row = rows.first else { throw StoreError.targetNameTaken(target.name) }
        return try Self.decode(row)
    }

    public func list(project: UUID) async throws -> [DeliveryTarget] {
        try await db.query(
            """
            SELECT \(unescaped: Self.columns) FROM delivery_targets WHERE project_id = \(project) AND deleted_at IS NULL ORDER BY name
            """
        ).map(Self.decode)
    }

    /// By uuid or name, within PROJECT.
    public func require(project: UUID, reference: String) async throws -> DeliveryTarget {
        let rows: PostgresRows
        if let id = UUID(uuidString: reference) {
            rows = try await db.query(
                """
                SELECT \(unescaped: Self.columns) FROM delivery_targets WHERE project_id = \(project) AND id = \(id) AND deleted_at IS NULL
                """)
        } else {
            rows = try await db.query(
                """
                SELECT \(unescaped: Self.columns) FROM delivery_targets WHERE project_id = \(project) AND name = \(reference) AND deleted_at IS NULL
                """)
        }
        guard let row = rows.first else { throw StoreError.targetNotFound(reference) }
        return try Self.decode(row)
    }

    /// Refused while a binding names the target; the row stays (deliveries refer to it), hidden.
    public func delete(project: UUID, reference: String) async throws {
        let target = try await require(project: project, reference: reference)
        try await db.transaction { tx in
            _ = try await tx.query("SELECT id FROM delivery_targets WHERE id = \(target.id) FOR UPDATE")
            let users = try await tx.query(
                """
                SELECT c.name || '/' || b.consumer AS binding FROM bindings b JOIN certificates c ON c.id = b.certificate_id
                WHERE b.target_id = \(target.id) ORDER BY 1
                """
            ).map { try $0.decode(String.self, "binding") }
            guard users.isEmpty else { throw StoreError.targetInUse(bindings: users) }
            try await tx.query("UPDATE delivery_targets SET deleted_at = now(), secret_sealed = NULL, master_key_id = NULL WHERE id = \(target.id)")
        }
    }

    /// The opened secret of target ID (nil when it has none).
    public func secret(target id: UUID) async throws -> [UInt8]? {
        guard let row = try await db.query("SELECT secret_sealed, master_key_id FROM delivery_targets WHERE id = \(id)").first,
            let sealed = try row.decode(PostgresBytes?.self, "secret_sealed"), let keyID = try row.decode(String?.self, "master_key_id")
        else { return nil }
        return try sealer.open(sealed.bytes, keyID: keyID, context: Self.secretContext(target: id))
    }

    static func decode(_ row: PostgresRow) throws -> DeliveryTarget {
        let kind = try row.decode(String.self, "kind")
        guard let parsed = DeliveryTargetKind(rawValue: kind) else { throw PostgresError.decoding("unknown target kind \(kind)") }
        return DeliveryTarget(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"), name: try row.decode(String.self, "name"),
            kind: parsed, config: (try? PostgresJSON(text: row.decode(String.self, "config")).decode([String: String].self)) ?? [:],
            hasSecret: try row.decode(Bool.self, "has_secret"), createdAt: try row.decode(Date.self, "created_at"))
    }
}
