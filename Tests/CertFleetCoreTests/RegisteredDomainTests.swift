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
