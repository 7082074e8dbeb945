/// The kinds of work a worker does; each has its own queue (`certfleet.jobs.<kind>`).
public enum JobKind: String, Sendable, Codable, CaseIterable {
    case issue, validate, renew, delete, revoke, deliver
}

/// The state of one job row.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled

    /// Succeeded, failed and cancelled jobs never change again.
    public var isTerminal: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

/// What can happen to a job.
public enum JobEvent: Sendable, Equatable, CaseIterable {
    /// A worker claimed it (attempt + 1).
    case claimed
    /// The handler finished and its effect committed.
    case succeeded
    /// A transient error (network, rate limit, database or broker down): try again later.
    case failedTransiently
    /// A permanent error (bad input, CA said no): never retried.
    case failedPermanently
    /// The worker's lease ran out (crash, kill -9, partition): the reaper takes it back.
    case leaseExpired
    /// The job wants to wait without spending an attempt (e.g. a DNS record not visible yet).
    case snoozed
    /// An operator or a superseding request cancelled it.
    case cancelled
}

/// Why a job event is refused. Stable codes.
public enum JobTransitionRefusal: String, Error, Sendable, Equatable {
    case notQueued = "job_not_queued"
    case notRunning = "job_not_running"
    case terminal = "job_terminal"
}

/// The job state machine: a pure function of (state, event, attempts).
public enum JobStateMachine {
    /// The state after EVENT. ATTEMPT is the attempts used so far (including a running one);
    /// a transient failure or lost lease on the last allowed attempt fails the job for good.
    public static func next(_ state: JobState, on event: JobEvent, attempt: Int, maxAttempts: Int) -> Result<JobState, JobTransitionRefusal> {
        if state.isTerminal { return .failure(.terminal) }
        let attemptsLeft = attempt < maxAttempts
        switch (state, event) {
        case (.queued, .claimed): return .success(.running)
        case (.queued, .cancelled), (.running, .cancelled): return .success(.cancelled)
        case (.queued, _): return .failure(.notRunning)
        case (.running, .claimed): return .failure(.notQueued)
        case (.running, .succeeded): return .success(.succeeded)
        case (.running, .failedPermanently): return .success(.failed)
        case (.running, .failedTransiently), (.running, .leaseExpired):
            return .success(attemptsLeft ? .queued : .failed)
        case (.running, .snoozed): return .success(.queued)
        default: return .failure(.terminal)
        }
    }
}
