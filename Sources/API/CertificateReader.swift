import Foundation
import Store

/// The certificate document the API shows, rendered from Store's `CertificateRecord`. Never the key.
struct CertificateReader {
    let documents: CertificateDocuments

    init(db: Database) { documents = CertificateDocuments(db: db) }

    /// One live certificate of PROJECT by uuid or name.
    func find(project: UUID, reference: String) async throws -> Document? {
        try await documents.find(project: project, reference: reference).map { try Document($0) }
    }

    /// The live certificates of PROJECT among REFERENCES, in their order; nil where none.
    func find(project: UUID, references: [String]) async throws -> [Document?] {
        try await documents.find(project: project, references: references).map { try $0.map { try Document($0) } }
    }

    /// Like `find`, or 404 naming the reference.
    func require(project: UUID, reference: String) async throws -> Document {
        try Document(try await documents.require(project: project, reference: reference))
    }

    /// The candidates for SNI HOST (exact SAN or the matching wildcard).
    func candidates(project: UUID, host: String, wildcard: String?) async throws -> [Document] {
        try await documents.candidates(project: project, host: host, wildcard: wildcard).map { try Document($0) }
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
        /// Whether any target can be bound: without a binding there is nothing delivered to show.
        let hasBindings: Bool
        /// The whole document, in the documented field order; the stored JSON parts (chain,
        /// key, lint, CA, bindings) as the database's text, not parsed and re-encoded.
        let json: JSONValue

        init(_ record: CertificateRecord) throws {
            id = record.id
            name = record.name
            state = record.state
            rowVersion = record.rowVersion
            currentVersion = record.currentVersion
            sans = record.sans
            usage = record.usage
            source = record.source
            twoWay = record.twoWay
            notAfter = record.notAfter
            hasBindings = record.bindingsJSON != "[]"
            var fields: [(String, JSONValue)] = [
                ("status", .string("success")),
                ("uuid", .string(id.uuidString.lowercased())),
                ("name", .string(name)),
                ("created_at", .date(record.createdAt)),
                ("common_name", .string(record.commonName)),
                ("state", .string(state)),
            ]
            if state == "pending" || state == "renewing" {
                fields.append(
                    (
                        "validation",
                        .object([
                            ("attempt", .int(record.validationAttempt)),
                            ("next", .date(record.nextAttemptAt)),
                        ])
                    ))
            }
            fields += [
                ("subject", .string(record.subject)),
                ("issuer", .string(record.issuer)),
                ("serial_number", .string(record.serial)),
                ("not_before", .date(record.notBefore)),
                ("not_after", .date(notAfter)),
                ("service_groups", .raw(record.bindingsJSON)),
                ("sans", .strings(sans)),
                ("source", .string(source)),
                ("usage", .string(usage)),
                ("tls_type", .string(twoWay ? "two-way" : "one-way")),
                ("renew_at", .date(record.renewAt)),
                ("renew_before", .int(record.renewBefore)),
                ("profile", .string(record.profile)),
                // The ACME account (and its CA) that issued it, or is issuing it now.
                ("ca", record.caJSON.map(JSONValue.raw) ?? .null),
            ]
            // The CA's suggested renewal window (ARI), once asked.
            if let start = record.ariWindowStart {
                fields.append(
                    (
                        "renewal_info",
                        .object([
                            ("window_start", .date(start)), ("window_end", .date(record.ariWindowEnd)),
                            ("explanation_url", .string(record.ariExplanationURL)),
                            ("checked_at", .date(record.ariCheckedAt)),
                        ])
                    ))
            } else {
                fields.append(("renewal_info", .null))
            }
            if let code = record.lastErrorCode {
                fields.append(("error", .object([("code", .string(code)), ("message", .string(record.lastErrorMessage))])))
            } else {
                fields.append(("error", .null))
            }
            fields += [
                ("lint", record.lintJSON.map(JSONValue.raw) ?? .array([])),
                ("version", .int(Int(rowVersion))),
                ("key", record.keyJSON.map(JSONValue.raw) ?? .null),
                ("chain", record.chainJSON.map(JSONValue.raw) ?? .array([])),
            ]
            json = .object(fields)
        }

        /// `details=false`: only uuid, name and state.
        var summary: JSONValue {
            .object([
                ("status", .string("success")), ("uuid", .string(id.uuidString.lowercased())),
                ("name", .string(name)), ("state", .string(state)),
            ])
        }

        var etag: String { "\"\(rowVersion)\"" }
    }
}
