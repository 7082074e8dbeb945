import Foundation
import Postgres

/// A certificate as the API shows it: the row, its current version (or the newest one
/// before the first is valid), its CA and bindings. Never the key.
public struct CertificateRecord: Sendable {
    public let id: UUID
    public let name: String
    public let createdAt: Date
    public let commonName: String?
    public let state: String
    public let validationAttempt: Int
    public let nextAttemptAt: Date?
    public let sans: [String]
    public let source: String
    public let usage: String
    public let renewAt: Date?
    public let renewBefore: Int?
    public let lastErrorCode: String?
    public let lastErrorMessage: String?
    /// The optimistic-lock counter (the API's ETag).
    public let rowVersion: Int64
    public let currentVersion: Int?
    public let profile: String?
    public let ariWindowStart: Date?
    public let ariWindowEnd: Date?
    public let ariExplanationURL: String?
    public let ariCheckedAt: Date?
    /// JSON texts, as stored: `{"account","directory_url"}`, `[{"uuid","name"}]`, the version's
    /// key and chain (members of its details) and lint: the API writes them out as they are.
    public let caJSON: String?
    public let bindingsJSON: String
    public let keyJSON: String?
    public let chainJSON: String?
    public let lintJSON: String?
    public let subject: String?
    public let issuer: String?
    public let serial: String?
    public let notBefore: Date?
    public let notAfter: Date?
    public let twoWay: Bool

    init(_ row: PostgresRow) throws {
        id = try row.decode(UUID.self, "id")
        name = try row.decode(String.self, "name")
        createdAt = try row.decode(Date.self, "created_at")
        commonName = try row.decode(String?.self, "common_name")
        state = try row.decode(String.self, "state")
        validationAttempt = try row.decode(Int.self, "validation_attempt")
        nextAttemptAt = try row.decode(Date?.self, "next_attempt_at")
        sans = try row.decode([String].self, "sans")
        source = try row.decode(String.self, "source")
        usage = try row.decode(String.self, "usage")
        renewAt = try row.decode(Date?.self, "renew_at")
        renewBefore = try row.decode(Int?.self, "renew_before")
        lastErrorCode = try row.decode(String?.self, "last_error_code")
        lastErrorMessage = try row.decode(String?.self, "last_error_message")
        rowVersion = try row.decode(Int64.self, "version")
        currentVersion = try row.decode(Int?.self, "current_version")
        profile = try row.decode(String?.self, "profile")
        ariWindowStart = try row.decode(Date?.self, "ari_window_start")
        ariWindowEnd = try row.decode(Date?.self, "ari_window_end")
        ariExplanationURL = try row.decode(String?.self, "ari_explanation_url")
        ariCheckedAt = try row.decode(Date?.self, "ari_checked_at")
        caJSON = try row.decode(String?.self, "ca")
        bindingsJSON = try row.decode(String.self, "bindings")
        keyJSON = try row.decode(String?.self, "details_key")
        chainJSON = try row.decode(String?.self, "details_chain")
        lintJSON = try row.decode(String?.self, "lint")
        subject = try row.decode(String?.self, "subject")
        issuer = try row.decode(String?.self, "issuer")
        serial = try row.decode(String?.self, "serial")
        notBefore = try row.decode(Date?.self, "not_before")
        notAfter = try row.decode(Date?.self, "not_after")
        twoWay = try row.decode(Bool?.self, "two_way") ?? false
    }
}

/// The filters of `GET /v1/certificates/list`; nil fields do not filter.
public struct CertificateListFilter: Sendable {
    public var commonName: String?
    public var state: String?
    public var expiresBefore: Date?
    /// A normalized host name; its one-label wildcard matches too.
    public var domain: String?

    public init(commonName: String? = nil, state: String? = nil, expiresBefore: Date? = nil, domain: String? = nil) {
        self.commonName = commonName
        self.state = state
        self.expiresBefore = expiresBefore
        self.domain = domain
    }
}

/// Reads of certificate documents: GET by reference, batches, list pages and SNI candidates.
public struct CertificateDocuments: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let columns = """
        c.id, c.name, c.created_at, c.common_name, c.state, c.validation_attempt, c.next_attempt_at, c.sans, c.source,
        c.usage, c.renew_at, extract(epoch FROM c.renew_before)::bigint AS renew_before, c.last_error_code,
        c.last_error_message, c.version, c.current_version,
        c.profile, c.ari_window_start, c.ari_window_end, c.ari_explanation_url, c.ari_checked_at,
        (SELECT json_build_object('account', a.name, 'directory_url', a.directory_url)::text
           FROM acme_accounts a WHERE a.id = c.acme_account_id) AS ca,
        v.subject, v.issuer, v.serial, v.not_before, v.not_after, (v.details->'key')::text AS details_key,
        (v.details->'chain')::text AS details_chain, v.lint::text AS lint,
        (v.client_ca_pem IS NOT NULL) AS two_way,
        (SELECT coalesce(json_agg(json_build_object('uuid', b.id, 'name', b.consumer) ORDER BY b.consumer), '[]')::text
           FROM bindings b WHERE b.certificate_id = c.id) AS bindings
        """
    static let from = """
        FROM certificates c LEFT JOIN certificate_versions v ON v.certificate_id = c.id
          AND v.version = coalesce(c.current_version, (SELECT max(version) FROM certificate_versions w WHERE w.certificate_id = c.id))
        """

    /// One live certificate of PROJECT by uuid or name.
    public func find(project: UUID, reference: String) async throws -> CertificateRecord? {
        let query =
            UUID(uuidString: reference).map { Self.byIDQuery(project: project, id: $0) }
            ?? Self.byNameQuery(project: project, name: reference)
        return try await db.query(query).first.map(CertificateRecord.init)
    }

    /// Like `find`, or `certificateNotFound` naming the reference.
    public func require(project: UUID, reference: String) async throws -> CertificateRecord {
        guard let record = try await find(project: project, reference: reference) else {
            throw StoreError.certificateNotFound(reference)
        }
        return record
    }

    /// The live certificates of PROJECT among REFERENCES (uuids or names), in one query,
    /// in the order of REFERENCES; nil where a reference names none.
    public func find(project: UUID, references: [String]) async throws -> [CertificateRecord?] {
        guard !references.isEmpty else { return [] }
        let uuids = references.compactMap { UUID(uuidString: $0)?.uuidString.lowercased() }
        let names = references.filter { UUID(uuidString: $0) == nil }
        let records = try await db.query(Self.byReferencesQuery(project: project, uuids: uuids, names: names)).map(CertificateRecord.init)
        return references.map { reference in
            if let id = UUID(uuidString: reference) { return records.first { $0.id == id } }
            return records.first { $0.name == reference }
        }
    }

    /// The candidates for SNI HOST (an exact SAN or WILDCARD), issued ones only.
    public func candidates(project: UUID, host: String, wildcard: String?) async throws -> [CertificateRecord] {
        try await db.query(Self.matchQuery(project: project, host: host, wildcard: wildcard)).map(CertificateRecord.init)
    }

    /// The state of certificate ID now (`deleted` once it is gone).
    public func state(project: UUID, id: UUID) async throws -> String {
        try await db.query("SELECT state FROM certificates WHERE project_id = \(project) AND id = \(id)")
            .first?.decode(String.self, "state") ?? "deleted"
    }

    /// One page in uuid order after CURSOR: up to LIMIT (id, name) pairs and whether more follow.
    public func page(
        project: UUID, filter: CertificateListFilter, after cursor: UUID?, limit: Int
    )
        async throws -> (items: [(id: UUID, name: String)], more: Bool)
    {
        let rows = try await db.query(Self.listPageQuery(project: project, filter: filter, after: cursor, limit: limit))
        let all = try rows.map { (id: try $0.decode(UUID.self, "id"), name: try $0.decode(String.self, "name")) }
        return (Array(all.prefix(limit)), all.count > limit)
    }

    // MARK: - the statements (also run by the plan test, through `QueryCatalog`)

    public static func byIDQuery(project: UUID, id: UUID) -> PostgresQuery {
        "SELECT \(unescaped: columns) \(unescaped: from) WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.id = \(id)"
    }

    public static func byNameQuery(project: UUID, name: String) -> PostgresQuery {
        "SELECT \(unescaped: columns) \(unescaped: from) WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.name = \(name)"
    }

    public static func byReferencesQuery(project: UUID, uuids: [String], names: [String]) -> PostgresQuery {
        """
        SELECT \(unescaped: columns) \(unescaped: from)
        WHERE c.project_id = \(project) AND c.deleted_at IS NULL
          AND (c.id = ANY(\(uuids)::uuid[]) OR c.name = ANY(\(names)::text[]))
        """
    }

    /// SNI candidates through the GIN index on `sans`.
    public static func matchQuery(project: UUID, host: String, wildcard: String?) -> PostgresQuery {
        """
        SELECT \(unescaped: columns) \(unescaped: from)
        WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.current_version IS NOT NULL
          AND c.sans && ARRAY[\(host), \(wildcard)]::text[]
        """
    }

    /// One list page (LIMIT + 1 rows, to know whether more follow). Only the filters present
    /// are written into the statement: each combination is a statement of its own, which the
    /// plan test EXPLAINs one by one.
    public static func listPageQuery(project: UUID, filter: CertificateListFilter, after cursor: UUID?, limit: Int) -> PostgresQuery {
        let query: PostgresQuery
        if let domain = filter.domain {
            let wildcard = domain.firstIndex(of: ".").map { "*" + domain[$0...] }
            // The GIN index on `sans` finds the few candidates first; materialized, so the planner
            // cannot trade it for a walk of the whole table in id order (125 ms → 3 ms at 200k rows).
            query = """
                WITH matched AS MATERIALIZED (
                    SELECT id FROM certificates
                    WHERE project_id = \(project) AND deleted_at IS NULL AND sans && ARRAY[\(domain), \(wildcard)]::text[])
                SELECT c.id, c.name FROM matched m JOIN certificates c ON c.id = m.id
                """
        } else {
            query = "SELECT c.id, c.name FROM certificates c"
        }
        var sql = query.sql, binds = query.binds
        func bind(_ value: some PostgresEncodable) -> String {
            binds.append(value.postgresBind)
            return "$\(binds.count)"
        }
        sql += " WHERE c.project_id = \(bind(project)) AND c.deleted_at IS NULL"
        if let cursor { sql += " AND c.id > \(bind(cursor))" }
        if let commonName = filter.commonName { sql += " AND c.common_name = \(bind(commonName))" }
        if let state = filter.state { sql += " AND c.state = \(bind(state))" }
        // `valid_until` is in the paging index (`certificates_project_id_valid_until`): checked on
        // the index entry, no probe of each certificate's version.
        if let expiresBefore = filter.expiresBefore { sql += " AND c.valid_until < \(bind(expiresBefore))" }
        sql += " ORDER BY c.id LIMIT \(limit + 1)"
        return PostgresQuery(sql: sql, binds: binds)
    }

    /// What NGINX Unit's store would list: certificates with a current version and no delete
    /// under way, by name, with their stored details (JSON text); NAME nil: all of them.
    public func servable(project: UUID, name: String?) async throws -> [(name: String, detailsJSON: String)] {
        try await db.query(
            """
            SELECT c.name, v.details::text AS details FROM certificates c
            JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
            WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.state <> 'deleting' AND v.details IS NOT NULL
              AND (\(name)::text IS NULL OR c.name = \(name))
            ORDER BY c.name
            """
        ).map { (name: try $0.decode(String.self, "name"), detailsJSON: try $0.decode(String.self, "details")) }
    }
}
