import Foundation
import Postgres

/// Writes a running job makes before its commit (ACME checkpoints, the new version's
/// key and chain), each fenced by the lease: a worker that lost the job writes nothing
/// and gets `LeaseLost`.
public struct JobFence: Sendable {
    let db: PostgresClient
    let job: ClaimedJob

    public init(db: PostgresClient, job: ClaimedJob) {
        self.db = db
        self.job = job
    }

    /// `jobs.checkpoint`, decoded; nil when none was saved (or it no longer decodes).
    public func loadCheckpoint<T: Decodable>(_ type: T.Type) async throws -> T? {
        guard
            let text = try await db.query("SELECT checkpoint::text AS checkpoint FROM jobs WHERE id = \(job.id)")
                .first?.decode(String?.self, "checkpoint")
        else { return nil }
        return try? PostgresJSON(text: text).decode(T.self)
    }

    /// Replaces `jobs.checkpoint` (nil clears it).
    public func saveCheckpoint<T: Encodable>(_ value: T?) async throws {
        let json = try value.map { try PostgresJSON(encoding: $0) }
        let updated = try await db.query(
            """
            UPDATE jobs SET checkpoint = \(json), updated_at = now()
            WHERE id = \(job.id) AND lease_owner = \(job.owner) AND state = 'running'
            """
        ).affectedRows
        guard updated == 1 else { throw LeaseLost(jobID: job.id) }
    }

    /// The version row of a new ACME version, holding only its sealed key until the chain
    /// arrives. Does nothing when an earlier attempt stored it.
    public func insertPendingVersion(version: Int, sealed: (sealed: [UInt8], keyID: String)) async throws {
        try await db.query(
            """
            INSERT INTO certificate_versions (certificate_id, version, chain_pem, private_key_sealed, master_key_id)
            SELECT \(job.certificateID), \(Int32(version)), '', \(PostgresBytes(sealed.sealed)), \(sealed.keyID)
            WHERE EXISTS (SELECT 1 FROM jobs WHERE id = \(job.id) AND lease_owner = \(job.owner) AND state = 'running')
            ON CONFLICT (certificate_id, version) DO NOTHING
            """)
    }

    /// The downloaded chain of a pending version (it becomes current at the commit).
    public func storeChain(version: Int, chainPEM: String) async throws {
        let updated = try await db.query(
            """
            UPDATE certificate_versions SET chain_pem = \(chainPEM)
            WHERE certificate_id = \(job.certificateID) AND version = \(Int32(version)) AND state = 'pending'
              AND EXISTS (SELECT 1 FROM jobs WHERE id = \(job.id) AND lease_owner = \(job.owner) AND state = 'running')
            """
        ).affectedRows
        guard updated == 1 else { throw LeaseLost(jobID: job.id) }
    }
}
