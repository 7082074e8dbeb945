import Testing

@testable import X509

@Suite struct HostnameTests {
    @Test(
        arguments: [
            ("example.com", "example.com", Hostname.MatchKind.exact),
            ("EXAMPLE.com.", "example.COM", .exact),
            ("a.example.com", "*.example.com", .wildcard),
            ("A.Example.Com", "*.EXAMPLE.com", .wildcard),
            ("xn--mnchen-3ya.example", "münchen.example", .exact),
            ("münchen.example", "xn--mnchen-3ya.example", .exact),
            ("MÜNCHEN.city.example", "*.city.example", .wildcard),
            ("bücher.example.com", "*.example.com", .wildcard),
            ("192.0.2.1", "192.0.2.1", .exact),
            ("2001:db8::1", "2001:DB8:0:0:0:0:0:1", .exact),
        ] as [(String, String, Hostname.MatchKind)])
    func matches(host: String, pattern: String, kind: Hostname.MatchKind) {
        #expect(Hostname.matches(host, pattern: pattern) == kind)
    }

    @Test(arguments: [
        ("example.com", "*.example.com"), // the wildcard needs a label
        ("a.b.example.com", "*.example.com"), // and stands for one label only
        ("foo.example.com", "f*.example.com"), // no partial-label wildcards
        ("foo.example.com", "*o.example.com"),
        ("a.example.com", "a.*.com"), // only the left-most label
        ("example.com", "*.com"), // not across a whole TLD
        ("a.example.com", "**.example.com"),
        ("192.0.2.1", "*.0.2.1"), // wildcards never match IPs
        ("192.0.2.1", "192.0.2.2"),
        ("ex ample.com", "ex ample.com"), // invalid names match nothing
        ("-a.example.com", "-a.example.com"),
        ("", ""),
        ("example.org", "example.com"),
    ])
    func doesNotMatch(host: String, pattern: String) {
        #expect(Hostname.matches(host, pattern: pattern) == nil)
    }

    @Test func exactBeatsWildcard() {
        #expect(Hostname.match("a.example.com", against: ["*.example.com", "a.example.com"]) == .exact)
        #expect(Hostname.match("b.example.com", against: ["*.example.com", "a.example.com"]) == .wildcard)
        #expect(Hostname.MatchKind.exact < .wildcard)
    }

    @Test func punycodeFollowsRFC3492() {
        #expect(Hostname.normalize("bücher.de") == "xn--bcher-kva.de")
        #expect(Hostname.normalize("München.Example") == "xn--mnchen-3ya.example")
        #expect(Hostname.normalize("例え.jp") == "xn--r8jz45g.jp")
        #expect(Hostname.normalize(String(repeating: "a", count: 64) + ".com") == nil)
    }

    @Test func certificateMatchesItsSANsNotItsCommonName() throws {
        let leaf = try Certificate(pem: StandardChain.shared.leaf)
        #expect(leaf.matches(hostname: "leaf.example.com"))
        #expect(leaf.matches(hostname: "www.leaf.example.com"))
        #expect(leaf.matches(hostname: "192.0.2.10"))
        #expect(leaf.matches(hostname: "2001:db8:0::1"))
        #expect(!leaf.matches(hostname: "a.b.leaf.example.com"))
        #expect(!leaf.matches(hostname: "example.com"))
    }
}
