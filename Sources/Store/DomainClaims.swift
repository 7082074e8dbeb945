import CertFleetCore
import Foundation
import Postgres
import X509

/// Zones a project claimed and the ones it proved it controls (see `DomainOwnership`).
public enum DomainClaims {
    public struct Claim: Sendable, Equatable {
        public let projectID: UUID
        public let zone: String
        /// The value the TXT record `_certfleet-challenge.<zone>` must hold.
        public let token: String
        public let verifiedAt: Date?
        public let verifiedBy: String?
        public let createdAt: Date
    }

    static let columns = "project_id, zone, token, verified_at, verified_by, created_at"

    /// PROJECT's claim of ZONE (created when missing). Refused when another project verified
    /// ZONE or a zone containing it: only the system scope reassigns (`assign`).
    public static func claim(_ db: PostgresClient, project: UUID, zone: String) async throws -> Claim {
        if let owner = try await verifiedOwner(db, zone: zone), owner.project != project {
            throw StoreError.zoneOwnedElsewhere(zone: owner.zone)
        }
        let token = Base64URL.encode(SecureRandom.bytes(24))
        try await db.query(
            """
            INSERT INTO domain_claims (project_id, zone, token) VALUES (\(project), \(zone), \(token))
            ON CONFLICT (project_id, zone) DO NOTHING
            """)
        return try await find(db, project: project, zone: zone)!
    }

    /// Marks PROJECT's claim of ZONE verified (BY: `dns` or the system key's actor).
    public static func markVerified(_ db: PostgresClient, project: UUID, zone: String, by: String) async throws -> Claim? {
        do {
            try await db.query(
                """
                UPDATE domain_claims SET verified_at = coalesce(verified_at, now()), verified_by = coalesce(verified_by, \(by))
                WHERE project_id = \(project) AND zone = \(zone)
                """)
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw StoreError.zoneOwnedElsewhere(zone: zone)
        }
        return try await find(db, project: project, zone: zone)
    }

    /// The system scope's decision: ZONE belongs to PROJECT, verified, whoever held it before.
    public static func assign(_ db: PostgresClient, project: UUID, zone: String, actor: String) async throws -> Claim {
        try await db.transaction { tx in
            try await tx.query("DELETE FROM domain_claims WHERE zone = \(zone) AND project_id <> \(project) AND verified_at IS NOT NULL")
            try await tx.query(
                """
                INSERT INTO domain_claims (project_id, zone, token, verified_at, verified_by)
                VALUES (\(project), \(zone), \(Base64URL.encode(SecureRandom.bytes(24))), now(), \(actor))
                ON CONFLICT (project_id, zone) DO UPDATE SET verified_at = coalesce(domain_claims.verified_at, now()),
                    verified_by = coalesce(domain_claims.verified_by, excluded.verified_by)
                """)
        }
        return try await find(db, project: project, zone: zone)!
    }

    public static func find(_ db: PostgresClient, project: UUID, zone: String) async throws -> Claim? {
        try await db.query("SELECT \(unescaped: columns) FROM domain_claims WHERE project_id = \(project) AND zone = \(zone)")
            .first.map(claim)
    }

    public static func list(_ db: PostgresClient, project: UUID) async throws -> [Claim] {
        try await db.query("SELECT \(unescaped: columns) FROM domain_claims WHERE project_id = \(project) ORDER BY zone").map(claim)
    }

    /// Removes PROJECT's claim of ZONE; false when there was none.
    public static func release(_ db: PostgresClient, project: UUID, zone: String) async throws -> Bool {
        !(try await db.query("DELETE FROM domain_claims WHERE project_id = \(project) AND zone = \(zone) RETURNING zone").isEmpty)
    }

    /// The names among NAMES that PROJECT may not issue for (one query).
    public static func namesNotOwned(_ db: PostgresClient, project: UUID, names: [String]) async throws -> [String] {
        let zones = Array(Set(names.flatMap(DomainOwnership.zones(containing:))))
        var verified: [String: UUID] = [:]
        for row in try await db.query(
            """
            SELECT zone, project_id FROM domain_claims WHERE verified_at IS NOT NULL AND zone = ANY(\(zones)::text[])
            """)
        {
            verified[try row.decode(String.self, "zone")] = try row.decode(UUID.self, "project_id")
        }
        return DomainOwnership.namesNotOwned(names, by: project, verified: verified)
    }

    /// The verified zone containing ZONE (itself or a parent), with its project.
    static func verifiedOwner(_ db: PostgresClient, zone: String) async throws -> (zone: String, project: UUID)? {
        let zones = DomainOwnership.zones(containing: zone)
        return try await db.query(
            """
            SELECT zone, project_id FROM domain_claims WHERE verified_at IS NOT NULL AND zone = ANY(\(zones)::text[])
            ORDER BY length(zone) DESC LIMIT 1
            """
        ).first.map { (try $0.decode(String.self, "zone"), try $0.decode(UUID.self, "project_id")) }
    }

    static func claim(_ row: PostgresRow) throws -> Claim {
        Claim(
            projectID: try row.decode(UUID.self, "project_id"), zone: try row.decode(String.self, "zone"),
            token: try row.decode(String.self, "token"), verifiedAt: try row.decode(Date?.self, "verified_at"),
            verifiedBy: try row.decode(String?.self, "verified_by"), createdAt: try row.decode(Date.self, "created_at"))
    }
}
