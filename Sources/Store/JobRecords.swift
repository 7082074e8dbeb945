import Foundation
import Postgres

/// A job row as `GET /v1/jobs` shows it.
public struct JobRecord: Sendable {
    public let id: UUID
    public let kind: String
    public let state: String
    public let attempt: Int
    public let maxAttempts: Int
    public let certificateID: UUID
    public let certificateVersion: Int?
    public let notBefore: Date
    public let errorCode: String?
    public let errorDetail: String?
    public let createdAt: Date
    public let startedAt: Date?
    public let finishedAt: Date?

    init(_ row: PostgresRow) throws {
        id = try row.decode(UUID.self, "id")
        kind = try row.decode(String.self, "kind")
        state = try row.decode(String.self, "state")
        attempt = try row.decode(Int.self, "attempt")
        maxAttempts = try row.decode(Int.self, "max_attempts")
        certificateID = try row.decode(UUID.self, "certificate_id")
        certificateVersion = try row.decode(Int?.self, "certificate_version")
        notBefore = try row.decode(Date.self, "not_before")
        errorCode = try row.decode(String?.self, "error_code")
        errorDetail = try row.decode(String?.self, "error_detail")
        createdAt = try row.decode(Date.self, "created_at")
        startedAt = try row.decode(Date?.self, "started_at")
        finishedAt = try row.decode(Date?.self, "finished_at")
    }
}

/// An audit event as `GET /v1/certificates/{ref}/events` shows it.
public struct EventRecord: Sendable {
    public let id: Int
    public let type: String
    public let fromState: String?
    public let toState: String?
    public let attempt: Int?
    public let reason: String?
    public let actor: String
    public let jobID: UUID?
    public let createdAt: Date
}

/// Reads of jobs and events for the API (the job protocol's writes are in JobLedger/JobCommit).
public struct JobRecords: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    static let columns = """
        j.id, j.kind, j.state, j.attempt, j.max_attempts, j.certificate_id, j.certificate_version, j.not_before,
        j.error_code, j.error_detail, j.created_at, j.started_at, j.finished_at
        """

    public func job(project: UUID, id: UUID) async throws -> JobRecord? {
        try await db.query(
            """
            SELECT \(unescaped: Self.columns) FROM jobs j WHERE j.project_id = \(project) AND j.id = \(id)
            """
        ).first.map(JobRecord.init)
    }

    /// Every job of CERTIFICATE, oldest first.
    public func jobs(project: UUID, certificate: UUID) async throws -> [JobRecord] {
        try await db.query(
            """
            SELECT \(unescaped: Self.columns) FROM jobs j WHERE j.project_id = \(project) AND j.certificate_id = \(certificate)
            ORDER BY j.created_at, j.id
            """
        ).map(JobRecord.init)
    }

    /// The state of job ID and, once it failed, why (nil: no such job).
    public func outcome(id: UUID) async throws -> (state: String, errorCode: String?, errorDetail: String?)? {
        try await db.query("SELECT state, error_code, error_detail FROM jobs WHERE id = \(id)").first.map { row in
            (try row.decode(String.self, "state"), try row.decode(String?.self, "error_code"), try row.decode(String?.self, "error_detail"))
        }
    }

    /// CERTIFICATE's audit trail, oldest first.
    public func events(project: UUID, certificate: UUID) async throws -> [EventRecord] {
        try await db.query(
            """
            SELECT id, type, from_state, to_state, attempt, reason, actor, job_id, created_at FROM events
            WHERE project_id = \(project) AND certificate_id = \(certificate) ORDER BY id
            """
        ).map { row in
            EventRecord(
                id: try row.decode(Int.self, "id"), type: try row.decode(String.self, "type"),
                fromState: try row.decode(String?.self, "from_state"), toState: try row.decode(String?.self, "to_state"),
                attempt: try row.decode(Int?.self, "attempt"), reason: try row.decode(String?.self, "reason"),
                actor: try row.decode(String.self, "actor"), jobID: try row.decode(UUID?.self, "job_id"),
                createdAt: try row.decode(Date.self, "created_at"))
        }
    }
}
