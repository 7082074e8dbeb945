import Testing

@testable import CertFleetCore

@Suite struct ACMEErrorClassificationTests {
    private let urn = ACMEErrorClassification.namespace

    @Test func badNonceIsRetriedImmediately() {
        let outcome = ACMEErrorClassification.classify(problemType: urn + "badNonce", httpStatus: 400)
        #expect(outcome.disposition == .retryImmediately)
        #expect(outcome.code == "acme_bad_nonce")
    }

    @Test func rateLimitedHonoursRetryAfter() {
        let outcome = ACMEErrorClassification.classify(problemType: urn + "rateLimited", httpStatus: 429, retryAfterSeconds: 3600)
        #expect(outcome.disposition == .retryLater(retryAfterSeconds: 3600))
        #expect(outcome.code == "acme_rate_limited")
    }

    @Test(arguments: ["serverInternal", "dns", "connection", "incorrectResponse", "tls"])
    func transientProblemsAreRetriedLater(type: String) {
        #expect(ACMEErrorClassification.classify(problemType: urn + type, httpStatus: 400).disposition == .retryLater(retryAfterSeconds: nil))
    }

    @Test(arguments: [
        "unauthorized", "caa", "rejectedIdentifier", "malformed", "badCSR", "badPublicKey",
        "badSignatureAlgorithm", "accountDoesNotExist", "externalAccountRequired", "invalidContact",
        "unsupportedContact", "unsupportedIdentifier", "userActionRequired", "badRevocationReason",
        "alreadyRevoked", "orderNotReady", "somethingNew",
    ])
    func permanentProblemsFailTheJob(type: String) {
        // Even with a 5xx status the problem type decides.
        #expect(ACMEErrorClassification.classify(problemType: urn + type, httpStatus: 503).disposition == .permanent)
    }

    @Test func bareNamesAreAcceptedLikeURNs() {
        #expect(ACMEErrorClassification.classify(problemType: "rateLimited", httpStatus: 429).code == "acme_rate_limited")
        #expect(ACMEErrorClassification.classify(problemType: "badCSR", httpStatus: 400).code == "acme_bad_csr")
    }

    @Test func compoundIsTransientOnlyWhenEverySubproblemIs() {
        let allTransient = ACMEErrorClassification.classify(
            problemType: urn + "compound", httpStatus: 400, subproblemTypes: [urn + "dns", urn + "connection"])
        #expect(allTransient.isTransient)
        let mixed = ACMEErrorClassification.classify(
            problemType: urn + "compound", httpStatus: 400, subproblemTypes: [urn + "dns", urn + "caa"])
        #expect(mixed.disposition == .permanent)
        #expect(!ACMEErrorClassification.classify(problemType: urn + "compound", httpStatus: 400).isTransient)
    }

    @Test func withoutProblemDocumentTheStatusDecides() {
        #expect(ACMEErrorClassification.classify(problemType: nil, httpStatus: 503, retryAfterSeconds: 5).disposition == .retryLater(retryAfterSeconds: 5))
        #expect(ACMEErrorClassification.classify(problemType: nil, httpStatus: 429).isTransient)
        #expect(ACMEErrorClassification.classify(problemType: nil, httpStatus: 404).disposition == .permanent)
        #expect(ACMEErrorClassification.classify(problemType: nil, httpStatus: 404).code == "acme_http_404")
        #expect(ACMEErrorClassification.classify(problemType: "about:blank", httpStatus: 502).isTransient)
    }

    @Test func noResponseIsANetworkErrorRetriedLater() {
        let outcome = ACMEErrorClassification.classify(problemType: nil, httpStatus: nil)
        #expect(outcome.disposition == .retryLater(retryAfterSeconds: nil))
        #expect(outcome.code == "acme_network")
    }
}
