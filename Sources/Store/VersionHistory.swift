import Foundation
import Postgres

/// A certificate's versions as the console lists them (never the key or the chain).
public struct VersionHistory: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    public struct Entry: Sendable {
        public let version: Int
        public let state: String
        public let serial: String?
        public let notBefore: Date?
        public let notAfter: Date?
        public let createdAt: Date
    }

    /// Every version of CERTIFICATE (of PROJECT), newest first.
    public func versions(project: UUID, certificate: UUID) async throws -> [Entry] {
        try await db.query(
            """
            SELECT v.version, v.state, v.serial, v.not_before, v.not_after, v.created_at
            FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id
            WHERE c.project_id = \(project) AND v.certificate_id = \(certificate)
            ORDER BY v.version DESC
            """
        ).map { row in
            Entry(
                version: try row.decode(Int.self, "version"), state: try row.decode(String.self, "state"),
                serial: try row.decode(String?.self, "serial"), notBefore: try row.decode(Date?.self, "not_before"),
                notAfter: try row.decode(Date?.self, "not_after"), createdAt: try row.decode(Date.self, "created_at"))
        }
    }
}
