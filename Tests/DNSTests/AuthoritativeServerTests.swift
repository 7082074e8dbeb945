import DNS
import Foundation
import TestSupport
import Testing

/// CertFleet's UPDATE/TSIG and reader against private BIND 9 and Knot instances, cross-checked
/// with the servers' own tools (dig/kdig, nsupdate/knsupdate).
@Suite(.serialized) struct AuthoritativeServerTests {
    static func key(_ dns: PrivateAuthoritativeDNS, secret: String? = nil, name: String? = nil) throws -> TSIGKey {
        try #require(
            TSIGKey(
                name: name ?? dns.keyName, algorithm: TSIGKey.Algorithm(rawValue: dns.algorithm)!,
                base64Secret: secret ?? dns.secret))
    }

    static func with(
        _ kind: PrivateAuthoritativeDNS.Kind, algorithm: String = "hmac-sha256", extra: String = "",
        _ body: (PrivateAuthoritativeDNS) async throws -> Void
    ) async throws {
        try await TestStack.using(
            try await PrivateAuthoritativeDNS.start(kind, algorithm: algorithm, extraRecords: extra),
            tearDown: { await $0.stop() }, body)
    }

    @Test(arguments: [(PrivateAuthoritativeDNS.Kind.bind9, "hmac-sha256"), (.bind9, "hmac-sha512"), (.knot, "hmac-sha256"), (.knot, "hmac-sha512")])
    func updatesAreSeenByTheServersTools(kind: PrivateAuthoritativeDNS.Kind, algorithm: String) async throws {
        try await Self.with(kind, algorithm: algorithm) { dns in
            let client = DNSClient(timeout: .seconds(15))
            let server = try #require(DNSServer(dns.server))
            let zone = try DNSName(dns.zone), name = try DNSName("_acme-challenge.\(dns.zone)")
            let key = try Self.key(dns)
            // Two values at one name (a wildcard and its base): deleting one keeps the other.
            try await client.addTXT(name, value: "first-value", zone: zone, server: server, key: key)
            try await client.addTXT(name, value: "second-value", zone: zone, server: server, key: key)
            #expect(Set(try await dns.digTXT(name.description)) == ["first-value", "second-value"])
            try await client.deleteTXT(name, value: "first-value", zone: zone, server: server, key: key)
            #expect(try await dns.digTXT(name.description) == ["second-value"])
            // What the server's own update tool writes, our reader sees (asked without recursion).
            try await dns.nsupdate(["update add other.\(dns.zone). 60 TXT \"from-nsupdate\""])
            #expect(try await client.txt(try DNSName("other.\(dns.zone)"), server: server, recursive: false) == ["from-nsupdate"])
            // Zone discovery: SOA and NS through the server itself.
            let found = try await client.zone(of: name, resolver: server)
            let ns1 = try DNSName("ns1.\(dns.zone)")
            #expect(found.zone == zone && found.soa.primary == ns1)
            #expect(try await client.nameservers(of: zone, resolver: server) == [ns1])
        }
    }

    @Test(arguments: PrivateAuthoritativeDNS.Kind.allCases)
    func badKeysAndRefusalsAreTypedErrors(kind: PrivateAuthoritativeDNS.Kind) async throws {
        try await Self.with(kind) { dns in
            let client = DNSClient(timeout: .seconds(15))
            let server = try #require(DNSServer(dns.server))
            let zone = try DNSName(dns.zone), name = try DNSName("_acme-challenge.\(dns.zone)")
            let key = try Self.key(dns)
            let wrongSecret = try Self.key(dns, secret: Data(repeating: 7, count: 32).base64EncodedString())
            let badSig = await Self.code(client, name, zone, server, wrongSecret)
            #expect(badSig == "dns_tsig_badsig")
            let badKey = await Self.code(client, name, zone, server, try Self.key(dns, name: "nobody-key"))
            #expect(badKey == "dns_tsig_badkey")
            // Unsigned: BIND's update policy answers REFUSED, Knot's ACL NOTAUTH.
            let unsigned = await Self.code(client, name, zone, server, nil)
            #expect(unsigned == (kind == .bind9 ? "dns_refused" : "dns_notauth"))
            // A zone the server does not serve.
            let elsewhere = try DNSName("not-served.test")
            let notAuth = await Self.code(client, try DNSName("_acme-challenge.not-served.test"), elsewhere, server, key)
            #expect(notAuth == "dns_notauth" || notAuth == "dns_refused", "\(notAuth ?? "nil")")
            #expect(try await dns.digTXT(name.description).isEmpty)
        }
    }

    /// The error code of adding a TXT value (nil when it succeeds).
    static func code(_ client: DNSClient, _ name: DNSName, _ zone: DNSName, _ server: DNSServer, _ key: TSIGKey?) async -> String? {
        do {
            try await client.addTXT(name, value: "x", zone: zone, server: server, key: key)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func unreachableServerTimesOutWithinTheTimeout() async throws {
        // Nothing listens on this UDP port: the datagram vanishes (or ICMP says so) and TCP is never tried.
        let server = DNSServer(host: "127.0.0.1", port: TestStack.freePort())
        let client = DNSClient(timeout: .milliseconds(700))
        let started = ContinuousClock.now
        do {
            try await client.addTXT(
                try DNSName("_acme-challenge.example.test"), value: "x", zone: try DNSName("example.test"),
                server: server, key: nil)
            Issue.record("an update to a closed port succeeded")
        } catch {
            #expect(["dns_timeout", "dns_unreachable"].contains(error.code))
        }
        // Bounded, not hanging: a loaded machine (the whole suite beside it) may add a second or two
        // to the 0.7 s timeout, so the bound shows the timeout is honoured, not how fast the machine is.
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func truncatedAnswersFallBackToTCP() async throws {
        // 40 TXT values of 60 octets do not fit a 512-octet UDP answer: the server sets TC.
        let values = (0..<40).map { String(format: "value-%02d-", $0) + String(repeating: "x", count: 51) }
        let extra = values.map { "big IN TXT \"\($0)\"" }.joined(separator: "\n")
        try await Self.with(.bind9, extra: extra) { dns in
            let client = DNSClient(timeout: .seconds(15))
            let answer = try await client.txt(try DNSName("big.\(dns.zone)"), server: try #require(DNSServer(dns.server)), recursive: false)
            #expect(Set(answer) == Set(values))
        }
    }

    @Test func cnameChainsAreFollowedAndLoopsDetected() async throws {
        let extra = """
            _acme-challenge.www IN CNAME hop1.delegated
            hop1.delegated IN CNAME _acme-challenge.target.delegated
            _acme-challenge.loop IN CNAME a.loop
            a.loop IN CNAME _acme-challenge.loop
            """
        try await Self.with(.bind9, extra: extra) { dns in
            let client = DNSClient(timeout: .seconds(15))
            let server = try #require(DNSServer(dns.server))
            #expect(
                try await client.resolveCNAME(try DNSName("_acme-challenge.www.\(dns.zone)"), resolver: server)
                    == (try DNSName("_acme-challenge.target.delegated.\(dns.zone)")))
            #expect(
                try await client.resolveCNAME(try DNSName("_acme-challenge.plain.\(dns.zone)"), resolver: server)
                    == (try DNSName("_acme-challenge.plain.\(dns.zone)")))
            await #expect(throws: DNSError.self) { try await client.resolveCNAME(try DNSName("_acme-challenge.loop.\(dns.zone)"), resolver: server) }
        }
    }
}
