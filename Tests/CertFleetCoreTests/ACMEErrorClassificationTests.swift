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

    @Test func serverInternalIsRetriedLater() {
        #expect(
            ACMEErrorClassification.classify(problemType: urn + "serverInternal", httpStatus: 500).disposition == .retryLater(retryAfterSeconds: nil))
    }

    /// The identifier failed the CA's check: the order ends, no second order for the same answer.
    @Test(arguments: ["connection", "dns", "unauthorized", "incorrectResponse", "caa", "tls", "rejectedIdentifier"])
    func failedValidationsEndTheOrder(type: String) {
        let outcome = ACMEErrorClassification.classify(problemType: urn + type, httpStatus: 403)
        #expect(outcome.disposition == .validationFailed)
        #expect(!outcome.isTransient)
        #expect(outcome.code == "acme_" + ACMEErrorClassification.snakeCase(type))
    }

    @Test(arguments: [
        "malformed", "badCSR", "badPublicKey",
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
            problemType: urn + "compound", httpStatus: 400, subproblemTypes: [urn + "serverInternal", urn + "rateLimited"])
        #expect(allTransient.isTransient)
        let validation = ACMEErrorClassification.classify(
            problemType: urn + "compound", httpStatus: 400, subproblemTypes: [urn + "dns", urn + "serverInternal"])
        #expect(validation.disposition == .validationFailed)
        let mixed = ACMEErrorClassification.classify(
            problemType: urn + "compound", httpStatus: 400, subproblemTypes: [urn + "dns", urn + "badCSR"])
        #expect(mixed.disposition == .permanent)
        #expect(!ACMEErrorClassification.classify(problemType: urn + "compound", httpStatus: 400).isTransient)
    }

    @Test func withoutProblemDocumentTheStatusDecides() {
        #expect(
            ACMEErrorClassification.classify(problemType: nil, httpStatus: 503, retryAfterSeconds: 5).disposition == .retryLater(retryAfterSeconds: 5)
        )
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
