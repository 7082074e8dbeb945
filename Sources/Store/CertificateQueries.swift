import Foundation
import Postgres

/// The SQL of the API's certificate reads (GET by uuid or name, batch get, list, SNI match),
/// as values: the API runs them and `QueryCatalog` hands the same texts to the plan test.
public enum CertificateQueries {
    /// The columns of the certificate document (never the key).
    public static let columns = """
        c.id, c.name, c.created_at, c.common_name, c.state, c.validation_attempt, c.next_attempt_at, c.sans, c.source,
        c.usage, c.renew_at, extract(epoch FROM c.renew_before)::bigint AS renew_before, c.last_error_code, c.last_error_message, c.version,
        c.current_version, c.profile, c.ari_window_start, c.ari_window_end, c.ari_explanation_url, c.ari_checked_at,
        (SELECT json_build_object('account', a.name, 'directory_url', a.directory_url)::text
           FROM acme_accounts a WHERE a.id = c.acme_account_id) AS ca,
        v.subject, v.issuer, v.serial, v.not_before, v.not_after, v.details::text AS details, v.lint::text AS lint,
        (v.client_ca_pem IS NOT NULL) AS two_way,
        (SELECT coalesce(json_agg(json_build_object('uuid', b.id, 'name', b.consumer) ORDER BY b.consumer), '[]')::text
           FROM bindings b WHERE b.certificate_id = c.id) AS bindings
        """
    /// The certificate and its current version (or the newest one before the first is valid).
    public static let from = """
        FROM certificates c LEFT JOIN certificate_versions v ON v.certificate_id = c.id
          AND v.version = coalesce(c.current_version, (SELECT max(version) FROM certificate_versions w WHERE w.certificate_id = c.id))
        """

    /// One live certificate of PROJECT by uuid.
    public static func byID(project: UUID, id: UUID) -> PostgresQuery {
        "SELECT \(unescaped: columns) \(unescaped: from) WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.id = \(id)"
    }

    /// One live certificate of PROJECT by name.
    public static func byName(project: UUID, name: String) -> PostgresQuery {
        "SELECT \(unescaped: columns) \(unescaped: from) WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.name = \(name)"
    }

    /// The live certificates of PROJECT among UUIDS and NAMES, in one query.
    public static func byReferences(project: UUID, uuids: [String], names: [String]) -> PostgresQuery {
        """
        SELECT \(unescaped: columns) \(unescaped: from)
        WHERE c.project_id = \(project) AND c.deleted_at IS NULL
          AND (c.id = ANY(\(uuids)::uuid[]) OR c.name = ANY(\(names)::text[]))
        """
    }

    /// The candidates for SNI HOST (exact SAN or the matching WILDCARD), through the GIN index on `sans`.
    public static func matchCandidates(project: UUID, host: String, wildcard: String?) -> PostgresQuery {
        """
        SELECT \(unescaped: columns) \(unescaped: from)
        WHERE c.project_id = \(project) AND c.deleted_at IS NULL AND c.current_version IS NOT NULL
          AND c.sans && ARRAY[\(host), \(wildcard)]::text[]
        """
    }

    /// One page of `GET /v1/certificates/list` (LIMIT + 1 rows, to know whether more follow).
    public static func listPage(project: UUID, filter: CertificateListFilter, limit: Int) -> PostgresQuery {
        // Only the filters present are written into the statement, so each combination gets
        // its own plan and every one of them can use its index (the plan test runs them all).
        var query: PostgresQuery
        if let domain = filter.domain {
            // The GIN index on `sans` finds the few candidates first; materialized, so the planner
            // cannot trade it for a walk of the whole table in id order (125 ms → 3 ms at 200k rows).
            query = """
                WITH matched AS MATERIALIZED (
                    SELECT id FROM certificates
                    WHERE project_id = \(project) AND deleted_at IS NULL AND sans && ARRAY[\(domain), \(filter.wildcard)]::text[])
                SELECT c.id, c.name FROM matched m JOIN certificates c ON c.id = m.id
                """
        } else {
            query = "SELECT c.id, c.name FROM certificates c"
        }
        if filter.expiresBefore != nil {
            query.sql += " JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version"
        }
        query.binds.append(project.postgresBind)
        query.sql += " WHERE c.project_id = $\(query.binds.count) AND c.deleted_at IS NULL"
        if let after = filter.after {
            query.binds.append(after.postgresBind)
            query.sql += " AND c.id > $\(query.binds.count)"
        }
        if let commonName = filter.commonName {
            query.binds.append(commonName.postgresBind)
            query.sql += " AND c.common_name = $\(query.binds.count)"
        }
        if let state = filter.state {
            query.binds.append(state.postgresBind)
            query.sql += " AND c.state = $\(query.binds.count)"
        }
        if let expiresBefore = filter.expiresBefore {
            // The current version is the one valid version (the partial index on not_after).
            query.binds.append(expiresBefore.postgresBind)
            query.sql += " AND v.state = 'valid' AND v.not_after < $\(query.binds.count)"
        }
        query.sql += " ORDER BY c.id LIMIT \(limit + 1)"
        return query
    }
}

/// The filters of `GET /v1/certificates/list`; nil means "not filtered on".
public struct CertificateListFilter: Sendable, Equatable {
    /// Only certificates after this uuid (the cursor's position).
    public var after: UUID?
    public var commonName: String?
    public var state: String?
    public var expiresBefore: Date?
    /// A host name, and the wildcard that would cover it (`*.example.com` for `a.example.com`).
    public var domain: String?
    public var wildcard: String?

    public init(after: UUID? = nil, commonName: String? = nil, state: String? = nil, expiresBefore: Date? = nil,
                domain: String? = nil, wildcard: String? = nil) {
        self.after = after
        self.commonName = commonName
        self.state = state
        self.expiresBefore = expiresBefore
        self.domain = domain
        self.wildcard = wildcard
    }
}
