import CertFleetCore
import Foundation
import Testing

@Suite("Backoff policy")
struct BackoffPolicyTests {
    let policy = BackoffPolicy(base: .seconds(2), cap: .seconds(60))

    @Test func ceilingDoublesUntilTheCap() {
        #expect(policy.ceiling(afterAttempt: 1) == .seconds(2))
        #expect(policy.ceiling(afterAttempt: 2) == .seconds(4))
        #expect(policy.ceiling(afterAttempt: 5) == .seconds(32))
        #expect(policy.ceiling(afterAttempt: 6) == .seconds(60))
        #expect(policy.ceiling(afterAttempt: 500) == .seconds(60))
    }

    @Test func fullJitterSpansZeroToTheCeiling() {
        #expect(policy.delay(afterAttempt: 3, random: { 0 }) == .zero)
        #expect(policy.delay(afterAttempt: 3, random: { 1 }) == .seconds(8))
        #expect(policy.delay(afterAttempt: 3, random: { 0.5 }) == .seconds(4))
        for _ in 0..<1000 {
            let delay = policy.delay(afterAttempt: 4)
            #expect(delay >= .zero && delay <= .seconds(16))
        }
    }

    @Test func neverSchedulesPastTheDeadline() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        #expect(policy.nextAttempt(after: 6, now: now, deadline: now.addingTimeInterval(30), random: { 1 }) == nil)
        #expect(policy.nextAttempt(after: 6, now: now, deadline: now.addingTimeInterval(61), random: { 1 }) == now.addingTimeInterval(60))
    }

    @Test func retryAfterIsALowerBound() {
        let now = Date(timeIntervalSince1970: 0)
        #expect(policy.nextAttempt(after: 1, now: now, retryAfter: .seconds(120), random: { 0 }) == now.addingTimeInterval(120))
        #expect(policy.nextAttempt(after: 1, now: now, deadline: now.addingTimeInterval(100), retryAfter: .seconds(120), random: { 0 }) == nil)
    }
}

@Suite("Certificate naming rule")
struct CertificateNameTests {
    struct Fixed: RandomNumberGenerator {
        var state: UInt64 = 42
        mutating func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state }
    }

    @Test(arguments: [
        ("example.com", "example.com-"),
        ("*.example.com", "example.com-"),
        ("Shop.Example.COM", "shop.example.com-"),
        ("weird name/with:chars", "weird-name-with-chars-"),
        ("*.", "certificate-"),
        ("", "certificate-"),
    ])
    func generatedNamesKeepTheCommonNameAndAddFiveCharacters(commonName: String, prefix: String) {
        var generator = Fixed()
        let name = CertificateName.generate(commonName: commonName, using: &generator)
        #expect(name.hasPrefix(prefix))
        let suffix = name.dropFirst(prefix.count)
        #expect(suffix.count == 5)
        #expect(suffix.allSatisfy { CertificateName.suffixAlphabet.contains($0) })
        #expect(CertificateName.isValid(name))
    }

    @Test func longCommonNamesAreCutToTheLimit() {
        let name = CertificateName.generate(commonName: String(repeating: "a", count: 400) + ".com")
        #expect(name.count == CertificateName.maxLength)
    }

    @Test func suffixesDiffer() {
        let names = Set((0..<200).map { _ in CertificateName.generate(commonName: "example.com") })
        #expect(names.count > 190)
    }

    @Test func userNamesAreChecked() {
        #expect(CertificateName.isValid("bundle"))
        #expect(CertificateName.isValid("my_cert.v2-prod"))
        #expect(!CertificateName.isValid(""))
        #expect(!CertificateName.isValid("../etc"))
        #expect(!CertificateName.isValid("a/b"))
        #expect(!CertificateName.isValid("-x"))
        #expect(!CertificateName.isValid(String(repeating: "a", count: 129)))
    }
}

@Suite struct RenewalBackoffTests {
    /// A renewal that failed validation is tried again after 1–2 h, doubling, at most 32 h.
    @Test func failedRenewalsWaitAtLeastAnHourDoublingUpTo32Hours() {
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        let policy = BackoffPolicy.renewal
        #expect(policy.ceiling(afterAttempt: 1) == .seconds(7200))
        #expect(policy.ceiling(afterAttempt: 2) == .seconds(14400))
        #expect(policy.ceiling(afterAttempt: 5) == .seconds(32 * 3600))
        #expect(policy.ceiling(afterAttempt: 40) == .seconds(32 * 3600))
        // The renewal scan draws in [0.5, 1] of the ceiling: the earliest first retry is 1 h away.
        let earliest = policy.nextAttempt(after: 1, now: now, random: { 0.5 })
        #expect(earliest == now.addingTimeInterval(3600))
    }
}
