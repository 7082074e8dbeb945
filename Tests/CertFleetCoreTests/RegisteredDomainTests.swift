import CertFleetCore
import Foundation
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

    /// Debian's list (the `publicsuffix` package the scripts install) is the one in use.
    @Test func theDebianPublicSuffixListIsRead() throws {
        let list = try #require(RegisteredDomain.list, "no \(RegisteredDomain.debianListPath)")
        // *.nom.br: every name under nom.br is a suffix (the built-in set would say nom.br).
        #expect(list.registeredDomain(of: "www.shop.example.nom.br") == "shop.example.nom.br")
        // *.kawasaki.jp with the exception !city.kawasaki.jp.
        #expect(RegisteredDomain.of("a.b.example.city.kawasaki.jp") == "city.kawasaki.jp")
        #expect(RegisteredDomain.of("x.customer.cloudfront.net") == "customer.cloudfront.net")
    }

    /// The list's own test vectors for wildcard and exception rules.
    @Test func wildcardAndExceptionRules() {
        let list = PublicSuffixList(text: "// comment\ncom\n*.ck\n!www.ck\njp\n*.kawasaki.jp\n!city.kawasaki.jp\n")
        #expect(list.registeredDomain(of: "www.ck") == "www.ck")
        #expect(list.registeredDomain(of: "a.www.ck") == "www.ck")
        #expect(list.registeredDomain(of: "a.b.ck") == "a.b.ck")
        #expect(list.registeredDomain(of: "b.ck") == "b.ck")
        #expect(list.registeredDomain(of: "c.b.ck") == "c.b.ck")
        #expect(list.registeredDomain(of: "city.kawasaki.jp") == "city.kawasaki.jp")
        #expect(list.registeredDomain(of: "www.city.kawasaki.jp") == "city.kawasaki.jp")
        #expect(list.registeredDomain(of: "a.b.kawasaki.jp") == "a.b.kawasaki.jp")
        #expect(list.registeredDomain(of: "example.com") == "example.com")
        #expect(list.registeredDomain(of: "www.example.unlisted") == "example.unlisted")
        #expect(list.registeredDomain(of: "com") == "com")
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
