import CertFleetCore
import Foundation
import Postgres

/// Everything a deliver job needs, read in one place: the target, the certificate's
/// current version (chain and sealed key) and what the target holds now.
public struct DeliveryWork: Sendable {
    public let target: DeliveryTarget
    public let certificateName: String
    public let currentVersion: Int?
    public let heldVersion: Int?
    public let chainPEM: String
    public let sealedKey: [UInt8]?
    public let masterKeyID: String?
    public let fingerprintSHA256: String?
    public let serial: String?
    /// When the current version became valid (its valid commit), to measure delivery lag.
    public let validSince: Date?
    /// When the job was created: retries end a fixed time after it.
    public let jobCreatedAt: Date
}

/// What a delivered version looks like, as the commit records it.
public struct DeliveryReceipt: Sendable, Equatable {
    public let version: Int
    public let fingerprintSHA256: String
    /// The target's answer (a reload's output, HAProxy's reply, an HTTP status).
    public let answer: String
    /// True when the target already held the version: nothing was sent, no event.
    public let alreadyHeld: Bool

    public init(version: Int, fingerprintSHA256: String, answer: String, alreadyHeld: Bool = false) {
        self.version = version
        self.fingerprintSHA256 = fingerprintSHA256
        self.answer = answer
        self.alreadyHeld = alreadyHeld
    }
}

/// What one target holds of a certificate, for the certificate document.
public struct TargetHolding: Sendable {
    public let targetID: UUID
    public let target: String
    public let kind: DeliveryTargetKind
    public let version: Int?
    public let fingerprintSHA256: String?
    public let deliveredAt: Date?
    public let outcome: String?
    public let code: String?
    public let answer: String?
    public let attemptedAt: Date?
}

/// A delivery given up on (the dead letter), for `GET /v1/targets/{ref}/dead-letters`.
public struct DeadLetter: Sendable {
    public let certificateID: UUID
    public let certificateName: String
    public let version: Int
    public let code: String?
    public let answer: String?
    public let attempts: Int
    public let at: Date
}

/// The deliveries side of the store: bindings that name targets, deliver jobs, and what
/// each target holds (`bindings.target_id`, `target_holdings`, `deliveries`).
public struct Deliveries: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// Binds CONSUMER to the certificate, naming TARGET (nil keeps a plain label). A target
    /// named anew gets the current version at once. Returns the binding id, whether it is
    /// new, and the outbox rows to publish.
    public func bind(
        project: UUID, reference: String, consumer: String, target: UUID?, actor: String
    ) async throws
        -> (id: UUID, created: Bool, outbox: [OutboxMessage])
    {
        try await db.transaction { tx in
            // The row lock orders this against a concurrent delete request.
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            guard certificate.state != .deleting && certificate.state != .deleted else {
                throw StoreError.transitionRefused(code: "certificate_deleting", state: certificate.state.rawValue)
            }
            let previous = try await tx.query(
                """
                SELECT id, target_id FROM bindings WHERE certificate_id = \(certificate.id) AND consumer = \(consumer)
                """
            ).first
            let id: UUID
            if let previous {
                id = try previous.decode(UUID.self, "id")
                if let target, try previous.decode(UUID?.self, "target_id") != target {
                    try await tx.query("UPDATE bindings SET target_id = \(target) WHERE id = \(id)")
                }
            } else {
                id = try await tx.query(
                    """
                    INSERT INTO bindings (certificate_id, consumer, target_id) VALUES (\(certificate.id), \(consumer), \(target)) RETURNING id
                    """
                ).first!.decode(UUID.self, "id")
                try await Events.record(
                    tx, project: project, certificate: certificate.id, job: nil, type: "bound",
                    from: nil, to: nil, reason: consumer, actor: actor)
            }
            let outbox = target == nil || certificate.currentVersion == nil ? [] : try await Self.schedule(tx, certificate: certificate, only: target)
            return (id, previous == nil, outbox)
        }
    }

    /// In the commit that makes a version valid: a deliver job for every target bound to
    /// the certificate (agents excepted: they fetch) (ONLY: just that one), unless one is already queued or running —
    /// that job delivers the current version when it runs, or leaves a follow-up.
    static func schedule(_ tx: PostgresTransaction, certificate: CertificateSnapshot, only: UUID? = nil) async throws -> [OutboxMessage] {
        let targets = try await tx.query(
            """
            SELECT DISTINCT t.id FROM bindings b JOIN delivery_targets t ON t.id = b.target_id
            WHERE b.certificate_id = \(certificate.id) AND t.deleted_at IS NULL AND t.kind <> 'agent'
              AND (\(only)::uuid IS NULL OR t.id = \(only))
            ORDER BY t.id
            """
        ).map { try $0.decode(UUID.self, "id") }
        var outbox: [OutboxMessage] = []
        for target in targets {
            let job = try await tx.query(
                """
                INSERT INTO jobs (project_id, certificate_id, certificate_version, kind, target_id, max_attempts, parameters)
                VALUES (\(certificate.projectID), \(certificate.id), \(certificate.currentVersion.map(Int32.init)), 'deliver', \(target),
                        \(Int32(DeliveryRetryPolicy.standard.maxAttempts)),
                        jsonb_build_object('target_id', \(target.uuidString.lowercased())::text))
                ON CONFLICT (certificate_id, kind, target_id) WHERE state IN ('queued', 'running') DO NOTHING
                RETURNING id
                """
            ).first?.decode(UUID.self, "id")
            guard let job else { continue }
            outbox.append(
                try await Outbox.enqueueJob(
                    tx,
                    JobMessage(
                        jobID: job, certificateID: certificate.id, projectID: certificate.projectID,
                        kind: .deliver)))
        }
        return outbox
    }

    /// The work of deliver job JOB; nil when the binding to its target is gone (a target
    /// never receives the key of a certificate it is not bound to).
    public func work(for job: ClaimedJob) async throws -> DeliveryWork? {
        guard let target = job.parameters["target_id"].flatMap(UUID.init(uuidString:)) else { return nil }
        guard
            let row = try await db.query(
                """
                SELECT t.id, t.project_id, t.name, t.kind, t.config::text AS config, (t.secret_sealed IS NOT NULL) AS has_secret,
                       t.created_at, c.name AS certificate_name, c.current_version, h.version AS held_version,
                       v.chain_pem, v.private_key_sealed, v.master_key_id, v.fingerprint_sha256, v.serial,
                       (SELECT min(e.created_at) FROM events e WHERE e.certificate_id = c.id AND e.type IN ('issued', 'renewed')
                          AND e.created_at >= v.created_at) AS valid_since,
                       (SELECT j.created_at FROM jobs j WHERE j.id = \(job.id)) AS job_created_at
                FROM delivery_targets t
                JOIN certificates c ON c.id = \(job.certificateID) AND c.project_id = t.project_id
                LEFT JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                LEFT JOIN target_holdings h ON h.target_id = t.id AND h.certificate_id = c.id
                WHERE t.id = \(target) AND t.project_id = \(job.projectID) AND t.deleted_at IS NULL
                  AND EXISTS (SELECT 1 FROM bindings b WHERE b.certificate_id = c.id AND b.target_id = t.id)
                """
            ).first
        else { return nil }
        return DeliveryWork(
            target: try Targets.decode(row), certificateName: try row.decode(String.self, "certificate_name"),
            currentVersion: try row.decode(Int?.self, "current_version"), heldVersion: try row.decode(Int?.self, "held_version"),
            chainPEM: try row.decode(String?.self, "chain_pem") ?? "", sealedKey: try row.decode(PostgresBytes?.self, "private_key_sealed")?.bytes,
            masterKeyID: try row.decode(String?.self, "master_key_id"), fingerprintSHA256: try row.decode(String?.self, "fingerprint_sha256"),
            serial: try row.decode(String?.self, "serial"), validSince: try row.decode(Date?.self, "valid_since"),
            jobCreatedAt: try row.decode(Date.self, "job_created_at"))
    }

    /// What every target bound to certificate ID holds (targets not yet tried included).
    public func holdings(certificate id: UUID) async throws -> [TargetHolding] {
        try await db.query(
            """
            SELECT DISTINCT ON (t.name) t.id, t.name, t.kind, h.version, h.fingerprint_sha256, h.delivered_at, h.last_outcome,
                   h.last_code, h.last_answer, h.last_attempt_at
            FROM bindings b JOIN delivery_targets t ON t.id = b.target_id
            LEFT JOIN target_holdings h ON h.target_id = t.id AND h.certificate_id = b.certificate_id
            WHERE b.certificate_id = \(id) ORDER BY t.name
            """
        ).map { row in
            TargetHolding(
                targetID: try row.decode(UUID.self, "id"), target: try row.decode(String.self, "name"),
                kind: DeliveryTargetKind(rawValue: try row.decode(String.self, "kind")) ?? .files,
                version: try row.decode(Int?.self, "version"), fingerprintSHA256: try row.decode(String?.self, "fingerprint_sha256"),
                deliveredAt: try row.decode(Date?.self, "delivered_at"), outcome: try row.decode(String?.self, "last_outcome"),
                code: try row.decode(String?.self, "last_code"), answer: try row.decode(String?.self, "last_answer"),
                attemptedAt: try row.decode(Date?.self, "last_attempt_at"))
        }
    }

    /// The consumer that stands for Unit listener LISTENER on the Unit-compatible surface.
    public static func unitListenerConsumer(_ listener: String) -> String { "unit-listener:\(listener)" }

    /// The bundle (certificate name) Unit listener LISTENER of PROJECT uses, if any.
    public func unitListenerCertificate(project: UUID, listener: String) async throws -> String? {
        try await db.query(
            """
            SELECT c.name FROM bindings b JOIN certificates c ON c.id = b.certificate_id
            WHERE c.project_id = \(project) AND b.consumer = \(Self.unitListenerConsumer(listener)) AND c.deleted_at IS NULL
            ORDER BY b.created_at DESC LIMIT 1
            """
        ).first?.decode(String.self, "name")
    }

    /// Points Unit listener LISTENER at certificate REFERENCE: its binding moves there in one
    /// transaction, so the previous bundle is free to delete afterwards.
    public func switchUnitListener(project: UUID, listener: String, to reference: String, actor: String) async throws {
        let consumer = Self.unitListenerConsumer(listener)
        try await db.transaction { tx in
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            try await tx.query(
                """
                DELETE FROM bindings b USING certificates c
                WHERE b.certificate_id = c.id AND c.project_id = \(project) AND b.consumer = \(consumer) AND c.id <> \(certificate.id)
                """)
            _ = try await Bindings.insert(tx, project: project, certificate: certificate.id, consumer: consumer, actor: actor)
        }
    }

    /// The deliveries to TARGET that were given up on, newest first.
    public func deadLetters(target: UUID) async throws -> [DeadLetter] {
        try await db.query(
            """
            SELECT d.certificate_id, c.name, d.version, d.code, d.answer, d.attempts, d.created_at
            FROM deliveries d JOIN certificates c ON c.id = d.certificate_id
            WHERE d.target_id = \(target) AND d.outcome = 'failed' ORDER BY d.created_at DESC LIMIT 100
            """
        ).map { row in
            DeadLetter(
                certificateID: try row.decode(UUID.self, "certificate_id"), certificateName: try row.decode(String.self, "name"),
                version: try row.decode(Int.self, "version"), code: try row.decode(String?.self, "code"),
                answer: try row.decode(String?.self, "answer"), attempts: try row.decode(Int.self, "attempts"),
                at: try row.decode(Date.self, "created_at"))
        }
    }
}
