import CertFleetCore
import Testing

@Suite("Certificate state machine")
struct CertificateStateMachineTests {
    typealias S = CertificateState
    typealias E = CertificateEvent

    /// The whole table: every (state, event) pair has exactly one expected outcome.
    /// A new state or event makes `everyPairIsSpecified` fail until it is added here.
    static let table: [S: [E: Result<S, CertificateTransitionRefusal>]] = [
        .pending: [
            .jobSucceeded: .success(.valid), .jobFailed: .success(.error), .renewRequested: .failure(.jobInProgress),
            .reimported: .success(.pending), .expired: .failure(.notIssued), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .failure(.notIssued),
        ],
        .valid: [
            .jobSucceeded: .failure(.noJobInProgress), .jobFailed: .failure(.noJobInProgress), .renewRequested: .success(.renewing),
            .reimported: .success(.renewing), .expired: .success(.expired), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .success(.revoked),
        ],
        .renewing: [
            .jobSucceeded: .success(.valid), .jobFailed: .success(.valid), .renewRequested: .failure(.jobInProgress),
            .reimported: .failure(.jobInProgress), .expired: .success(.expired), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .success(.revoked),
        ],
        .expired: [
            .jobSucceeded: .success(.valid), .jobFailed: .success(.expired), .renewRequested: .success(.renewing),
            .reimported: .success(.renewing), .expired: .failure(.alreadyInState), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .success(.revoked),
        ],
        .error: [
            .jobSucceeded: .failure(.noJobInProgress), .jobFailed: .failure(.noJobInProgress), .renewRequested: .success(.pending),
            .reimported: .success(.pending), .expired: .failure(.notIssued), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .failure(.notIssued),
        ],
        .deleting: [
            .jobSucceeded: .failure(.deleting), .jobFailed: .success(.error), .renewRequested: .failure(.deleting),
            .reimported: .failure(.deleting), .expired: .failure(.deleting), .deleteRequested: .failure(.deleting),
            .deleteCompleted: .success(.deleted), .revoked: .failure(.deleting),
        ],
        .deleted: Dictionary(uniqueKeysWithValues: E.allCases.map { ($0, .failure(.deleted)) }),
        .revoked: [
            .jobSucceeded: .failure(.revoked), .jobFailed: .failure(.revoked), .renewRequested: .failure(.revoked),
            .reimported: .failure(.revoked), .expired: .failure(.revoked), .deleteRequested: .success(.deleting),
            .deleteCompleted: .failure(.noJobInProgress), .revoked: .failure(.revoked),
        ],
    ]

    @Test func everyPairIsSpecified() {
        for state in S.allCases {
            for event in E.allCases {
                #expect(Self.table[state]?[event] != nil, "no expectation for (\(state), \(event))")
            }
        }
    }

    @Test(arguments: S.allCases)
    func everyEventInStateMatchesTheTable(state: S) {
        for event in E.allCases {
            guard let expected = Self.table[state]?[event] else { continue }
            #expect(CertificateStateMachine.next(state, on: event) == expected, "(\(state), \(event))")
        }
    }

    @Test func deletedIsTerminalAndRevokedOnlyLeadsToDeletion() {
        let fromDeleted = E.allCases.compactMap { try? CertificateStateMachine.next(.deleted, on: $0).get() }
        #expect(fromDeleted.isEmpty)
        let fromRevoked = E.allCases.compactMap { try? CertificateStateMachine.next(.revoked, on: $0).get() }
        #expect(fromRevoked == [.deleting])
    }

    @Test func refusalCodesAreStable() {
        #expect(CertificateTransitionRefusal.jobInProgress.rawValue == "job_in_progress")
        #expect(CertificateTransitionRefusal.deleted.rawValue == "certificate_deleted")
    }
}

@Suite("Job state machine")
struct JobStateMachineTests {
    @Test(arguments: JobState.allCases)
    func everyEventIsDefinedOrRefused(state: JobState) {
        for event in JobEvent.allCases {
            for attempt in [1, 3] {
                let result = JobStateMachine.next(state, on: event, attempt: attempt, maxAttempts: 3)
                let expected: Result<JobState, JobTransitionRefusal>
                switch (state, event) {
                case (.succeeded, _), (.failed, _), (.cancelled, _): expected = .failure(.terminal)
                case (.queued, .claimed): expected = .success(.running)
                case (.queued, .cancelled), (.running, .cancelled): expected = .success(.cancelled)
                case (.queued, _): expected = .failure(.notRunning)
                case (.running, .claimed): expected = .failure(.notQueued)
                case (.running, .succeeded): expected = .success(.succeeded)
                case (.running, .failedPermanently): expected = .success(.failed)
                case (.running, .failedTransiently), (.running, .leaseExpired):
                    expected = .success(attempt < 3 ? .queued : .failed)
                case (.running, .snoozed): expected = .success(.queued)
                }
                #expect(result == expected, "(\(state), \(event), attempt \(attempt))")
            }
        }
    }

    @Test func snoozeDoesNotFailTheLastAttempt() {
        #expect(JobStateMachine.next(.running, on: .snoozed, attempt: 5, maxAttempts: 5) == .success(.queued))
        #expect(JobStateMachine.next(.running, on: .failedTransiently, attempt: 5, maxAttempts: 5) == .success(.failed))
    }

    @Test func terminalStates() {
        #expect(JobState.allCases.filter(\.isTerminal) == [.succeeded, .failed, .cancelled])
    }
}
