import CertFleetCore
import Testing

@Suite struct CAAPolicyTests {
    static func r(_ tag: String, _ value: String, critical: Bool = false) -> CAAPolicy.Record {
        CAAPolicy.Record(critical: critical, tag: tag, value: value)
    }

    static let le = ["letsencrypt.org"]

    @Test func noRecordsPermitAnyCA() {
        #expect(CAAPolicy.evaluate(records: [], identities: Self.le, wildcard: false) == .permitted)
    }

    @Test func issueMatchesTheCAsIdentity() {
        #expect(CAAPolicy.evaluate(records: [Self.r("issue", "letsencrypt.org")], identities: Self.le, wildcard: false) == .permitted)
        #expect(
            CAAPolicy.evaluate(
                records: [Self.r("issue", " LetsEncrypt.org ; validationmethods=dns-01")], identities: Self.le,
                wildcard: false) == .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("issue", "pki.goog")], identities: Self.le, wildcard: false) != .permitted)
        #expect(
            CAAPolicy.evaluate(
                records: [Self.r("issue", "pki.goog"), Self.r("issue", "letsencrypt.org")], identities: Self.le,
                wildcard: false) == .permitted)
    }

    @Test func semicolonForbidsEveryCAEvenWithUnknownIdentity() {
        #expect(CAAPolicy.evaluate(records: [Self.r("issue", ";")], identities: [], wildcard: false) != .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("issue", "pki.goog")], identities: [], wildcard: false) == .permitted)
    }

    @Test func wildcardsUseIssuewildWhenPresent() {
        let set = [Self.r("issue", "letsencrypt.org"), Self.r("issuewild", ";")]
        #expect(CAAPolicy.evaluate(records: set, identities: Self.le, wildcard: false) == .permitted)
        #expect(CAAPolicy.evaluate(records: set, identities: Self.le, wildcard: true) != .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("issue", "letsencrypt.org")], identities: Self.le, wildcard: true) == .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("issuewild", "letsencrypt.org")], identities: Self.le, wildcard: false) == .permitted)
    }

    @Test func unknownCriticalPropertyForbids() {
        #expect(CAAPolicy.evaluate(records: [Self.r("tbs", "x", critical: true)], identities: Self.le, wildcard: false) != .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("tbs", "x")], identities: Self.le, wildcard: false) == .permitted)
        #expect(CAAPolicy.evaluate(records: [Self.r("iodef", "mailto:a@b")], identities: Self.le, wildcard: false) == .permitted)
    }
}
