import Foundation
import CertFleetCore
import Testing

@Suite("Registered domain (eTLD+1)")
struct RegisteredDomainTests {
    @Test(arguments: [
        ("www.example.com", "example.com"),
        ("a.b.c.example.com", "example.com"),
        ("example.com", "example.com"),
        ("*.api.example.org", "example.org"),
        ("shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("user.github.io", "user.github.io"),
        ("deep.user.github.io", "user.github.io"),
        ("WWW.Example.COM.", "example.com"),
        ("localhost", "localhost"),
    ])
    func registeredDomainOf(host: String, expected: String) {
        #expect(RegisteredDomain.of(host) == expected)
    }

    @Test func letsEncryptDefaultsAreThePublishedOnes() {
        let limits = IssuanceLimits.letsEncrypt
        #expect(limits.ordersPerAccount == .init(300, per: 3 * 3600))
        #expect(limits.certificatesPerRegisteredDomain == .init(50, per: 7 * 86400))
        #expect(limits.duplicateCertificates == .init(5, per: 7 * 86400))
    }
}

@Suite("ARI renewal window")
struct RenewalWindowTests {
    let start = Date(timeIntervalSince1970: 1_900_000_000)

    @Test func aMomentInsideTheWindowAtTheFraction() {
        let end = start.addingTimeInterval(86400)
        #expect(RenewalWindow.pick(start: start, end: end, fraction: 0) == start)
        #expect(RenewalWindow.pick(start: start, end: end, fraction: 0.5) == start.addingTimeInterval(43200))
        #expect(RenewalWindow.pick(start: start, end: end, fraction: 1) == end)
        #expect(RenewalWindow.pick(start: start, end: end, fraction: 7) == end)
        #expect(RenewalWindow.pick(start: start, end: end, fraction: -1) == start)
    }

    @Test func anEmptyOrInvertedWindowIsItsStart() {
        #expect(RenewalWindow.pick(start: start, end: start, fraction: 0.5) == start)
        #expect(RenewalWindow.pick(start: start, end: start.addingTimeInterval(-60), fraction: 0.5) == start)
    }
}
