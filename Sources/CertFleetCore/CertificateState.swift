/// The life of a certificate, as the API shows it (`state`).
public enum CertificateState: String, Sendable, Codable, CaseIterable {
    /// Accepted; the first version is being validated or issued.
    case pending
    /// A current version is valid and can be served.
    case valid
    /// A new version (renewal or re-import) is in progress; the current one still serves.
    case renewing
    /// The current version is past `not_after`.
    case expired
    /// The first version could not be validated or issued; `last_error` says why.
    case error
    /// A delete job runs.
    case deleting
    /// Gone; the name is free again. Terminal.
    case deleted
    /// Revoked at the CA. Only deletion remains.
    case revoked
}

/// What can happen to a certificate.
public enum CertificateEvent: String, Sendable, Codable, CaseIterable {
    /// A validate, issue or renew job committed a new valid version.
    case jobSucceeded
    /// A validate, issue, renew or delete job ended in failure.
    case jobFailed
    /// Renewal requested (by the scheduler or `POST …/renew`).
    case renewRequested
    /// A new chain and key were uploaded for the same certificate (`PUT`).
    case reimported
    /// The current version passed `not_after`.
    case expired
    /// Deletion requested.
    case deleteRequested
    /// The delete job finished.
    case deleteCompleted
    /// The CA confirmed the revocation.
    case revoked
}

/// Why a (state, event) pair is refused. Stable codes: they reach API errors.
public enum CertificateTransitionRefusal: String, Error, Sendable, Equatable {
    /// A job of the certificate is already in progress.
    case jobInProgress = "job_in_progress"
    /// There is no job in progress whose outcome this could be.
    case noJobInProgress = "no_job_in_progress"
    /// The certificate never had a valid version.
    case notIssued = "not_issued"
    /// The certificate is already in the state the event leads to.
    case alreadyInState = "already_in_state"
    /// The certificate was deleted (terminal).
    case deleted = "certificate_deleted"
    /// The certificate was revoked; only deletion remains.
    case revoked = "certificate_revoked"
    /// The event does not apply while a delete runs.
    case deleting = "certificate_deleting"
}

/// The certificate state machine: a pure function, tested as a table.
public enum CertificateStateMachine {
    /// The state after EVENT, or the reason the event is refused in STATE.
    public static func next(_ state: CertificateState, on event: CertificateEvent) -> Result<CertificateState, CertificateTransitionRefusal> {
        switch (state, event) {
        // Deletion is possible from every live state; a finished delete is the only way out of `deleting`.
        case (.deleted, _): return .failure(.deleted)
        case (.deleting, .deleteCompleted): return .success(.deleted)
        // A delete that fails (e.g. bound meanwhile) leaves the certificate usable only if it was:
        // the job records the reason and the certificate shows `error`.
        case (.deleting, .jobFailed): return .success(.error)
        case (.deleting, _): return .failure(.deleting)
        case (_, .deleteRequested): return .success(.deleting)
        case (_, .deleteCompleted): return .failure(.noJobInProgress)

        case (.pending, .jobSucceeded): return .success(.valid)
        case (.pending, .jobFailed): return .success(.error)
        case (.pending, .reimported): return .success(.pending)
        case (.pending, .renewRequested): return .failure(.jobInProgress)
        case (.pending, .expired), (.pending, .revoked): return .failure(.notIssued)

        case (.valid, .renewRequested), (.valid, .reimported): return .success(.renewing)
        case (.valid, .expired): return .success(.expired)
        case (.valid, .revoked): return .success(.revoked)
        case (.valid, .jobSucceeded), (.valid, .jobFailed): return .failure(.noJobInProgress)

        case (.renewing, .jobSucceeded): return .success(.valid)
        // The new version failed; the current one still serves (the error is recorded on the job).
        case (.renewing, .jobFailed): return .success(.valid)
        case (.renewing, .expired): return .success(.expired)
        case (.renewing, .revoked): return .success(.revoked)
        case (.renewing, .renewRequested), (.renewing, .reimported): return .failure(.jobInProgress)

        // A renewal that was still running when the version expired may land afterwards.
        case (.expired, .jobSucceeded): return .success(.valid)
        case (.expired, .jobFailed): return .success(.expired)
        case (.expired, .renewRequested), (.expired, .reimported): return .success(.renewing)
        case (.expired, .revoked): return .success(.revoked)
        case (.expired, .expired): return .failure(.alreadyInState)

        // After a failed first version: try again with a new upload or a new issuance.
        case (.error, .renewRequested), (.error, .reimported): return .success(.pending)
        case (.error, .jobSucceeded), (.error, .jobFailed): return .failure(.noJobInProgress)
        case (.error, .expired), (.error, .revoked): return .failure(.notIssued)

        case (.revoked, _): return .failure(.revoked)
        }
    }

    /// States in which the certificate has a version that may be served.
    public static func hasServableVersion(_ state: CertificateState) -> Bool {
        state == .valid || state == .renewing
    }
}
