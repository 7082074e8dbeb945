import Foundation
import Postgres
import Store

/// The certificate document the API shows, read from the certificate row and its
/// current version (or the newest one before the first is valid). Never the key.
struct CertificateReader {
    let db: PostgresClient

    /// One live certificate of PROJECT by uuid or name.
    func find(project: UUID, reference: String) async throws -> Document? {
        let query = UUID(uuidString: reference).map { CertificateQueries.byID(project: project, id: $0) }
            ?? CertificateQueries.byName(project: project, name: reference)
        return try await db.query(query).first.map(Document.init)
    }

    /// The live certificates of PROJECT among REFERENCES (uuids or names), in one query,
    /// in the order of REFERENCES; nil where a reference names none.
    func find(project: UUID, references: [String]) async throws -> [Document?] {
        guard !references.isEmpty else { return [] }
        let uuids = references.compactMap { UUID(uuidString: $0)?.uuidString.lowercased() }
        let names = references.filter { UUID(uuidString: $0) == nil }
        let documents = try await db.query(CertificateQueries.byReferences(project: project, uuids: uuids, names: names)).map(Document.init)
        return references.map { reference in
            if let id = UUID(uuidString: reference) { return documents.first { $0.id == id } }
            return documents.first { $0.name == reference }
        }
    }

    /// Like `find`, or 404 naming the reference.
    func require(project: UUID, reference: String) async throws -> Document {
        guard let document = try await find(project: project, reference: reference) else {
            throw StoreError.certificateNotFound(reference)
        }
        return document
    }

    /// The candidates for SNI HOST (exact SAN or the matching wildcard).
    func candidates(project: UUID, host: String, wildcard: String?) async throws -> [Document] {
        try await db.query(CertificateQueries.matchCandidates(project: project, host: host, wildcard: wildcard)).map(Document.init)
    }

    struct Document {
        let id: UUID
        let name: String
        let state: String
        let rowVersion: Int64
        let currentVersion: Int?
        let sans: [String]
        let usage: String
        let source: String
        let twoWay: Bool
        let notAfter: Date?
        /// The whole document, in the documented field order.
        let json: JSONValue

        init(_ row: PostgresRow) throws {
            id = try row.decode(UUID.self, "id")
            name = try row.decode(String.self, "name")
            state = try row.decode(String.self, "state")
            rowVersion = try row.decode(Int64.self, "version")
            currentVersion = try row.decode(Int?.self, "current_version")
            sans = try row.decode([String].self, "sans")
            usage = try row.decode(String.self, "usage")
            source = try row.decode(String.self, "source")
            twoWay = try row.decode(Bool?.self, "two_way") ?? false
            notAfter = try row.decode(Date?.self, "not_after")
            let details = try row.decode(String?.self, "details").map(JSONValue.parse)
            var fields: [(String, JSONValue)] = [
                ("status", .string("success")),
                ("uuid", .string(id.uuidString.lowercased())),
                ("name", .string(name)),
                ("created_at", .date(try row.decode(Date.self, "created_at"))),
                ("common_name", .string(try row.decode(String?.self, "common_name"))),
                ("state", .string(state)),
            ]
            if state == "pending" || state == "renewing" {
                fields.append(("validation", .object([
                    ("attempt", .int(try row.decode(Int.self, "validation_attempt"))),
                    ("next", .date(try row.decode(Date?.self, "next_attempt_at"))),
                ])))
            }
            fields += [
                ("subject", .string(try row.decode(String?.self, "subject"))),
                ("issuer", .string(try row.decode(String?.self, "issuer"))),
                ("serial_number", .string(try row.decode(String?.self, "serial"))),
                ("not_before", .date(try row.decode(Date?.self, "not_before"))),
                ("not_after", .date(notAfter)),
                ("service_groups", try JSONValue.parse(try row.decode(String.self, "bindings"))),
                ("sans", .strings(sans)),
                ("source", .string(source)),
                ("usage", .string(usage)),
                ("tls_type", .string(twoWay ? "two-way" : "one-way")),
                ("renew_at", .date(try row.decode(Date?.self, "renew_at"))),
                ("renew_before", .int(try row.decode(Int?.self, "renew_before"))),
                ("profile", .string(try row.decode(String?.self, "profile"))),
                // The ACME account (and its CA) that issued it, or is issuing it now.
                ("ca", try row.decode(String?.self, "ca").map(JSONValue.parse) ?? .null),
            ]
            // The CA's suggested renewal window (ARI), once asked.
            if let start = try row.decode(Date?.self, "ari_window_start") {
                fields.append(("renewal_info", .object([
                    ("window_start", .date(start)), ("window_end", .date(try row.decode(Date?.self, "ari_window_end"))),
                    ("explanation_url", .string(try row.decode(String?.self, "ari_explanation_url"))),
                    ("checked_at", .date(try row.decode(Date?.self, "ari_checked_at"))),
                ])))
            } else {
                fields.append(("renewal_info", .null))
            }
            if let code = try row.decode(String?.self, "last_error_code") {
                fields.append(("error", .object([("code", .string(code)), ("message", .string(try row.decode(String?.self, "last_error_message")))])))
            } else {
                fields.append(("error", .null))
            }
            fields += [
                ("lint", try row.decode(String?.self, "lint").map(JSONValue.parse) ?? .array([])),
                ("version", .int(Int(rowVersion))),
                ("key", details?["key"] ?? .null),
                ("chain", details?["chain"] ?? .array([])),
            ]
            json = .object(fields)
        }

        /// `details=false`: only uuid, name and state.
        var summary: JSONValue {
            .object([("status", .string("success")), ("uuid", .string(id.uuidString.lowercased())),
                     ("name", .string(name)), ("state", .string(state))])
        }

        var etag: String { "\"\(rowVersion)\"" }
    }
}
