import CertFleetCore
import Testing

@Suite struct DNSZoneMapTests {
    static let entries: [(zone: String, provider: String)] = [
        ("example.com", "bind-prod"), ("dev.example.com", "knot-dev"), ("*.corp.example", "hook-internal"),
        ("corp.example", "corp-apex"), ("*.shared.test", "wild"), ("shared.test", "exact"),
    ]

    @Test(
        arguments: [
            ("example.com", "bind-prod"), ("www.example.com", "bind-prod"), ("*.example.com", "bind-prod"), ("WWW.Example.COM.", "bind-prod"),
            ("dev.example.com", "knot-dev"), ("a.b.dev.example.com", "knot-dev"), ("*.dev.example.com", "knot-dev"),
            ("corp.example", "corp-apex"), ("vpn.corp.example", "hook-internal"), ("*.corp.example", "corp-apex"),
            ("x.shared.test", "wild"), ("shared.test", "exact"), ("notexample.com", nil), ("example.org", nil), ("com", nil),
        ] as [(String, String?)])
    func longestZoneWins(name: String, expected: String?) {
        #expect(DNSZoneMap.provider(for: name, entries: Self.entries) == expected)
    }

    @Test func emptyMapMatchesNothing() {
        #expect(DNSZoneMap.provider(for: "example.com", entries: []) == nil)
    }

    @Test(arguments: [
        ("example.com", true), ("*.corp.example", true), ("_acme.example", true), ("", false), ("*.", false),
        ("a..b", false), ("exa mple.com", false), ("*.*.x", false),
    ])
    func zonePatterns(zone: String, valid: Bool) {
        #expect(DNSZoneMap.isValidZone(zone) == valid)
    }
}
