import Foundation

/// What a commit must know about the job whose attempt ended.
public struct JobFacts: Sendable, Equatable {
    public var kind: JobKind
    /// Attempts used so far, including this one.
    public var attempt: Int
    public var maxAttempts: Int
    /// The version the job works on (validate, issue, renew, revoke).
    public var certificateVersion: Int?
    /// Revoke jobs of `DELETE …?revoke=true`: the delete follows the revocation.
    public var deleteAfter: Bool
    /// Delete jobs: the state the certificate had before the delete was requested.
    public var previousState: CertificateState?
    /// Revoke jobs: the RFC 5280 reason code, as the `revoked` event carries it.
    public var revocationReason: String?

    public init(
        kind: JobKind, attempt: Int, maxAttempts: Int, certificateVersion: Int? = nil, deleteAfter: Bool = false,
        previousState: CertificateState? = nil, revocationReason: String? = nil
    ) {
        self.kind = kind
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.certificateVersion = certificateVersion
        self.deleteAfter = deleteAfter
        self.previousState = previousState
        self.revocationReason = revocationReason
    }
}

/// The certificate as the commit found it, under its row lock.
public struct CertificateFacts: Sendable, Equatable {
    public var state: CertificateState
    public var currentVersion: Int?
    /// The consumers bound to it (read for delete jobs and revoke-then-delete only).
    public var consumers: [String]

    public init(state: CertificateState, currentVersion: Int?, consumers: [String] = []) {
        self.state = state
        self.currentVersion = currentVersion
        self.consumers = consumers
    }
}

/// How a job's handler says its attempt ended (the facts of a valid version travel beside it).
public enum AttemptResult: Sendable, Equatable {
    case validated
    case deleted
    case revoked
    /// A permanent failure: never retried.
    case failed(FailureReason, message: String)
    /// A transient failure: again at NOTBEFORE while attempts are left.
    case retry(FailureReason, message: String, notBefore: Date)
    /// Waiting without spending an attempt (a DNS record not visible yet).
    case snoozed(FailureReason, message: String, notBefore: Date)
}

/// Everything one commit does, decided without the database; `JobCommit` carries it out
/// in one transaction.
public struct CommitPlan: Sendable, Equatable {
    public enum JobStep: Sendable, Equatable {
        /// Terminal: succeeded, failed or cancelled, with the reason of a failure.
        case finish(JobState, reason: FailureReason? = nil, message: String? = nil)
        /// Back to `queued` until NOTBEFORE; a snooze gives the attempt back, a retry records its error.
        case requeue(notBefore: Date, reason: FailureReason, message: String, returnsAttempt: Bool)
    }

    public enum CertificateStep: Sendable, Equatable {
        /// Nothing changes (a superseded job).
        case unchanged
        /// The job's version becomes current and valid.
        case makeCurrent(CertificateState, version: Int)
        /// Keys erased, the name freed.
        case delete(CertificateState)
        case revoke(CertificateState)
        /// The job failed: the certificate's new state and error; the job's version (if any) is invalid.
        case fail(CertificateState, reason: FailureReason, message: String, invalidVersion: Int?)
        /// The job tries again at NOTBEFORE (the attempt is counted).
        case awaitRetry(notBefore: Date)
        /// The job waits for the user until NOTBEFORE; the reason stays visible on the certificate.
        case awaitUser(notBefore: Date, reason: FailureReason, message: String)
    }

    /// A lifecycle event announced to subscribers (CloudEvent) and kept in the audit trail.
    public struct Announcement: Sendable, Equatable {
        public var event: String
        public var version: Int?
        public var reason: String?

        public init(event: String, version: Int?, reason: String? = nil) {
            self.event = event
            self.version = version
            self.reason = reason
        }
    }

    /// An audit-trail entry that is not announced.
    public struct AuditEntry: Sendable, Equatable {
        public var type: String
        public var reason: FailureReason
    }

    public enum FollowUp: Sendable, Equatable {
        /// `DELETE …?revoke=true`: the certificate moves FROM → TO (deleting) and a delete job is queued.
        case deleteAfterRevoke(from: CertificateState, to: CertificateState)
    }

    public var job: JobStep
    public var certificate: CertificateStep
    /// The certificate's state after the commit.
    public var certificateState: CertificateState
    public var announcement: Announcement?
    public var audit: AuditEntry?
    public var followUp: FollowUp?

    /// The job's state after the commit.
    public var jobState: JobState {
        switch job {
        case .finish(let state, _, _): return state
        case .requeue: return .queued
        }
    }
}

/// The job protocol's commit decision: (job, certificate, result) → plan. Job states come
/// from `JobStateMachine`, certificate states from `CertificateStateMachine`.
public enum JobOutcome {
    public static func decide(job: JobFacts, certificate: CertificateFacts, result: AttemptResult) -> CommitPlan {
        // An ACME job of a certificate being deleted has nothing left to do, whatever it reports.
        if [.issue, .renew, .revoke].contains(job.kind), certificate.state == .deleting || certificate.state == .deleted {
            return superseded(job, certificate)
        }
        switch result {
        case .validated:
            guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .jobSucceeded),
                let version = job.certificateVersion
            else { return superseded(job, certificate) }
            // First valid version: issued; any later one: renewed.
            let event = certificate.currentVersion == nil ? "issued" : "renewed"
            return CommitPlan(
                job: .finish(jobState(job, .succeeded)), certificate: .makeCurrent(next, version: version), certificateState: next,
                announcement: .init(event: event, version: version))
        case .deleted:
            guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .deleteCompleted) else {
                return superseded(job, certificate)
            }
            // A binding added after the request was accepted wins over the delete.
            guard certificate.consumers.isEmpty else {
                return failed(
                    job, certificate, reason: .certificateInUse,
                    message: "the certificate is in use by \(certificate.consumers.joined(separator: ", "))")
            }
            return CommitPlan(
                job: .finish(jobState(job, .succeeded)), certificate: .delete(next), certificateState: next,
                announcement: .init(event: "deleted", version: certificate.currentVersion))
        case .revoked:
            guard case .success(let next) = CertificateStateMachine.next(certificate.state, on: .revoked) else {
                return superseded(job, certificate)
            }
            var plan = CommitPlan(
                job: .finish(jobState(job, .succeeded)), certificate: .revoke(next), certificateState: next,
                announcement: .init(event: "revoked", version: job.certificateVersion, reason: job.revocationReason))
            if job.deleteAfter, certificate.consumers.isEmpty,
                case .success(let deleting) = CertificateStateMachine.next(next, on: .deleteRequested)
            {
                plan.followUp = .deleteAfterRevoke(from: next, to: deleting)
                plan.certificateState = deleting
            }
            return plan
        case .failed(let reason, let message):
            return failed(job, certificate, reason: reason, message: message)
        case .retry(let reason, let message, let notBefore):
            guard jobState(job, .failedTransiently) == .queued else { return failed(job, certificate, reason: reason, message: message) }
            return CommitPlan(
                job: .requeue(notBefore: notBefore, reason: reason, message: message, returnsAttempt: false),
                certificate: .awaitRetry(notBefore: notBefore), certificateState: certificate.state,
                audit: .init(type: "retry_scheduled", reason: reason))
        case .snoozed(let reason, let message, let notBefore):
            return CommitPlan(
                job: .requeue(notBefore: notBefore, reason: reason, message: message, returnsAttempt: true),
                certificate: .awaitUser(notBefore: notBefore, reason: reason, message: message), certificateState: certificate.state)
        }
    }

    static func failed(_ job: JobFacts, _ certificate: CertificateFacts, reason: FailureReason, message: String) -> CommitPlan {
        let next: CertificateState
        if job.kind == .delete, let previous = job.previousState {
            // A refused delete (bound meanwhile) leaves the certificate as it was before.
            next = previous
        } else {
            next = (try? CertificateStateMachine.next(certificate.state, on: .jobFailed).get()) ?? certificate.state
        }
        return CommitPlan(
            job: .finish(.failed, reason: reason, message: message),
            certificate: .fail(next, reason: reason, message: message, invalidVersion: job.certificateVersion),
            certificateState: next, announcement: .init(event: "failed", version: job.certificateVersion, reason: reason.code))
    }

    /// The certificate moved on (deleted, deleting) while the job ran: the job ends cancelled
    /// and changes nothing else.
    static func superseded(_ job: JobFacts, _ certificate: CertificateFacts) -> CommitPlan {
        CommitPlan(
            job: .finish(
                jobState(job, .cancelled), reason: .superseded,
                message: "the certificate is \(certificate.state.rawValue); this job's result no longer applies"),
            certificate: .unchanged, certificateState: certificate.state, audit: .init(type: "job_cancelled", reason: .superseded))
    }

    /// The running job's next state; a committing job is running, so every event below is allowed.
    static func jobState(_ job: JobFacts, _ event: JobEvent) -> JobState {
        (try? JobStateMachine.next(.running, on: event, attempt: job.attempt, maxAttempts: job.maxAttempts).get()) ?? .failed
    }
}
