import Foundation
import Postgres

/// How the console's certificates table is sorted.
public enum CertificateTableSort: String, Sendable, CaseIterable {
    /// By name, A → Z.
    case name
    /// Soonest `not_after` first (issued certificates only: the others have no expiry yet).
    case expires
    /// Newest first.
    case created
}

/// The console's search and filters; nil fields do not filter.
public struct CertificateTableQuery: Sendable {
    /// A prefix of the name or common name, or (when it is a host name) a name the
    /// certificate covers, exactly or through its one-label wildcard.
    public var search: String?
    /// The normalized host name SEARCH stands for, and its wildcard (`*.example.com`).
    public var host: String?
    public var wildcard: String?
    public var state: String?
    public var source: String?
    /// The ACME account's name (the CA a certificate comes from).
    public var ca: String?
    public var expiresBefore: Date?
    public var sort: CertificateTableSort = .name
    /// The cursor a previous page returned.
    public var after: String?
    public var limit = 50

    public init() {}
}

/// One row of the console's certificates table.
public struct CertificateTableRow: Sendable {
    public let id: UUID
    public let name: String
    public let commonName: String?
    public let state: String
    public let source: String
    public let sans: [String]
    public let notAfter: Date?
    public let renewAt: Date?
    public let ca: String?
    public let errorCode: String?
    public let createdAt: Date
}

/// The console's certificates table: search, filters, three sort orders and keyset paging,
/// so page 2,000 costs what page 1 does (no OFFSET).
public struct CertificateTable: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// One page and the cursor of the next (nil: the last page).
    public func page(project: UUID, query: CertificateTableQuery) async throws -> (rows: [CertificateTableRow], next: String?) {
        let rows = try await db.query(Self.pageQuery(project: project, query: query))
        let all = try rows.map { row in
            CertificateTableRow(
                id: try row.decode(UUID.self, "id"), name: try row.decode(String.self, "name"),
                commonName: try row.decode(String?.self, "common_name"), state: try row.decode(String.self, "state"),
                source: try row.decode(String.self, "source"), sans: try row.decode([String].self, "sans"),
                notAfter: try row.decode(Date?.self, "not_after"), renewAt: try row.decode(Date?.self, "renew_at"),
                ca: try row.decode(String?.self, "ca"), errorCode: try row.decode(String?.self, "last_error_code"),
                createdAt: try row.decode(Date.self, "created_at"))
        }
        let page = Array(all.prefix(query.limit))
        let next = all.count > query.limit ? page.last.map { Cursor(row: $0, sort: query.sort).encoded } : nil
        return (page, next)
    }

    /// The statement of one page (the plan test EXPLAINs it).
    public static func pageQuery(project: UUID, query: CertificateTableQuery) -> PostgresQuery {
        let cursor = query.after.flatMap { Cursor($0, sort: query.sort) }
        let prefix = query.search.map { Self.likePrefix($0) }
        let expiryOnly = query.sort == .expires
        // One statement with every filter bound; a NULL parameter switches its filter off, and
        // libpq's unnamed statements are planned with the values, so the planner drops them.
        // A search first collects its matches through the three indexes (name and common-name
        // prefixes, the SAN GIN index); materialized, so the planner cannot trade that for a
        // walk of the whole name index looking for matches in sort order (133 ms → a few ms at
        // 100k rows for a search matching 100).
        return """
            WITH matched AS MATERIALIZED (
                SELECT id FROM certificates
                WHERE \(prefix)::text IS NOT NULL AND project_id = \(project) AND deleted_at IS NULL
                  AND (name LIKE \(prefix) OR common_name LIKE \(prefix) OR sans && ARRAY[\(query.host), \(query.wildcard)]::text[]))
            SELECT c.id, c.name, c.common_name, c.state, c.source, c.sans, c.renew_at, c.created_at, c.last_error_code,
                   v.not_after, a.name AS ca
            FROM certificates c
            LEFT JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
            LEFT JOIN acme_accounts a ON a.id = c.acme_account_id
            WHERE c.project_id = \(project) AND c.deleted_at IS NULL
              AND (\(prefix)::text IS NULL OR c.id IN (SELECT id FROM matched))
              AND (\(query.state)::text IS NULL OR c.state = \(query.state))
              AND (\(query.source)::text IS NULL OR c.source = \(query.source))
              AND (\(query.ca)::text IS NULL OR a.name = \(query.ca))
              AND (\(query.expiresBefore)::timestamptz IS NULL OR v.not_after < \(query.expiresBefore))
              AND (NOT \(expiryOnly) OR v.not_after IS NOT NULL)
              AND (\(query.sort == .name ? cursor?.text : nil)::text IS NULL OR c.name > \(cursor?.text))
              AND (\(query.sort == .expires ? cursor?.date : nil)::timestamptz IS NULL
                   OR (v.not_after, c.id) > (\(cursor?.date), \(cursor?.id)))
              AND (\(query.sort == .created ? cursor?.date : nil)::timestamptz IS NULL
                   OR (c.created_at, c.id) < (\(cursor?.date), \(cursor?.id)))
            ORDER BY \(unescaped: Self.order(query.sort))
            LIMIT \(query.limit + 1)
            """
    }

    /// The CAs (ACME account names) of PROJECT, for the filter's choices.
    public func accounts(project: UUID) async throws -> [String] {
        try await db.query("SELECT name FROM acme_accounts WHERE project_id = \(project) ORDER BY name")
            .map { try $0.decode(String.self, "name") }
    }

    static func order(_ sort: CertificateTableSort) -> String {
        switch sort {
        case .name: return "c.name"
        case .expires: return "v.not_after, c.id"
        case .created: return "c.created_at DESC, c.id DESC"
        }
    }

    /// SEARCH as a LIKE prefix pattern, its own `%`, `_` and `\` taken literally.
    static func likePrefix(_ search: String) -> String {
        var escaped = ""
        for character in search {
            if character == "%" || character == "_" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped + "%"
    }

    /// Where a page ended: the sort key of its last row (a name, or a moment and an id).
    struct Cursor {
        var text: String?
        var date: Date?
        var id: UUID?

        init(row: CertificateTableRow, sort: CertificateTableSort) {
            switch sort {
            case .name: text = row.name
            case .expires: date = row.notAfter; id = row.id
            case .created: date = row.createdAt; id = row.id
            }
        }

        /// Parses what `encoded` made; nil for anything else.
        init?(_ encoded: String, sort: CertificateTableSort) {
            switch sort {
            case .name:
                guard !encoded.isEmpty, encoded.count <= 128 else { return nil }
                text = encoded
            case .expires, .created:
                let parts = encoded.split(separator: "_", maxSplits: 1)
                guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(uuidString: String(parts[1])) else { return nil }
                date = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
                self.id = id
            }
        }

        var encoded: String {
            if let text { return text }
            let micros = Int64(((date ?? .distantPast).timeIntervalSince1970 * 1_000_000).rounded())
            return "\(micros)_\((id ?? UUID()).uuidString.lowercased())"
        }
    }
}
