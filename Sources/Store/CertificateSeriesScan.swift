import Foundation
import Postgres

/// What `/metrics` shows of one certificate (cert-manager's `certmanager_certificate_*`).
public struct CertificateSeriesRow: Sendable, Equatable {
    public let id: UUID
    public let project: UUID
    public let name: String
    public let state: String
    /// The CA: the ACME account's directory URL, or the uploaded chain's issuer name.
    public let issuer: String
    /// The current version's validity and the planned renewal (ACME certificates only: CertFleet
    /// never renews an uploaded one), Unix seconds; nil when unknown.
    public let notBefore: Int?
    public let notAfter: Int?
    public let renewAt: Int?
    /// False once deleted: the API drops its series.
    public let live: Bool

    public init(
        id: UUID, project: UUID, name: String, state: String, issuer: String, notBefore: Int?, notAfter: Int?, renewAt: Int?,
        live: Bool
    ) {
        self.id = id
        self.project = project
        self.name = name
        self.state = state
        self.issuer = issuer
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.renewAt = renewAt
        self.live = live
    }
}

/// The per-certificate series' reads (migration 0017): every live certificate once, then only
/// the rows written since a watermark, each read returning the next watermark.
public enum CertificateSeriesScan {
    public struct Batch: Sendable {
        public var rows: [CertificateSeriesRow]
        /// Pass it to `changed(since:)` next time (an xid8, as text).
        public var watermark: String
    }

    /// The live certificates after AFTER in id order, LIMIT of them (start-up reads them all page by
    /// page, so the API never holds one result of the whole fleet). The first page's watermark is
    /// the one to continue from: whatever a later page saw again is read again, harmlessly.
    public static func all(_ db: Database, after: UUID?, limit: Int) async throws -> Batch {
        try await read(db, query: query(since: nil, after: after, limit: limit))
    }

    /// The certificates written by transactions at or after WATERMARK (deleted ones included,
    /// `live` false): an index range on `metrics_xid`, as small as what changed.
    public static func changed(_ db: Database, since watermark: String) async throws -> Batch {
        try await read(db, query: query(since: watermark))
    }

    /// Project names by id (a label of every series; renaming a project re-labels its certificates).
    public static func projectNames(_ db: Database) async throws -> [UUID: String] {
        var names: [UUID: String] = [:]
        for row in try await db.query("SELECT id, name FROM projects") {
            names[try row.decode(UUID.self, "id")] = try row.decode(String.self, "name")
        }
        return names
    }

    /// One statement, so the watermark and the rows come from the same snapshot: a write not
    /// visible here belongs to a transaction at or after the snapshot's xmin and is read next time.
    ///
    /// The certificates are chosen first and each one's current version looked up by its key
    /// (`OFFSET 0` keeps the planner from turning that into a join that walks every version):
    /// a start-up page or a refresh costs what it reads, whatever the fleet size.
    static func query(since watermark: String?, after: UUID? = nil, limit: Int = 10_000) -> PostgresQuery {
        let head = """
            SELECT w.xmin::text AS watermark, c.* FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) AS w
            LEFT JOIN LATERAL (
                SELECT c.id, c.project_id, c.name, c.state, c.deleted_at IS NULL AS live,
                       coalesce(a.directory_url, v.issuer, '') AS issuer,
                       extract(epoch FROM v.not_before)::int8 AS not_before, extract(epoch FROM v.not_after)::int8 AS not_after,
                       CASE WHEN c.source = 'acme' THEN extract(epoch FROM c.renew_at)::int8 END AS renew_at
                FROM (SELECT id, project_id, name, state, deleted_at, source, renew_at, current_version, acme_account_id
                      FROM certificates
            """
        let tail = """
                ) AS c
                LEFT JOIN LATERAL (
                    SELECT issuer, not_before, not_after FROM certificate_versions
                    WHERE certificate_id = c.id AND version = c.current_version OFFSET 0
                ) AS v ON true
                LEFT JOIN acme_accounts a ON a.id = c.acme_account_id
                ORDER BY c.id
            ) AS c ON true
            """
        if let watermark { return "\(unescaped: head) WHERE metrics_xid >= \(watermark)::xid8 \(unescaped: tail)" }
        if let after {
            return "\(unescaped: head) WHERE deleted_at IS NULL AND id > \(after) ORDER BY id LIMIT \(limit) \(unescaped: tail)"
        }
        return "\(unescaped: head) WHERE deleted_at IS NULL ORDER BY id LIMIT \(limit) \(unescaped: tail)"
    }

    private static func read(_ db: Database, query: PostgresQuery) async throws -> Batch {
        let rows = try await db.query(query)
        var batch = Batch(rows: [], watermark: "0")
        batch.rows.reserveCapacity(rows.count)
        for row in rows {
            batch.watermark = try row.decode(String.self, "watermark")
            guard let id = try row.decode(UUID?.self, "id") else { continue }
            batch.rows.append(
                CertificateSeriesRow(
                    id: id, project: try row.decode(UUID.self, "project_id"), name: try row.decode(String.self, "name"),
                    state: try row.decode(String.self, "state"), issuer: try row.decode(String.self, "issuer"),
                    notBefore: try row.decode(Int?.self, "not_before"), notAfter: try row.decode(Int?.self, "not_after"),
                    renewAt: try row.decode(Int?.self, "renew_at"), live: try row.decode(Bool.self, "live")))
        }
        return batch
    }
}
