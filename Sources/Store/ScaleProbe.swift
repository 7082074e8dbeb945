import Foundation
import Postgres

/// What `certfleet bench scale` asks of a seeded database besides the product's own queries:
/// sizes, a position deep in a project's list, and work made due on purpose.
public struct ScaleProbe: Sendable {
    let db: PostgresClient

    public init(db: PostgresClient) { self.db = db }

    /// Tables that grow with the fleet, with their indexes and TOAST.
    public static let tables = ["certificates", "certificate_versions", "bindings", "jobs", "events", "outbox", "expiry_notices"]

    public struct TableSize: Sendable {
        public let table: String
        public let rows: Int
        public let bytes: Int
    }

    /// Exact row counts (a scan each: for the report, never on a hot path) and total sizes.
    public func sizes() async throws -> [TableSize] {
        var sizes: [TableSize] = []
        for table in Self.tables {
            let row = try await db.query(
                """
                SELECT (SELECT count(*) FROM \(unescaped: table))::int8 AS n, pg_total_relation_size(\(table)::regclass)::int8 AS bytes
                """
            ).first!
            sizes.append(TableSize(table: table, rows: try row.decode(Int.self, "n"), bytes: try row.decode(Int.self, "bytes")))
        }
        return sizes
    }

    /// After a bulk load: statistics, and the visibility map and GIN pending lists an
    /// installation's autovacuum would have settled by now.
    public func analyze() async throws {
        try await db.query("VACUUM (ANALYZE)")
    }

    /// The uuid at FRACTION (0…1) of PROJECT's list order: where a client paging deep would be.
    public func listPosition(project: UUID, fraction: Double) async throws -> UUID? {
        try await db.query(
            """
            SELECT id FROM certificates WHERE project_id = \(project) AND deleted_at IS NULL ORDER BY id
            OFFSET (SELECT (count(*) * \(fraction))::int8 FROM certificates WHERE project_id = \(project) AND deleted_at IS NULL) LIMIT 1
            """
        ).first?.decode(UUID.self, "id")
    }

    /// Makes COUNT valid ACME certificates due for renewal now (a CA revoking a batch).
    @discardableResult
    public func makeRenewalsDue(_ count: Int) async throws -> Int {
        try await db.query(
            """
            UPDATE certificates SET renew_at = now() - interval '1 minute' WHERE id = ANY(ARRAY(
                SELECT id FROM certificates WHERE source = 'acme' AND state = 'valid' AND deleted_at IS NULL
                ORDER BY renew_at DESC LIMIT \(count)))
            """
        ).affectedRows
    }

    /// Makes COUNT served certificates' current versions end within the next day (`expiring`).
    @discardableResult
    public func makeExpiring(_ count: Int) async throws -> Int {
        try await db.query(
            """
            UPDATE certificate_versions v SET not_after = now() + interval '20 hours' FROM (
                SELECT id, current_version FROM certificates WHERE state = 'valid' AND deleted_at IS NULL AND source = 'uploaded'
                ORDER BY id DESC LIMIT \(count)) AS c
            WHERE v.certificate_id = c.id AND v.version = c.current_version
            """
        ).affectedRows
    }

    /// Makes COUNT served certificates' current versions end an hour ago (the expiry scan's work).
    @discardableResult
    public func makeExpired(_ count: Int) async throws -> Int {
        try await db.query(
            """
            UPDATE certificate_versions v SET not_after = now() - interval '1 hour' FROM (
                SELECT id, current_version FROM certificates WHERE state = 'valid' AND deleted_at IS NULL AND source = 'uploaded'
                ORDER BY id LIMIT \(count)) AS c
            WHERE v.certificate_id = c.id AND v.version = c.current_version
            """
        ).affectedRows
    }

    /// Gives COUNT finished jobs back to a worker whose lease has run out (a crashed fleet).
    @discardableResult
    public func makeLeasesExpired(_ count: Int) async throws -> Int {
        try await db.query(
            """
            UPDATE jobs SET state = 'running', finished_at = NULL, lease_owner = 'bench-crashed', lease_expires_at = now() - interval '1 minute'
            WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE state = 'succeeded' AND kind = 'validate' ORDER BY finished_at DESC LIMIT \(count)))
            """
        ).affectedRows
    }

    /// Marks COUNT published outbox rows unpublished again (a broker outage's backlog).
    @discardableResult
    public func makeOutboxBacklog(_ count: Int) async throws -> Int {
        try await db.query(
            """
            UPDATE outbox SET published_at = NULL WHERE id = ANY(ARRAY(
                SELECT id FROM outbox WHERE published_at IS NOT NULL ORDER BY id DESC LIMIT \(count)))
            """
        ).affectedRows
    }
}

extension ScaleProbe {
    /// After a measurement with work made due: unfinished jobs cancelled, `renewing`
    /// certificates back to `valid`, the outbox marked published, so the next size starts
    /// with nothing due again (through the partial indexes: no table is scanned).
    public func settle() async throws {
        try await db.query(
            """
            UPDATE jobs SET state = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
            WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE state IN ('queued', 'running')))
            """)
        try await db.query("UPDATE certificates SET state = 'valid' WHERE state = 'renewing'")
        try await db.query("UPDATE outbox SET published_at = now() WHERE id = ANY(ARRAY(SELECT id FROM outbox WHERE published_at IS NULL))")
    }
}
