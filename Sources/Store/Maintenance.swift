import CertFleetCore
import Foundation
import Postgres

/// The scheduler's periodic repairs. Every query locks with `FOR UPDATE SKIP LOCKED`,
/// so several schedulers share the work instead of doing it twice.
public struct Maintenance: Sendable {
    let db: PostgresClient
    /// Recorded as the actor of the events this produces.
    let actor: String

    public init(db: PostgresClient, actor: String) {
        self.db = db
        self.actor = actor
    }

    /// Running jobs whose lease ran out (a worker crashed or hung) go back to `queued`,
    /// or to `failed` when that was their last attempt. Returns outbox ids to publish.
    public func reapExpiredLeases(limit: Int = 100) async throws -> (reaped: Int, outbox: [OutboxMessage]) {
        try await db.transaction { tx in
            let rows = try await tx.query(Self.reapQuery(limit: limit))
            var outbox: [OutboxMessage] = []
            for row in rows {
                let owner = try row.decode(String.self, "lease_owner")
                let job = ClaimedJob(
                    id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"),
                    certificateID: try row.decode(UUID.self, "certificate_id"), certificateVersion: try row.decode(Int?.self, "certificate_version"),
                    kind: JobKind(rawValue: try row.decode(String.self, "kind"))!, attempt: try row.decode(Int.self, "attempt"),
                    maxAttempts: try row.decode(Int.self, "max_attempts"),
                    parameters: (try? PostgresJSON(text: row.decode(String.self, "parameters")).decode([String: String].self)) ?? [:],
                    owner: owner, readySince: try row.decode(Date.self, "created_at"))
                let report = try await JobCommit(tx: tx, job: job).apply(
                    .retry(
                        .leaseExpired, message: "worker \(owner) stopped renewing its lease", notBefore: Date()))
                outbox += report.outbox
            }
            return (rows.count, outbox)
        }
    }

    /// Valid certificates whose current version is past `not_after` become `expired`.
    public func expireCertificates(limit: Int = 100) async throws -> (expired: Int, outbox: [OutboxMessage]) {
        try await db.transaction { tx in
            let rows = try await tx.query(Self.expiredQuery(limit: limit))
            var outbox: [OutboxMessage] = []
            for row in rows {
                let certificate = try Certificates.snapshot(row)
                guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .expired) else { continue }
                try await tx.query(
                    "UPDATE certificates SET state = \(next.rawValue), version = version + 1, updated_at = now() WHERE id = \(certificate.id)")
                outbox.append(
                    try await Events.announce(
                        tx, certificate: certificate, to: next, event: "expired", job: nil, attempt: nil, actor: actor,
                        version: certificate.currentVersion, serial: try row.decode(String?.self, "serial"),
                        notAfter: try row.decode(Date?.self, "not_after")))
            }
            return (rows.count, outbox)
        }
    }

    /// Queued, due jobs that nothing has touched for AGE and that have no message waiting in
    /// the outbox get a new message (a safety net for a message lost outside our control).
    public func redeliverStaleQueuedJobs(age: Duration = .seconds(120), limit: Int = 100) async throws -> [OutboxMessage] {
        try await db.transaction { tx in
            let rows = try await tx.query(Self.staleQueuedQuery(age: age, limit: limit))
            var outbox: [OutboxMessage] = []
            for row in rows {
                let id = try row.decode(UUID.self, "id")
                try await tx.query("UPDATE jobs SET updated_at = now() WHERE id = \(id)")
                outbox.append(
                    try await Outbox.enqueueJob(
                        tx,
                        JobMessage(
                            jobID: id, certificateID: try row.decode(UUID.self, "certificate_id"),
                            projectID: try row.decode(UUID.self, "project_id"), kind: JobKind(rawValue: try row.decode(String.self, "kind"))!)))
            }
            return outbox
        }
    }

    /// The reaper's SELECT: running jobs whose lease ran out (`jobs_lease_expiry`).
    public static func reapQuery(limit: Int) -> PostgresQuery {
        """
        SELECT id, project_id, certificate_id, certificate_version, kind, attempt, max_attempts,
               parameters::text AS parameters, lease_owner, created_at
        FROM jobs WHERE state = 'running' AND lease_expires_at < now()
        ORDER BY lease_expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
        """
    }

    /// The expiry scan's SELECT: served certificates past the end of their valid current version
    /// (`valid_until`, migration 0019). The index `certificates_served_until` holds only served
    /// certificates, so one that became `expired` is not read again on every tick.
    public static func expiredQuery(limit: Int) -> PostgresQuery {
        """
        SELECT c.id, c.project_id, c.name, c.state, c.current_version, c.version, c.valid_until AS not_after, v.serial
        FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
        WHERE c.state IN ('valid', 'renewing') AND c.deleted_at IS NULL AND c.valid_until < now()
        ORDER BY c.valid_until LIMIT \(limit) FOR UPDATE OF c SKIP LOCKED
        """
    }

    /// The SELECT of queued jobs nobody touched for AGE (`jobs_queued_due`).
    public static func staleQueuedQuery(age: Duration, limit: Int) -> PostgresQuery {
        """
        SELECT j.id, j.certificate_id, j.project_id, j.kind FROM jobs j
        WHERE j.state = 'queued' AND j.not_before <= now()
          AND j.updated_at < now() - \(JobLedger.seconds(age)) * interval '1 second'
          AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.published_at IS NULL
                          AND o.ordering_key = 'jobs:' || j.certificate_id::text)
        ORDER BY j.not_before LIMIT \(limit) FOR UPDATE OF j SKIP LOCKED
        """
    }
}
