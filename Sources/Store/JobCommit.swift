import CertFleetCore
import Foundation
import Postgres

/// One commit of a job attempt, inside the caller's transaction: the job row is locked and
/// fenced, the certificate locked, then `JobOutcome.decide` says what changes and this
/// carries it out. A worker that lost its lease changes nothing.
struct JobCommit {
    let tx: PostgresTransaction
    let job: ClaimedJob

    /// The commit's first statement: lock the job if this worker still owns it, and its
    /// certificate, in one round trip (no row: the lease is lost; a job's certificate always exists).
    static func fenceQuery(job: UUID, owner: String, certificate: UUID) -> PostgresQuery {
        """
        SELECT c.id, c.project_id, c.name, c.state, c.current_version, c.version
        FROM jobs j JOIN certificates c ON c.id = \(certificate)
        WHERE j.id = \(job) AND j.lease_owner = \(owner) AND j.state = 'running'
        FOR UPDATE OF j, c
        """
    }

    func apply(_ result: JobResult) async throws -> CommitReport {
        guard let fenced = try await tx.query(Self.fenceQuery(job: job.id, owner: job.owner, certificate: job.certificateID)).first else {
            throw LeaseLost(jobID: job.id)
        }
        let certificate = try Certificates.snapshot(fenced)
        // Deliveries change what a target holds, never the certificate (JobCommit+Delivery.swift).
        if job.kind == .deliver { return try await applyDelivery(result, certificate: certificate) }
        let deleteAfter = job.parameters[ACMEJobParameter.deleteAfter] == "true"
        // Bindings decide deletes only; read under the certificate's row lock.
        let consumers = job.kind == .delete || deleteAfter ? try await Certificates.bindings(tx, certificate: certificate.id) : []
        let facts = JobFacts(
            kind: job.kind, attempt: job.attempt, maxAttempts: job.maxAttempts, certificateVersion: job.certificateVersion,
            deleteAfter: deleteAfter, previousState: job.parameters["previous_state"].flatMap(CertificateState.init(rawValue:)),
            revocationReason: job.parameters[ACMEJobParameter.reason])
        let plan = JobOutcome.decide(
            job: facts,
            certificate: CertificateFacts(
                state: certificate.state, currentVersion: certificate.currentVersion,
                consumers: consumers), result: result.attempt)
        var version: ValidatedVersion?
        if case .validated(let facts) = result { version = facts }
        let bound = try await change(certificate, plan.certificate, version: version)
        var outbox = try await change(job: plan.job)
        if let audit = plan.audit {
            try await Events.record(
                tx, project: job.projectID, certificate: certificate.id, job: job.id, type: audit.type,
                from: certificate.state.rawValue, to: certificate.state.rawValue, attempt: job.attempt,
                reason: audit.reason.code, actor: job.owner)
        }
        if let announcement = plan.announcement {
            // Announced in the state the job left it in (a delete that follows is its own step).
            var next = plan.certificateState
            if case .deleteAfterRevoke(let from, _)? = plan.followUp { next = from }
            outbox.append(
                try await Events.announce(
                    tx, certificate: certificate, to: next, event: announcement.event, job: job.id, attempt: job.attempt, actor: job.owner,
                    version: announcement.version, serial: version?.serial, notAfter: version?.notAfter, reason: announcement.reason,
                    ca: announcement.event == "issued" || announcement.event == "renewed" ? try await issuingCA(certificate.id) : nil))
        }
        if case .deleteAfterRevoke(let from, let to)? = plan.followUp {
            outbox += try await deleteAfterRevoke(certificate, from: from, to: to)
        }
        if case .makeCurrent(let next, let current) = plan.certificate, bound {
            // The new version goes to every target bound to the certificate, in this same commit.
            let now = CertificateSnapshot(
                id: certificate.id, projectID: certificate.projectID, name: certificate.name, state: next,
                currentVersion: current, rowVersion: certificate.rowVersion + 1)
            outbox += try await Deliveries.schedule(tx, certificate: now)
        }
        return CommitReport(
            jobState: plan.jobState, certificateState: plan.certificateState, event: plan.announcement?.event,
            outbox: outbox)
    }

    /// The certificate (and version) side of the plan; true when a new current version has
    /// targets bound to its certificate to be delivered to.
    private func change(
        _ certificate: CertificateSnapshot, _ step: CommitPlan.CertificateStep, version facts: ValidatedVersion?
    ) async throws
        -> Bool
    {
        switch step {
        case .unchanged:
            return false
        case .makeCurrent(let next, let version):
            guard let facts else { preconditionFailure("a valid version commits with its facts") }
            return try await makeCurrent(certificate, next: next, version: version, facts: facts)
        case .delete(let next):
            // The keys are erased, not just hidden; the name is free again (deleted_at set).
            try await tx.query(
                """
                UPDATE certificate_versions SET private_key_sealed = NULL, master_key_id = NULL WHERE certificate_id = \(certificate.id)
                """)
            try await tx.query(
                """
                UPDATE certificates SET state = \(next.rawValue), deleted_at = now(), renew_at = NULL, version = version + 1, updated_at = now()
                WHERE id = \(certificate.id)
                """)
        case .revoke(let next):
            try await tx.query(
                """
                UPDATE certificates SET state = \(next.rawValue), renew_at = NULL, version = version + 1, updated_at = now()
                WHERE id = \(certificate.id)
                """)
        case .fail(let next, let reason, let message, let invalidVersion):
            let code = reason.code
            if let invalidVersion {
                try await tx.query(
                    """
                    UPDATE certificate_versions SET state = 'invalid' WHERE certificate_id = \(certificate.id) AND version = \(Int32(invalidVersion))
                    """)
            }
            try await tx.query(
                """
                UPDATE certificates SET state = \(next.rawValue), last_error_code = \(code),
                       last_error_message = \(message), validation_attempt = \(Int32(job.attempt)), next_attempt_at = NULL,
                       version = version + 1, updated_at = now()
                WHERE id = \(certificate.id)
                """)
        case .awaitRetry(let notBefore):
            try await tx.query(
                """
                UPDATE certificates SET validation_attempt = \(Int32(job.attempt)), next_attempt_at = \(notBefore), updated_at = now()
                WHERE id = \(certificate.id)
                """)
        case .awaitUser(let notBefore, let reason, let message):
            let code = reason.code
            // The reason stays visible on the certificate until the job ends.
            try await tx.query(
                """
                UPDATE certificates SET next_attempt_at = \(notBefore), last_error_code = \(code), last_error_message = \(message), updated_at = now()
                WHERE id = \(certificate.id)
                """)
        }
        return false
    }

    /// Returns whether targets are bound (read after the certificate's lock, by a statement of
    /// its own: a binding committed while this commit waited for the lock is seen).
    private func makeCurrent(
        _ certificate: CertificateSnapshot, next: CertificateState, version: Int, facts: ValidatedVersion
    ) async throws
        -> Bool
    {
        // The new version becomes valid and the one it replaces superseded, in one statement.
        try await tx.query(
            """
            UPDATE certificate_versions v SET state = CASE WHEN n.current THEN 'valid' ELSE 'superseded' END,
                   serial = CASE WHEN n.current THEN \(facts.serial) ELSE v.serial END,
                   not_before = CASE WHEN n.current THEN \(facts.notBefore) ELSE v.not_before END,
                   not_after = CASE WHEN n.current THEN \(facts.notAfter) ELSE v.not_after END,
                   fingerprint_sha256 = CASE WHEN n.current THEN \(facts.fingerprintSHA256) ELSE v.fingerprint_sha256 END,
                   issuer = CASE WHEN n.current THEN \(facts.issuer) ELSE v.issuer END,
                   subject = CASE WHEN n.current THEN \(facts.subject) ELSE v.subject END,
                   details = CASE WHEN n.current THEN \(facts.details) ELSE v.details END,
                   lint = CASE WHEN n.current THEN \(facts.lint) ELSE v.lint END
            FROM (SELECT version, version = \(Int32(version)) AS current FROM certificate_versions
                  WHERE certificate_id = \(certificate.id) AND (version = \(Int32(version)) OR state = 'valid')) n
            WHERE v.certificate_id = \(certificate.id) AND v.version = n.version
            """)
        // Renew at 2/3 of the lifetime (1/2 under 10 days) unless the certificate says otherwise
        // (renew_before): certfleet_renew_at (migrations 0003, 0008) is the one definition. A renew_before not shorter
        // than the new version's lifetime falls back to 2/3 (as cert-manager does): it made the
        // previous version due (PATCH applies it as given), it must not make every successor due too.
        // A CA's ARI window (suggestedRenewAt) moves it earlier, never later (least() skips NULL).
        return try await tx.query(
            """
            UPDATE certificates SET state = \(next.rawValue), current_version = \(Int32(version)),
                   common_name = coalesce(\(facts.commonName), common_name), sans = \(facts.sans),
                   last_error_code = NULL, last_error_message = NULL, validation_attempt = \(Int32(job.attempt)),
                   next_attempt_at = NULL, version = version + 1, updated_at = now(),
                   ari_window_start = NULL, ari_window_end = NULL, ari_explanation_url = NULL, ari_checked_at = NULL,
                   ari_next_check_at = NULL,
                   renew_at = least(\(facts.suggestedRenewAt)::timestamptz,
                                    certfleet_renew_at(\(facts.notBefore), \(facts.notAfter),
                                                       CASE WHEN renew_before < \(facts.notAfter)::timestamptz - \(facts.notBefore)::timestamptz
                                                            THEN renew_before END))
            WHERE id = \(certificate.id)
            RETURNING EXISTS (SELECT 1 FROM bindings b WHERE b.certificate_id = \(certificate.id) AND b.target_id IS NOT NULL) AS bound
            """
        ).first!.decode(Bool.self, "bound")
    }

    /// The job side of the plan; returns the outbox row of a requeued job's delayed message.
    func change(job step: CommitPlan.JobStep) async throws -> [OutboxMessage] {
        switch step {
        case .finish(let state, let reason, let message):
            let code = reason?.code
            try await tx.query(
                """
                UPDATE jobs SET state = \(state.rawValue), finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
                       error_code = \(code), error_detail = \(message),
                       errors = CASE WHEN \(code)::text IS NULL THEN errors
                                ELSE errors || jsonb_build_array(jsonb_build_object('attempt', \(Int32(job.attempt)), 'code', \(code)::text,
                                                                                   'message', \(message)::text, 'at', now())) END
                WHERE id = \(job.id)
                """)
            return []
        case .requeue(let notBefore, let reason, let message, let returnsAttempt):
            let code = reason.code
            if returnsAttempt {
                // The attempt is given back: waiting for the user is not a failure.
                try await tx.query(
                    """
                    UPDATE jobs SET state = 'queued', attempt = attempt - 1, not_before = \(notBefore), lease_owner = NULL,
                           lease_expires_at = NULL, error_code = \(code), error_detail = \(message), updated_at = now()
                    WHERE id = \(job.id)
                    """)
            } else {
                try await tx.query(
                    """
                    UPDATE jobs SET state = 'queued', not_before = \(notBefore), lease_owner = NULL, lease_expires_at = NULL,
                           error_code = \(code), error_detail = \(message), updated_at = now(),
                           errors = errors || jsonb_build_array(jsonb_build_object('attempt', \(Int32(job.attempt)), 'code', \(code)::text,
                                                                                  'message', \(message)::text, 'at', now()))
                    WHERE id = \(job.id)
                    """)
            }
            let message = JobMessage(jobID: job.id, certificateID: job.certificateID, projectID: job.projectID, kind: job.kind)
            return [try await Outbox.enqueueJob(tx, message, deliverAfter: notBefore)]
        }
    }

    /// `DELETE …?revoke=true`: the delete follows in the same transaction as the revocation.
    private func deleteAfterRevoke(
        _ certificate: CertificateSnapshot, from: CertificateState, to deleting: CertificateState
    ) async throws -> [OutboxMessage] {
        try await Certificates.transition(tx, certificate, from: from, to: deleting, event: "delete_requested", job: job.id, actor: job.owner)
        let delete = try await Submissions.insertJob(
            tx, project: job.projectID, certificate: certificate.id, name: certificate.name, kind: .delete, version: nil, key: nil,
            maxAttempts: job.maxAttempts, parameters: ["previous_state": from.rawValue])
        return [delete.outbox].compactMap { $0 }
    }

    /// Events of ACME issuance name the CA that issued (with a CA chain it may be the second one).
    private func issuingCA(_ certificate: UUID) async throws -> String? {
        guard [.issue, .renew].contains(job.kind) else { return nil }
        return try await tx.query(
            """
            SELECT a.directory_url FROM certificates c JOIN acme_accounts a ON a.id = c.acme_account_id WHERE c.id = \(certificate)
            """
        ).first?.decode(String.self, "directory_url")
    }
}

extension JobResult {
    /// The result as the pure decision sees it (the valid version's facts stay with the executor).
    var attempt: AttemptResult {
        switch self {
        case .validated: return .validated
        case .deleted: return .deleted
        case .revoked: return .revoked
        case .failed(let reason, let message): return .failed(reason, message: message)
        case .retry(let reason, let message, let notBefore): return .retry(reason, message: message, notBefore: notBefore)
        case .snoozed(let reason, let message, let notBefore): return .snoozed(reason, message: message, notBefore: notBefore)
        case .delivered: return .failed(.unsupportedJobKind, message: "only a deliver job reports a delivery")
        }
    }
}
