import ACME
import CertFleetCore
import Foundation
import Store
import Testing

@testable import Jobs

/// How the ACME jobs turn a CA's answer into the job's outcome.
@Suite struct ACMEFailureTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func outcome(_ type: String, retryAfter: Double? = nil, orderInvalid: Bool = false) -> JobResult {
        let problem = ACMEProblem(type: "urn:ietf:params:acme:error:\(type)", detail: "test", status: 400, retryAfterSeconds: retryAfter)
        return ACMEFailure.result(orderInvalid ? .orderInvalid(problem) : .problem(problem), attempt: 1, backoff: BackoffPolicy(), now: now)
    }

    /// One table (CertFleetCore's): a failed validation or a permanent problem fails the job at
    /// once — the worker never orders again for the same answer.
    @Test(arguments: [
        ("unauthorized", "acme_unauthorized"), ("dns", "acme_dns"), ("caa", "acme_caa"), ("connection", "acme_connection"),
        ("incorrectResponse", "acme_incorrect_response"), ("tls", "acme_tls"),
        ("rejectedIdentifier", "acme_rejected_identifier"), ("badCSR", "acme_bad_csr"),
    ])
    func failsTheJobWithTheReason(type: String, expected: String) {
        for orderInvalid in [true, false] {
            guard case .failed(let code, let message) = outcome(type, orderInvalid: orderInvalid) else {
                Issue.record("\(type) did not fail the job")
                return
            }
            #expect(code.code == expected)
            #expect(message.contains("test"))
        }
    }

    @Test func aFailedValidationNamesTheIdentifierAndTheChallenge() {
        var problem = ACMEProblem(
            type: "urn:ietf:params:acme:error:connection", detail: "Connection refused", status: 400,
            identifier: .dns("shop.acc.test"))
        problem.challengeType = "http-01"
        guard case .failed(let code, let message) = ACMEFailure.result(.orderInvalid(problem), attempt: 1, backoff: BackoffPolicy(), now: now) else {
            Issue.record("connection did not fail the job")
            return
        }
        #expect(code.code == "acme_connection")
        #expect(message == "the CA could not validate dns:shop.acc.test with http-01: Connection refused")
    }

    @Test func rateLimitedWaitsForRetryAfter() {
        guard case .retry(let code, _, let notBefore) = outcome("rateLimited", retryAfter: 3600) else {
            Issue.record("rateLimited did not retry")
            return
        }
        #expect(code.code == "acme_rate_limited")
        #expect(notBefore == now.addingTimeInterval(3600))
    }

    @Test func serverTroubleRetriesAfterTheBackoff() {
        guard case .retry(_, _, let notBefore) = outcome("serverInternal") else {
            Issue.record("serverInternal did not retry")
            return
        }
        #expect(notBefore > now)
    }

    @Test func networkTroubleRetries() {
        guard case .retry(let code, _, _) = ACMEFailure.result(.network("refused"), attempt: 2, backoff: BackoffPolicy(), now: now) else {
            Issue.record("a network error did not retry")
            return
        }
        #expect(code.code == "acme_network")
    }
}
