import CertFleetCore
import Foundation
import Postgres

/// A job a worker owns until its lease expires.
public struct ClaimedJob: Sendable {
    public let id: UUID
    public let projectID: UUID
    public let certificateID: UUID
    public let certificateVersion: Int?
    public let kind: JobKind
    /// This attempt's number (1 for the first).
    public let attempt: Int
    public let maxAttempts: Int
    public let parameters: [String: String]
    public let owner: String
    /// When the job was first accepted (queue-to-claim lag is measured from here or `not_before`).
    public let readySince: Date
    /// A validate job's version, read by the claim itself (nil for other kinds, or when it does not exist).
    public var material: VersionMaterial? = nil
}

/// The facts a validate (or issue/renew) job established about a new version.
public struct ValidatedVersion: Sendable {
    public var commonName: String?
    public var sans: [String]
    public var serial: String
    public var notBefore: Date
    public var notAfter: Date
    public var fingerprintSHA256: String
    public var issuer: String
    public var subject: String
    public var details: PostgresJSON
    public var lint: PostgresJSON
    /// The CA's suggestion (ARI): renew at this moment if it is before CertFleet's own renew_at.
    public var suggestedRenewAt: Date? = nil

    public init(
        commonName: String?, sans: [String], serial: String, notBefore: Date, notAfter: Date,
        fingerprintSHA256: String, issuer: String, subject: String, details: PostgresJSON, lint: PostgresJSON
    ) {
        self.commonName = commonName
        self.sans = sans
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.fingerprintSHA256 = fingerprintSHA256
        self.issuer = issuer
        self.subject = subject
        self.details = details
        self.lint = lint
    }

    /// The same, with the certificate's details and lint findings as the values to store as JSON.
    public init(
        commonName: String?, sans: [String], serial: String, notBefore: Date, notAfter: Date,
        fingerprintSHA256: String, issuer: String, subject: String, details: some Encodable, lint: some Encodable
    ) throws {
        self.init(
            commonName: commonName, sans: sans, serial: serial, notBefore: notBefore, notAfter: notAfter,
            fingerprintSHA256: fingerprintSHA256, issuer: issuer, subject: subject,
            details: try PostgresJSON(encoding: details), lint: try PostgresJSON(encoding: lint))
    }
}

/// How a job attempt ended, as the worker commits it.
public enum JobResult: Sendable {
    /// A new version is valid and becomes current.
    case validated(ValidatedVersion)
    /// The certificate is gone; its keys erased.
    case deleted
    /// A permanent failure: never retried. CODE is a stable reason (`key_mismatch`, …).
    case failed(FailureReason, message: String)
    /// A transient failure: try again at NOTBEFORE (unless attempts are used up).
    case retry(FailureReason, message: String, notBefore: Date)
    /// Nothing failed; the job waits for something outside (a manual DNS record) and
    /// runs again at NOTBEFORE without spending an attempt.
    case snoozed(FailureReason, message: String, notBefore: Date)
    /// The CA revoked the current version.
    case revoked
    /// A deliver job put a version on its target (or found it there already).
    case delivered(DeliveryReceipt)
}

/// What a commit did, for logs, metrics and tests.
public struct CommitReport: Sendable, Equatable {
    public let jobState: JobState
    public let certificateState: CertificateState?
    public let event: String?
    /// Outbox rows to publish now (events, delayed job messages).
    public let outbox: [OutboxMessage]
}

/// Claim, lease, commit and reap: the job table side of the job protocol (DESIGN.md).
/// Every write of a worker is fenced by `lease_owner = me AND state = 'running'`.
public struct JobLedger: Sendable {
    let db: PostgresClient
    /// Event data needs no key material: only ids, names, dates.
    public init(db: PostgresClient) { self.db = db }

    /// Step 2, claim: one conditional UPDATE. nil means a duplicate or stale delivery.
    public func claim(jobID: UUID, owner: String, lease: Duration) async throws -> ClaimedJob? {
        guard let row = try await db.query(Self.claimQuery(jobID: jobID, owner: owner, lease: lease)).first else { return nil }
        var job = ClaimedJob(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"),
            certificateID: try row.decode(UUID.self, "certificate_id"), certificateVersion: try row.decode(Int?.self, "certificate_version"),
            kind: JobKind(rawValue: try row.decode(String.self, "kind"))!, attempt: try row.decode(Int.self, "attempt"),
            maxAttempts: try row.decode(Int.self, "max_attempts"),
            parameters: (try? PostgresJSON(text: row.decode(String.self, "parameters")).decode([String: String].self)) ?? [:],
            owner: owner, readySince: try row.decode(Date.self, "ready_since"))
        if try row.decode(Bool.self, "has_material"), let version = job.certificateVersion {
            job.material = try CertificateVersions.material(row, certificate: job.certificateID, version: version)
        }
        return job
    }

    /// The claim's UPDATE (by primary key); a validate job's version comes back with it, so
    /// the job needs no read of its own (issue 21: one statement and one transaction less).
    public static func claimQuery(jobID: UUID, owner: String, lease: Duration) -> PostgresQuery {
        """
        WITH claimed AS (
            UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = \(owner),
                   lease_expires_at = now() + \(Self.seconds(lease)) * interval '1 second',
                   started_at = coalesce(started_at, now()), updated_at = now()
            WHERE id = \(jobID) AND state = 'queued' AND not_before <= now() AND attempt < max_attempts
            RETURNING id, project_id, certificate_id, certificate_version, kind, attempt, max_attempts,
                      parameters::text AS parameters, greatest(created_at, not_before) AS ready_since
        )
        SELECT j.*, v.version IS NOT NULL AS has_material, \(unescaped: CertificateVersions.materialColumns)
        FROM claimed j
        LEFT JOIN certificate_versions v
               ON j.kind = 'validate' AND v.certificate_id = j.certificate_id AND v.version = j.certificate_version
        LEFT JOIN certificates c ON v.version IS NOT NULL AND c.id = j.certificate_id
        """
    }

    /// Step 3, long work extends the lease. False: the lease is lost (stop working).
    public func extendLease(_ job: ClaimedJob, lease: Duration) async throws -> Bool {
        try await db.query(
            """
            UPDATE jobs SET lease_expires_at = now() + \(Self.seconds(lease)) * interval '1 second', updated_at = now()
            WHERE id = \(job.id) AND lease_owner = \(job.owner) AND state = 'running'
            """
        ).affectedRows == 1
    }

    /// Step 4/5, commit: job, certificate, event and the event's outbox row in one transaction.
    /// Throws `LeaseLost` (and commits nothing) when the worker no longer owns the job.
    public func commit(_ job: ClaimedJob, result: JobResult) async throws -> CommitReport {
        try await db.transaction { tx in
            try await JobCommit(tx: tx, job: job).apply(result)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
