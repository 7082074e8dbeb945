import CertFleetCore
import Foundation
import Postgres

/// What a submission created (or found, for a repeated idempotency key).
public struct SubmittedJob: Sendable, Equatable {
    public let jobID: UUID
    public let certificateID: UUID
    public let certificateName: String
    public let kind: JobKind
    /// The outbox row of the job message, to publish after commit (nil when the job existed).
    public let outbox: OutboxMessage?
    /// True when an earlier request with the same idempotency key created the job.
    public let isReplay: Bool
}

/// An uploaded chain and key, already checked to parse (the worker validates it fully).
public struct UploadRequest: Sendable {
    public var projectID: UUID
    /// nil: generate `<common name>-xxxxx`.
    public var name: String?
    public var commonName: String
    public var sans: [String]
    public var chainPEM: String
    public var privateKeyPEM: String
    public var clientCAPEM: String?
    public var usage: String
    public var idempotencyKey: String?
    /// Who asked (API key id, `amqp:<key id>`, `cli`): kept in the audit trail.
    public var actor: String
    /// A consumer to bind in the same transaction (EMQX's create: upload and bind, or neither).
    public var bindTo: String?

    public init(
        projectID: UUID, name: String?, commonName: String, sans: [String], chainPEM: String, privateKeyPEM: String,
        clientCAPEM: String? = nil, usage: String = "server", idempotencyKey: String? = nil, actor: String
    ) {
        self.projectID = projectID
        self.name = name
        self.commonName = commonName
        self.sans = sans
        self.chainPEM = chainPEM
        self.privateKeyPEM = privateKeyPEM
        self.clientCAPEM = clientCAPEM
        self.usage = usage
        self.idempotencyKey = idempotencyKey
        self.actor = actor
    }
}

/// The accept step of the job protocol: one transaction writes the certificate, its
/// version, the job and the job's outbox row. After commit, `afterCommit` publishes the
/// job message at once; a crash in between leaves the outbox row for the relay.
public struct Submissions: Sendable {
    let db: PostgresClient
    let sealer: KeySealer
    /// Attempts a job gets before it fails for good.
    public var maxAttempts = 8
    /// Called with the new outbox row of each committed submission (the outbox publisher's
    /// `publishNow`); nil leaves every message to the relay.
    public var afterCommit: (@Sendable ([OutboxMessage]) async -> Void)?

    public init(db: PostgresClient, sealer: KeySealer, afterCommit: (@Sendable ([OutboxMessage]) async -> Void)? = nil) {
        self.db = db
        self.sealer = sealer
        self.afterCommit = afterCommit
    }

    /// A new certificate from an upload → `pending`, and a validate job.
    public func upload(_ request: UploadRequest) async throws -> SubmittedJob {
        let scope = IdempotencyScope(project: request.projectID, key: request.idempotencyKey, kind: .validate, reference: nil)
        let certificateID = UUID()
        let sealed = try sealer.seal(
            Array(request.privateKeyPEM.utf8), context: KeySealer.certificateKeyContext(certificate: certificateID, version: 1))
        return try await submitting(scope) { tx in
            let name = try await Self.insertNamed(request.name, commonName: request.commonName) { name in
                !(try await tx.query(
                    """
                    INSERT INTO certificates (id, project_id, name, common_name, sans, source, state, usage)
                    VALUES (\(certificateID), \(request.projectID), \(name), \(request.commonName), \(request.sans),
                        'uploaded', 'pending', \(request.usage))
                    ON CONFLICT DO NOTHING RETURNING id
                    """
                ).isEmpty)
            }
            try await insertVersion(
                tx, certificate: certificateID, version: 1, chain: request.chainPEM, clientCA: request.clientCAPEM, sealed: sealed)
            try await Events.record(
                tx, project: request.projectID, certificate: certificateID, job: nil, type: "created",
                from: nil, to: CertificateState.pending.rawValue, actor: request.actor)
            if let consumer = request.bindTo {
                try await Bindings.claimConsumer(tx, project: request.projectID, consumer: consumer)
                _ = try await Bindings.insert(tx, project: request.projectID, certificate: certificateID, consumer: consumer, actor: request.actor)
            }
            return try await insertJob(
                tx, project: request.projectID, certificate: certificateID, name: name, kind: .validate,
                version: 1, key: request.idempotencyKey)
        }
    }

    /// A new version for an existing certificate (`PUT`): validated by a job; the current
    /// version keeps serving until the new one is valid.
    public func reimport(_ request: UploadRequest, reference: String, expectedVersion: Int64? = nil) async throws -> SubmittedJob {
        let scope = IdempotencyScope(project: request.projectID, key: request.idempotencyKey, kind: .validate, reference: reference)
        return try await submitting(scope) { tx in
            let certificate = try await Certificates.lock(tx, project: request.projectID, reference: reference)
            if let expectedVersion, expectedVersion != certificate.rowVersion {
                throw StoreError.versionMismatch(expected: expectedVersion, actual: certificate.rowVersion)
            }
            let next = try transition(certificate, .reimported)
            let version = try await tx.query(
                "SELECT coalesce(max(version), 0) + 1 AS v FROM certificate_versions WHERE certificate_id = \(certificate.id)"
            )
            .first!.decode(Int.self, "v")
            let sealed = try sealer.seal(
                Array(request.privateKeyPEM.utf8), context: KeySealer.certificateKeyContext(certificate: certificate.id, version: version))
            try await insertVersion(
                tx, certificate: certificate.id, version: version, chain: request.chainPEM, clientCA: request.clientCAPEM, sealed: sealed)
            try await tx.query(
                """
                UPDATE certificates SET state = \(next.rawValue), usage = \(request.usage), version = version + 1, updated_at = now()
                WHERE id = \(certificate.id)
                """)
            try await Events.record(
                tx, project: request.projectID, certificate: certificate.id, job: nil, type: "reimported",
                from: certificate.state.rawValue, to: next.rawValue, actor: request.actor)
            return try await insertJob(
                tx, project: request.projectID, certificate: certificate.id, name: certificate.name,
                kind: .validate, version: version, key: request.idempotencyKey)
        }
    }

    /// Deletion: refused while the certificate is bound; otherwise `deleting` and a delete job.
    public func delete(
        project: UUID, reference: String, idempotencyKey: String? = nil, expectedVersion: Int64? = nil, actor: String
    ) async throws -> SubmittedJob {
        return try await submitting(IdempotencyScope(project: project, key: idempotencyKey, kind: .delete, reference: reference)) { tx in
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            if let expectedVersion, expectedVersion != certificate.rowVersion {
                throw StoreError.versionMismatch(expected: expectedVersion, actual: certificate.rowVersion)
            }
            let consumers = try await Certificates.bindings(tx, certificate: certificate.id)
            guard consumers.isEmpty else { throw StoreError.certificateInUse(consumers: consumers) }
            let next = try transition(certificate, .deleteRequested)
            try await Certificates.transition(tx, certificate, to: next, event: "delete_requested", actor: actor)
            return try await insertJob(
                tx, project: project, certificate: certificate.id, name: certificate.name, kind: .delete,
                version: nil, key: idempotencyKey, parameters: ["previous_state": certificate.state.rawValue])
        }
    }

    // MARK: - shared steps

    func transition(_ certificate: CertificateSnapshot, _ event: CertificateEvent) throws -> CertificateState {
        switch CertificateStateMachine.next(certificate.state, on: event) {
        case .success(let next): return next
        case .failure(let refusal): throw StoreError.transitionRefused(code: refusal.rawValue, state: certificate.state.rawValue)
        }
    }

    /// Runs INSERT (true: inserted, false: the name is taken) under NAME; when the caller
    /// named none, under a generated `<common name>-xxxxx`, drawn again on the rare
    /// collision (36^5 suffixes: among 1,000 certificates of one common name about 1 batch
    /// in 120 would otherwise hit one). Returns the name used.
    static func insertNamed(_ requested: String?, commonName: String, _ insert: (String) async throws -> Bool) async throws -> String {
        if let requested {
            guard try await insert(requested) else { throw StoreError.nameTaken(requested) }
            return requested
        }
        var name = CertificateName.generate(commonName: commonName)
        for _ in 0..<8 {
            if try await insert(name) { return name }
            name = CertificateName.generate(commonName: commonName)
        }
        throw StoreError.nameTaken(name)
    }

    /// What an idempotency key stands for: a request of KIND in PROJECT, about the
    /// certificate REFERENCE (a name or uuid; nil when the request creates one).
    struct IdempotencyScope: Sendable {
        let project: UUID
        let key: String?
        let kind: JobKind
        let reference: String?
    }

    /// Returns the job an earlier request with the scope's key created, or runs BODY in a
    /// transaction; a concurrent twin with the same key that wins the race → its job.
    func submitting(
        _ scope: IdempotencyScope, _ body: @escaping @Sendable (PostgresTransaction) async throws -> SubmittedJob
    ) async throws -> SubmittedJob {
        if let replay = try await replay(scope) { return replay }
        do {
            let job = try await db.transaction { tx in try await body(tx) }
            if let outbox = job.outbox, let afterCommit { await afterCommit([outbox]) }
            return job
        } catch let error as PostgresError where error.sqlState == .uniqueViolation && error.constraint == "jobs_idempotency" {
            if let replay = try await replay(scope) { return replay }
            throw error
        }
    }

    /// The job the scope's key already created. A key is only a replay of the same kind of
    /// request about the same certificate: anything else is refused, never answered with an
    /// unrelated job.
    func replay(_ scope: IdempotencyScope) async throws -> SubmittedJob? {
        guard let key = scope.key else { return nil }
        guard let row = try await db.query(Self.replayQuery(project: scope.project, key: key)).first else { return nil }
        let certificateID = try row.decode(UUID.self, "certificate_id"), name = try row.decode(String.self, "name")
        let kind = try row.decode(String.self, "kind")
        guard kind == scope.kind.rawValue, let jobKind = JobKind(rawValue: kind) else { throw StoreError.idempotencyKeyReused(kind: kind) }
        if let reference = scope.reference, reference != name, UUID(uuidString: reference) != certificateID {
            throw StoreError.idempotencyKeyReused(kind: kind)
        }
        return SubmittedJob(
            jobID: try row.decode(UUID.self, "id"), certificateID: certificateID, certificateName: name, kind: jobKind,
            outbox: nil, isReplay: true)
    }

    /// The idempotency lookup (`jobs_idempotency`).
    static func replayQuery(project: UUID, key: String) -> PostgresQuery {
        """
        SELECT j.id, j.certificate_id, j.kind, c.name FROM jobs j JOIN certificates c ON c.id = j.certificate_id
        WHERE j.project_id = \(project) AND j.idempotency_key = \(key)
        """
    }

    func insertVersion(
        _ tx: PostgresTransaction, certificate: UUID, version: Int, chain: String, clientCA: String?, sealed: (sealed: [UInt8], keyID: String)
    ) async throws {
        try await tx.query(
            """
            INSERT INTO certificate_versions (certificate_id, version, chain_pem, client_ca_pem, private_key_sealed, master_key_id)
            VALUES (\(certificate), \(Int32(version)), \(chain), \(clientCA), \(PostgresBytes(sealed.sealed)), \(sealed.keyID))
            """)
    }

    func insertJob(
        _ tx: PostgresTransaction, project: UUID, certificate: UUID, name: String, kind: JobKind, version: Int?,
        key: String?, parameters: [String: String] = [:]
    ) async throws -> SubmittedJob {
        try await Self.insertJob(
            tx, project: project, certificate: certificate, name: name, kind: kind, version: version, key: key,
            maxAttempts: maxAttempts, parameters: parameters)
    }

    /// Inserts a job and its outbox message; refused while a job of the kind is active for the certificate.
    static func insertJob(
        _ tx: PostgresTransaction, project: UUID, certificate: UUID, name: String, kind: JobKind, version: Int?,
        key: String?, maxAttempts: Int, parameters: [String: String] = [:]
    ) async throws -> SubmittedJob {
        let rows = try await tx.query(
            """
            INSERT INTO jobs (project_id, certificate_id, certificate_version, kind, idempotency_key, max_attempts, parameters)
            VALUES (\(project), \(certificate), \(version.map(Int32.init)), \(kind.rawValue), \(key), \(Int32(maxAttempts)),
                    \(try PostgresJSON(encoding: parameters)))
            ON CONFLICT (certificate_id, kind, target_id) WHERE state IN ('queued', 'running') DO NOTHING
            RETURNING id
            """)
        guard let jobID = try rows.first?.decode(UUID.self, "id") else {
            let active = try await tx.query(
                """
                SELECT id FROM jobs WHERE certificate_id = \(certificate) AND kind = \(kind.rawValue) AND state IN ('queued', 'running')
                """
            ).first?.decode(UUID.self, "id")
            throw StoreError.jobAlreadyActive(jobID: active ?? UUID(), kind: kind.rawValue)
        }
        let outbox = try await Outbox.enqueueJob(tx, JobMessage(jobID: jobID, certificateID: certificate, projectID: project, kind: kind))
        return SubmittedJob(jobID: jobID, certificateID: certificate, certificateName: name, kind: kind, outbox: outbox, isReplay: false)
    }
}

extension Submissions {
    /// Prefixes kept for the idempotency keys of CertFleet's own submissions (the
    /// scheduler's `renew:<uuid>:<version>`): a client choosing one could make a later
    /// automatic renewal look like a replay and never run.
    public static let internalKeyPrefixes = ["renew:", "certfleet:"]

    /// KEY as a client's idempotency key: 1–200 characters, no internal prefix.
    public static func clientKey(_ key: String) throws -> String {
        guard (1...200).contains(key.count) else { throw StoreError.idempotencyKeyInvalid("an idempotency key has 1–200 characters") }
        if let prefix = internalKeyPrefixes.first(where: { key.lowercased().hasPrefix($0) }) {
            throw StoreError.idempotencyKeyInvalid("idempotency keys starting with '\(prefix)' are reserved for CertFleet's own jobs")
        }
        return key
    }
}
