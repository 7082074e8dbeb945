import Foundation
import Postgres

/// One TXT value a job wrote through a DNS provider (a `dns_challenge_records` row), and where it stands.
public struct DNSProviderRecordEntry: Sendable, Equatable {
    public let jobID: UUID
    public let identifier: String
    public let provider: String
    public let recordName: String
    public let recordValue: String
    /// `presenting` (being written), `present`, `removed`.
    public let state: String
    /// The last propagation round, a JSON array (one object per server asked).
    public let propagation: String?
    public let jobState: String
    public let updatedAt: Date
}

/// The `dns_challenge_records` ledger: written before and after every provider call, so
/// what a job left in a zone is visible and cleanup can remove exactly those values.
public enum DNSChallengeRecords {
    public static func presenting(_ db: PostgresClient, job: UUID, identifier: String, provider: String, name: String, value: String) async throws {
        try await db.query(
            """
            INSERT INTO dns_challenge_records (job_id, identifier, provider, record_name, record_value, state)
            VALUES (\(job), \(identifier), \(provider), \(name), \(value), 'presenting')
            ON CONFLICT (job_id, record_name, record_value) DO UPDATE SET state = 'presenting', updated_at = now()
            """)
    }

    public static func mark(_ db: PostgresClient, job: UUID, name: String, value: String, state: String) async throws {
        try await db.query(
            """
            UPDATE dns_challenge_records SET state = \(state), updated_at = now()
            WHERE job_id = \(job) AND record_name = \(name) AND record_value = \(value)
            """)
    }

    /// Stores JSON (the last propagation round) on the record.
    public static func saveTrace(_ db: PostgresClient, job: UUID, name: String, value: String, json: String) async throws {
        let trace = PostgresJSON(text: json)
        try await db.query(
            """
            UPDATE dns_challenge_records SET propagation = \(trace), updated_at = now()
            WHERE job_id = \(job) AND record_name = \(name) AND record_value = \(value)
            """)
    }

    /// The records of CERTIFICATE's jobs in PROJECT, oldest first.
    public static func list(_ db: PostgresClient, project: UUID, certificate: UUID) async throws -> [DNSProviderRecordEntry] {
        try await db.query(
            """
            SELECT r.job_id, r.identifier, r.provider, r.record_name, r.record_value, r.state, r.propagation::text AS propagation,
                   r.updated_at, j.state AS job_state
            FROM dns_challenge_records r JOIN jobs j ON j.id = r.job_id
            WHERE j.project_id = \(project) AND j.certificate_id = \(certificate)
            ORDER BY r.created_at, r.identifier, r.record_value
            """
        ).map { row in
            DNSProviderRecordEntry(
                jobID: try row.decode(UUID.self, "job_id"), identifier: try row.decode(String.self, "identifier"),
                provider: try row.decode(String.self, "provider"), recordName: try row.decode(String.self, "record_name"),
                recordValue: try row.decode(String.self, "record_value"), state: try row.decode(String.self, "state"),
                propagation: try row.decode(String?.self, "propagation"), jobState: try row.decode(String.self, "job_state"),
                updatedAt: try row.decode(Date.self, "updated_at"))
        }
    }

    /// Values of JOB not yet removed.
    public static func outstanding(_ db: PostgresClient, job: UUID) async throws -> [(name: String, value: String)] {
        try await db.query(
            """
            SELECT record_name, record_value FROM dns_challenge_records WHERE job_id = \(job) AND state <> 'removed'
            """
        ).map { (try $0.decode(String.self, "record_name"), try $0.decode(String.self, "record_value")) }
    }
}
