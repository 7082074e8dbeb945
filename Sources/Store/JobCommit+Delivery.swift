import CertFleetCore
import Foundation
import Postgres

/// The commit of a deliver job: what the target holds (`target_holdings`), the
/// exactly-once row per version and target (`deliveries`), and the `delivered` or
/// `delivery_failed` event. The certificate itself never changes: a target that fails
/// leaves it valid.
extension JobCommit {
    func applyDelivery(_ result: JobResult, certificate: CertificateSnapshot) async throws -> CommitReport {
        guard let target = job.parameters["target_id"].flatMap(UUID.init(uuidString:)),
            let row = try await tx.query("SELECT name, kind FROM delivery_targets WHERE id = \(target)").first
        else {
            _ = try await change(
                job: .finish(
                    .failed, reason: .delivery(code: DeliveryFailure.Code.bindingRemoved.rawValue),
                    message: "the job names no existing target"))
            return CommitReport(jobState: .failed, certificateState: certificate.state, event: nil, outbox: [])
        }
        let named = DeliveredTo(id: target, name: try row.decode(String.self, "name"), kind: try row.decode(String.self, "kind"))
        switch result {
        case .delivered(let receipt): return try await delivered(receipt, to: named, certificate: certificate)
        case .failed(let reason, let message): return try await deliveryFailed(to: named, certificate: certificate, reason: reason, answer: message)
        case .retry(let reason, let message, let notBefore), .snoozed(let reason, let message, let notBefore):
            guard job.attempt < job.maxAttempts else {
                return try await deliveryFailed(to: named, certificate: certificate, reason: reason, answer: message)
            }
            return try await deliveryRetry(to: named, certificate: certificate, reason: reason, answer: message, notBefore: notBefore)
        case .validated, .deleted, .revoked:
            return try await deliveryFailed(
                to: named, certificate: certificate, reason: .unsupportedJobKind,
                answer: "a deliver job reported no delivery")
        }
    }

    struct DeliveredTo {
        let id: UUID
        let name: String
        let kind: String
    }

    private func delivered(_ receipt: DeliveryReceipt, to target: DeliveredTo, certificate: CertificateSnapshot) async throws -> CommitReport {
        _ = try await change(job: .finish(.succeeded))
        // Never backwards: a slower job for an older version cannot overwrite a newer holding.
        try await tx.query(
            """
            INSERT INTO target_holdings (target_id, certificate_id, version, fingerprint_sha256, delivered_at, last_outcome, last_code,
                                         last_answer, last_attempt_at)
            VALUES (\(target.id), \(certificate.id), \(Int32(receipt.version)), \(receipt.fingerprintSHA256), now(), 'delivered', NULL,
                    \(receipt.answer), now())
            ON CONFLICT (target_id, certificate_id) DO UPDATE SET
                version = EXCLUDED.version, fingerprint_sha256 = EXCLUDED.fingerprint_sha256,
                delivered_at = CASE WHEN target_holdings.version IS DISTINCT FROM EXCLUDED.version THEN now() ELSE target_holdings.delivered_at END,
                last_outcome = 'delivered', last_code = NULL, last_answer = EXCLUDED.last_answer, last_attempt_at = now()
            WHERE target_holdings.version IS NULL OR target_holdings.version <= EXCLUDED.version
            """)
        var outbox: [OutboxMessage] = []
        let inserted =
            !(try await tx.query(
                """
                INSERT INTO deliveries (certificate_id, version, target_id, job_id, outcome, fingerprint_sha256, answer, attempts)
                VALUES (\(certificate.id), \(Int32(receipt.version)), \(target.id), \(job.id), 'delivered', \(receipt.fingerprintSHA256),
                        \(receipt.answer), \(Int32(job.attempt)))
                ON CONFLICT DO NOTHING RETURNING version
                """
            ).isEmpty)
        if inserted && !receipt.alreadyHeld {
            outbox.append(
                try await announceDelivery(
                    certificate, event: "delivered", version: receipt.version, reason: nil,
                    target: .init(
                        id: target.id, name: target.name, kind: target.kind, fingerprintSHA256: receipt.fingerprintSHA256, answer: receipt.answer)))
        }
        // A newer version became valid while this job ran: it could not start a second job, so this one leaves it.
        if let current = certificate.currentVersion, current > receipt.version {
            outbox += try await Deliveries.schedule(tx, certificate: certificate, only: target.id)
        }
        return CommitReport(jobState: .succeeded, certificateState: certificate.state, event: inserted ? "delivered" : nil, outbox: outbox)
    }

    private func deliveryFailed(
        to target: DeliveredTo, certificate: CertificateSnapshot, reason: FailureReason,
        answer: String
    ) async throws -> CommitReport {
        let code = reason.code
        _ = try await change(job: .finish(.failed, reason: reason, message: answer))
        try await recordAttempt(target: target, certificate: certificate, outcome: "failed", code: code, answer: answer)
        var outbox: [OutboxMessage] = []
        if let version = certificate.currentVersion {
            // The dead letter, visible under the target; the first word for a version stays.
            try await tx.query(
                """
                INSERT INTO deliveries (certificate_id, version, target_id, job_id, outcome, code, answer, attempts)
                VALUES (\(certificate.id), \(Int32(version)), \(target.id), \(job.id), 'failed', \(code), \(answer), \(Int32(job.attempt)))
                ON CONFLICT DO NOTHING
                """)
            outbox.append(
                try await announceDelivery(
                    certificate, event: "delivery_failed", version: version, reason: code,
                    target: .init(
                        id: target.id, name: target.name, kind: target.kind, fingerprintSHA256: nil, answer: answer)))
        }
        return CommitReport(jobState: .failed, certificateState: certificate.state, event: "delivery_failed", outbox: outbox)
    }

    private func deliveryRetry(
        to target: DeliveredTo, certificate: CertificateSnapshot, reason: FailureReason, answer: String,
        notBefore: Date
    ) async throws -> CommitReport {
        let outbox = try await change(job: .requeue(notBefore: notBefore, reason: reason, message: answer, returnsAttempt: false))
        try await recordAttempt(target: target, certificate: certificate, outcome: "retrying", code: reason.code, answer: answer)
        return CommitReport(jobState: .queued, certificateState: certificate.state, event: nil, outbox: outbox)
    }

    private func recordAttempt(target: DeliveredTo, certificate: CertificateSnapshot, outcome: String, code: String, answer: String) async throws {
        try await tx.query(
            """
            INSERT INTO target_holdings (target_id, certificate_id, last_outcome, last_code, last_answer, last_attempt_at)
            VALUES (\(target.id), \(certificate.id), \(outcome), \(code), \(answer), now())
            ON CONFLICT (target_id, certificate_id) DO UPDATE SET
                last_outcome = EXCLUDED.last_outcome, last_code = EXCLUDED.last_code, last_answer = EXCLUDED.last_answer, last_attempt_at = now()
            """)
    }

    private func announceDelivery(
        _ certificate: CertificateSnapshot, event: String, version: Int, reason: String?,
        target: CertificateEventMessage.EventTarget
    ) async throws -> OutboxMessage {
        let eventID = try await Events.record(
            tx, project: certificate.projectID, certificate: certificate.id, job: job.id, type: event,
            from: certificate.state.rawValue, to: certificate.state.rawValue, attempt: job.attempt,
            reason: reason ?? target.name, actor: job.owner)
        return try await Events.enqueue(
            tx, eventID: eventID, certificate: certificate, state: certificate.state, event: event, job: job.id,
            data: .init(version: version, reason: reason, target: target))
    }
}
