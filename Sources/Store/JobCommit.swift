import CertFleetCore
import Foundation
import Postgres

/// One commit of a job attempt, inside the caller's transaction. The job row is
/// locked and fenced first: a worker that lost its lease changes nothing.
struct JobCommit {
    let tx: PostgresTransaction
    let job: ClaimedJob

    func apply(_ result: JobResult) async throws -> CommitReport {
        let owned = try await tx.query("""
            SELECT 1 FROM jobs WHERE id = \(job.id) AND lease_owner = \(job.owner) AND state = 'running' FOR UPDATE
            """)
        guard owned.count == 1 else { throw LeaseLost(jobID: job.id) }
        let certificate = try await Certificates.lock(tx, id: job.certificateID)
        // Deliveries change what a target holds, never the certificate (JobCommit+Delivery.swift).
        if job.kind == .deliver { return try await applyDelivery(result, certificate: certificate) }
        // An ACME job of a certificate being deleted has nothing left to do, whatever it reports.
        if [.issue, .renew, .revoke].contains(job.kind), certificate.state == .deleting || certificate.state == .deleted {
            return try await superseded(certificate)
        }
        switch result {
        case .validated(let version): return try await validated(certificate, version)
        case .deleted: return try await deleted(certificate)
        case .revoked: return try await revoked(certificate)
        case .delivered: return try await failed(certificate, code: "unexpected_result", message: "a \(job.kind.rawValue) job reported a delivery")
        case .snoozed(let code, let message, let notBefore): return try await snoozed(certificate, code: code, message: message, notBefore: notBefore)
        case .failed(let code, let message): return try await failed(certificate, code: code, message: message)
        case .retry(let code, let message, let notBefore):
            guard job.attempt < job.maxAttempts else { return try await failed(certificate, code: code, message: message) }
            return try await retry(certificate, code: code, message: message, notBefore: notBefore)
        }
    }

    private func validated(_ certificate: CertificateSnapshot, _ facts: ValidatedVersion) async throws -> CommitReport {
        guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .jobSucceeded),
              let version = job.certificateVersion
        else { return try await superseded(certificate) }
        // First valid version: issued; any later one: renewed.
        let event = certificate.currentVersion == nil ? "issued" : "renewed"
        try await tx.query("""
            UPDATE certificate_versions SET state = 'valid', serial = \(facts.serial), not_before = \(facts.notBefore),
                   not_after = \(facts.notAfter), fingerprint_sha256 = \(facts.fingerprintSHA256), issuer = \(facts.issuer),
                   subject = \(facts.subject), details = \(facts.details), lint = \(facts.lint)
            WHERE certificate_id = \(certificate.id) AND version = \(Int32(version))
            """)
        try await tx.query("""
            UPDATE certificate_versions SET state = 'superseded'
            WHERE certificate_id = \(certificate.id) AND version <> \(Int32(version)) AND state = 'valid'
            """)
        // Renew at 2/3 of the lifetime (1/2 under 10 days) unless the certificate says otherwise
        // (renew_before): certfleet_renew_at (migrations 0003, 0008) is the one definition. A renew_before not shorter
        // than the new version's lifetime falls back to 2/3 (as cert-manager does): it made the
        // previous version due (PATCH applies it as given), it must not make every successor due too.
        // A CA's ARI window (suggestedRenewAt) moves it earlier, never later (least() skips NULL).
        try await tx.query("""
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
            """)
        try await finish(.succeeded)
        // Events of ACME issuance name the CA that issued (with a CA chain it may be the second one).
        let ca = [.issue, .renew].contains(job.kind) ? try await tx.query("""
            SELECT a.directory_url FROM certificates c JOIN acme_accounts a ON a.id = c.acme_account_id WHERE c.id = \(certificate.id)
            """).first?.decode(String.self, "directory_url") : nil
        let report = try await announce(certificate, to: next, event: event, version: version, serial: facts.serial, notAfter: facts.notAfter, ca: ca)
        // The new version goes to every target bound to the certificate, in this same commit.
        let now = CertificateSnapshot(id: certificate.id, projectID: certificate.projectID, name: certificate.name, state: next,
                                      currentVersion: version, rowVersion: certificate.rowVersion + 1)
        let deliveries = try await Deliveries.schedule(tx, certificate: now)
        return CommitReport(jobState: report.jobState, certificateState: report.certificateState, event: report.event,
                            outboxIDs: report.outboxIDs + deliveries)
    }

    private func deleted(_ certificate: CertificateSnapshot) async throws -> CommitReport {
        guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .deleteCompleted) else {
            return try await superseded(certificate)
        }
        // Checked again under the certificate's row lock: a binding added after the request
        // was accepted wins over the delete.
        let consumers = try await Certificates.bindings(tx, certificate: certificate.id)
        guard consumers.isEmpty else {
            return try await failed(certificate, code: "certificate_in_use", message: "the certificate is in use by \(consumers.joined(separator: ", "))")
        }
        // The keys are erased, not just hidden; the name is free again (deleted_at set).
        try await tx.query("""
            UPDATE certificate_versions SET private_key_sealed = NULL, master_key_id = NULL WHERE certificate_id = \(certificate.id)
            """)
        try await tx.query("""
            UPDATE certificates SET state = \(next.rawValue), deleted_at = now(), renew_at = NULL, version = version + 1, updated_at = now()
            WHERE id = \(certificate.id)
            """)
        try await finish(.succeeded)
        return try await announce(certificate, to: next, event: "deleted", version: certificate.currentVersion)
    }

    private func revoked(_ certificate: CertificateSnapshot) async throws -> CommitReport {
        guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .revoked) else {
            return try await superseded(certificate)
        }
        try await tx.query("""
            UPDATE certificates SET state = \(next.rawValue), renew_at = NULL, version = version + 1, updated_at = now() WHERE id = \(certificate.id)
            """)
        try await finish(.succeeded)
        let report = try await announce(certificate, to: next, event: "revoked", version: job.certificateVersion, reason: job.parameters[ACMEJobParameter.reason])
        guard job.parameters[ACMEJobParameter.deleteAfter] == "true" else { return report }
        // `DELETE …?revoke=true`: the delete follows in the same transaction as the revocation.
        guard case .success(let deleting) = CertificateStateMachine.next(next, on: .deleteRequested),
              try await Certificates.bindings(tx, certificate: certificate.id).isEmpty else { return report }
        try await tx.query("UPDATE certificates SET state = \(deleting.rawValue), version = version + 1, updated_at = now() WHERE id = \(certificate.id)")
        try await Events.record(tx, project: job.projectID, certificate: certificate.id, job: job.id, type: "delete_requested",
                                from: next.rawValue, to: deleting.rawValue, actor: job.owner)
        let delete = try await Submissions.insertJob(
            tx, project: job.projectID, certificate: certificate.id, name: certificate.name, kind: .delete, version: nil, key: nil,
            maxAttempts: job.maxAttempts, parameters: ["previous_state": next.rawValue])
        return CommitReport(jobState: report.jobState, certificateState: deleting, event: report.event,
                            outboxIDs: report.outboxIDs + [delete.outboxID].compactMap { $0 })
    }

    private func snoozed(_ certificate: CertificateSnapshot, code: String, message: String, notBefore: Date) async throws -> CommitReport {
        // The attempt is given back: waiting for the user is not a failure.
        try await tx.query("""
            UPDATE jobs SET state = 'queued', attempt = attempt - 1, not_before = \(notBefore), lease_owner = NULL, lease_expires_at = NULL,
                   error_code = \(code), error_detail = \(message), updated_at = now()
            WHERE id = \(job.id)
            """)
        // The reason stays visible on the certificate until the job ends.
        try await tx.query("""
            UPDATE certificates SET next_attempt_at = \(notBefore), last_error_code = \(code), last_error_message = \(message), updated_at = now()
            WHERE id = \(certificate.id)
            """)
        let outboxID = try await Outbox.enqueueJob(tx, JobMessage(jobID: job.id, certificateID: job.certificateID, projectID: job.projectID, kind: job.kind), deliverAfter: notBefore)
        return CommitReport(jobState: .queued, certificateState: certificate.state, event: nil, outboxIDs: [outboxID])
    }

    private func failed(_ certificate: CertificateSnapshot, code: String, message: String) async throws -> CommitReport {
        let next: CertificateState?
        if job.kind == .delete, let previous = job.parameters["previous_state"].flatMap(CertificateState.init(rawValue:)) {
            // A refused delete (bound meanwhile) leaves the certificate as it was before.
            next = previous
        } else {
            next = try? CertificateStateMachine.next(certificate.state, on: .jobFailed).get()
        }
        if let version = job.certificateVersion {
            try await tx.query("""
                UPDATE certificate_versions SET state = 'invalid' WHERE certificate_id = \(certificate.id) AND version = \(Int32(version))
                """)
        }
        try await tx.query("""
            UPDATE certificates SET state = \(next?.rawValue ?? certificate.state.rawValue), last_error_code = \(code),
                   last_error_message = \(message), validation_attempt = \(Int32(job.attempt)), next_attempt_at = NULL,
                   version = version + 1, updated_at = now()
            WHERE id = \(certificate.id)
            """)
        try await finish(.failed, code: code, message: message)
        return try await announce(certificate, to: next ?? certificate.state, event: "failed", version: job.certificateVersion, reason: code)
    }

    private func retry(_ certificate: CertificateSnapshot, code: String, message: String, notBefore: Date) async throws -> CommitReport {
        try await tx.query("""
            UPDATE jobs SET state = 'queued', not_before = \(notBefore), lease_owner = NULL, lease_expires_at = NULL,
                   error_code = \(code), error_detail = \(message), updated_at = now(),
                   errors = errors || jsonb_build_array(jsonb_build_object('attempt', \(Int32(job.attempt)), 'code', \(code)::text, 'message', \(message)::text, 'at', now()))
            WHERE id = \(job.id)
            """)
        try await tx.query("""
            UPDATE certificates SET validation_attempt = \(Int32(job.attempt)), next_attempt_at = \(notBefore), updated_at = now()
            WHERE id = \(certificate.id)
            """)
        try await Events.record(tx, project: job.projectID, certificate: certificate.id, job: job.id, type: "retry_scheduled",
                                from: certificate.state.rawValue, to: certificate.state.rawValue, attempt: job.attempt, reason: code, actor: job.owner)
        let outboxID = try await Outbox.enqueueJob(tx, JobMessage(jobID: job.id, certificateID: job.certificateID, projectID: job.projectID, kind: job.kind), deliverAfter: notBefore)
        return CommitReport(jobState: .queued, certificateState: certificate.state, event: nil, outboxIDs: [outboxID])
    }

    /// The certificate moved on (deleted, deleting) while the job ran: the job's effect no
    /// longer applies, so it ends cancelled and changes nothing else.
    private func superseded(_ certificate: CertificateSnapshot) async throws -> CommitReport {
        try await finish(.cancelled, code: "superseded", message: "the certificate is \(certificate.state.rawValue); this job's result no longer applies")
        try await Events.record(tx, project: job.projectID, certificate: certificate.id, job: job.id, type: "job_cancelled",
                                from: certificate.state.rawValue, to: certificate.state.rawValue, attempt: job.attempt, reason: "superseded", actor: job.owner)
        return CommitReport(jobState: .cancelled, certificateState: certificate.state, event: nil, outboxIDs: [])
    }

    func finish(_ state: JobState, code: String? = nil, message: String? = nil) async throws {
        try await tx.query("""
            UPDATE jobs SET state = \(state.rawValue), finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, updated_at = now(),
                   error_code = \(code), error_detail = \(message),
                   errors = CASE WHEN \(code)::text IS NULL THEN errors
                            ELSE errors || jsonb_build_array(jsonb_build_object('attempt', \(Int32(job.attempt)), 'code', \(code)::text, 'message', \(message)::text, 'at', now())) END
            WHERE id = \(job.id)
            """)
    }

    private func announce(_ certificate: CertificateSnapshot, to next: CertificateState, event: String, version: Int?,
                          serial: String? = nil, notAfter: Date? = nil, reason: String? = nil, ca: String? = nil) async throws -> CommitReport {
        let outboxID = try await Events.announce(
            tx, certificate: certificate, to: next, event: event, job: job.id, attempt: job.attempt, actor: job.owner,
            version: version, serial: serial, notAfter: notAfter, reason: reason, ca: ca)
        return CommitReport(jobState: try await currentJobState(), certificateState: next, event: event, outboxIDs: [outboxID])
    }

    func currentJobState() async throws -> JobState {
        JobState(rawValue: try await tx.query("SELECT state FROM jobs WHERE id = \(job.id)").first!.decode(String.self, "state"))!
    }
}
