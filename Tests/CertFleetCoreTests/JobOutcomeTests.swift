import CertFleetCore
import Foundation
import Testing

/// The commit decision as a table: every job kind × certificate state × attempt result,
/// without a database.
@Suite struct JobOutcomeTests {
    static let later = Date(timeIntervalSince1970: 2_000_000_000)
    static let results: [AttemptResult] = [
        .validated, .deleted, .revoked, .failed(.certificate(code: "key_mismatch"), message: "no"),
        .retry(.acme(code: "acme_connection"), message: "down", notBefore: later), .snoozed(.dnsRecordPending, message: "wait", notBefore: later),
    ]

    func decide(
        _ kind: JobKind, _ state: CertificateState, _ result: AttemptResult, attempt: Int = 1, current: Int? = nil,
        consumers: [String] = [], deleteAfter: Bool = false, previous: CertificateState? = nil
    ) -> CommitPlan {
        JobOutcome.decide(
            job: JobFacts(
                kind: kind, attempt: attempt, maxAttempts: 3, certificateVersion: kind == .delete ? nil : 2,
                deleteAfter: deleteAfter, previousState: previous),
            certificate: CertificateFacts(state: state, currentVersion: current, consumers: consumers), result: result)
    }

    @Test func everyCombinationFollowsBothStateMachines() {
        for kind in JobKind.allCases {
            for state in CertificateState.allCases {
                for result in Self.results {
                    for attempt in [1, 3] {
                        let plan = decide(kind, state, result, attempt: attempt)
                        let label = "\(kind) \(state) \(result) attempt \(attempt)"
                        if [.issue, .renew, .revoke].contains(kind) && (state == .deleting || state == .deleted) {
                            #expect(plan.jobState == .cancelled && plan.certificate == .unchanged, "\(label)")
                            continue
                        }
                        switch result {
                        case .validated:
                            // A job with no version (delete) has no version to make current.
                            if kind != .delete, case .success(let next) = CertificateStateMachine.next(state, on: .jobSucceeded) {
                                #expect(plan.jobState == .succeeded && plan.certificateState == next, "\(label)")
                                #expect(plan.certificate == .makeCurrent(next, version: 2), "\(label)")
                            } else {
                                #expect(plan.jobState == .cancelled && plan.certificate == .unchanged, "\(label)")
                            }
                        case .failed:
                            let next = (try? CertificateStateMachine.next(state, on: .jobFailed).get()) ?? state
                            #expect(plan.jobState == .failed && plan.certificateState == next && plan.announcement?.event == "failed", "\(label)")
                        case .retry:
                            // The last attempt's transient failure is final (JobStateMachine).
                            #expect(plan.jobState == (attempt < 3 ? .queued : .failed), "\(label)")
                            if attempt < 3 { #expect(plan.certificateState == state && plan.audit?.type == "retry_scheduled", "\(label)") }
                        case .snoozed:
                            #expect(plan.jobState == .queued && plan.certificateState == state, "\(label)")
                            #expect(
                                plan.job == .requeue(notBefore: Self.later, reason: .dnsRecordPending, message: "wait", returnsAttempt: true),
                                "\(label)")
                        case .deleted, .revoked:
                            let event: CertificateEvent = result == .deleted ? .deleteCompleted : .revoked
                            if case .success(let next) = CertificateStateMachine.next(state, on: event) {
                                #expect(plan.jobState == .succeeded && plan.certificateState == next, "\(label)")
                            } else {
                                #expect(plan.jobState == .cancelled && plan.certificate == .unchanged, "\(label)")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func firstValidVersionIsIssuedLaterOnesRenewed() {
        #expect(decide(.issue, .pending, .validated).announcement == .init(event: "issued", version: 2))
        #expect(decide(.renew, .renewing, .validated, current: 1).announcement == .init(event: "renewed", version: 2))
        #expect(decide(.validate, .pending, .validated, current: 1).announcement?.event == "renewed")
    }

    @Test func aBindingAddedMeanwhileRefusesTheDeleteAndRestoresTheState() {
        let plan = decide(.delete, .deleting, .deleted, consumers: ["edge-1"], previous: .valid)
        #expect(plan.jobState == .failed)
        #expect(plan.certificateState == .valid)
        #expect(plan.certificate == .fail(.valid, reason: .certificateInUse, message: "the certificate is in use by edge-1", invalidVersion: nil))
        let unbound = decide(.delete, .deleting, .deleted, current: 1, previous: .valid)
        #expect(unbound.certificate == .delete(.deleted))
        #expect(unbound.announcement == .init(event: "deleted", version: 1))
    }

    @Test func revokeThenDeleteQueuesTheDeleteUnlessBound() {
        let plan = decide(.revoke, .valid, .revoked, deleteAfter: true)
        #expect(plan.followUp == .deleteAfterRevoke(from: .revoked, to: .deleting))
        #expect(plan.certificateState == .deleting)
        #expect(plan.announcement?.event == "revoked")
        let bound = decide(.revoke, .valid, .revoked, consumers: ["lb"], deleteAfter: true)
        #expect(bound.followUp == nil)
        #expect(bound.certificateState == .revoked)
    }

    @Test func everyReasonCodeReadsBackAsItsReason() {
        for reason in FailureReason.named { #expect(FailureReason(code: reason.code) == reason) }
        #expect(FailureReason(code: "acme_rate_limited") == .acme(code: "acme_rate_limited"))
        #expect(FailureReason(code: "chain_order") == .certificate(code: "chain_order"))
        #expect(FailureReason(code: "dns_tsig_badkey") == .dns(code: "dns_tsig_badkey"))
        #expect(FailureReason(code: "preflight_caa") == .dns(code: "preflight_caa"))
        #expect(Set(FailureReason.named.map(\.code)).count == FailureReason.named.count)
    }

    @Test func aFailureMarksTheJobsVersionInvalid() {
        let plan = decide(.validate, .pending, .failed(.certificate(code: "key_mismatch"), message: "no"))
        #expect(plan.certificate == .fail(.error, reason: .certificate(code: "key_mismatch"), message: "no", invalidVersion: 2))
        #expect(plan.job == .finish(.failed, reason: .certificate(code: "key_mismatch"), message: "no"))
    }
}
