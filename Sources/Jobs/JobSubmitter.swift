import AMQP
import Foundation
import Logging
import Postgres
import Store

/// The submit API the HTTP front and the AMQP intake call: one transaction writes
/// the rows and the outbox message; after commit the message is published with a
/// confirm. A crash in between leaves the outbox row for the relay.
public struct JobSubmitter: Sendable {
    public let submissions: Submissions
    let publisher: OutboxPublisher

    public init(db: PostgresClient, sealer: KeySealer, amqp: AMQPConnection, topology: CertFleetTopology, logger: Logger) {
        self.submissions = Submissions(db: db, sealer: sealer)
        self.publisher = OutboxPublisher(db: db, amqp: amqp, topology: topology, logger: logger)
    }

    public func upload(_ request: UploadRequest) async throws -> SubmittedJob {
        try await published(try await submissions.upload(request))
    }

    public func reimport(_ request: UploadRequest, reference: String, expectedVersion: Int64? = nil) async throws -> SubmittedJob {
        try await published(try await submissions.reimport(request, reference: reference, expectedVersion: expectedVersion))
    }

    public func delete(project: UUID, reference: String, idempotencyKey: String? = nil, expectedVersion: Int64? = nil, actor: String) async throws -> SubmittedJob {
        try await published(try await submissions.delete(
            project: project, reference: reference, idempotencyKey: idempotencyKey, expectedVersion: expectedVersion, actor: actor))
    }

    /// A new ACME certificate and its issue job (or the running one for the same names).
    public func issue(_ request: IssueRequest) async throws -> SubmittedJob {
        try await published(try await submissions.issue(request))
    }

    /// A renew job for an ACME certificate (`POST …/renew`, the scheduler).
    public func renew(project: UUID, reference: String, idempotencyKey: String? = nil, reuseKey: Bool = false, actor: String) async throws -> SubmittedJob {
        try await published(try await submissions.renew(
            project: project, reference: reference, idempotencyKey: idempotencyKey, reuseKey: reuseKey, actor: actor))
    }

    /// A revoke job (`POST …/revoke`, `DELETE …?revoke=true` with DELETEAFTER).
    public func revoke(project: UUID, reference: String, reason: Int = 0, idempotencyKey: String? = nil, deleteAfter: Bool = false,
                       actor: String) async throws -> SubmittedJob {
        try await published(try await submissions.revoke(
            project: project, reference: reference, reason: reason, idempotencyKey: idempotencyKey, deleteAfter: deleteAfter, actor: actor))
    }

    /// Publishes outbox rows written by another commit (deliver jobs of a new binding).
    public func publish(_ outboxIDs: [Int64]) async {
        if !outboxIDs.isEmpty { await publisher.publishNow(outboxIDs) }
    }

    private func published(_ job: SubmittedJob) async throws -> SubmittedJob {
        if let id = job.outboxID { await publisher.publishNow([id]) }
        return job
    }
}
