import API
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceTestSupport
import TestSupport
import Testing

/// `/v1/dns/providers` and `certfleet dns …` against a live API and a private BIND: the
/// secret is never returned, names are per project, bad input gets its code, and the test
/// action and the preflight report what the server answered.
@Suite struct DNSProvidersAPITests {
    @Test func providersThroughAPIAndCLI() async throws {
        try await APIEnvironment.with { env in
            try await TestStack.using(
                try await PrivateAuthoritativeDNS.start(.bind9, zone: "cli-\(UUID().uuidString.prefix(6).lowercased()).certfleet-test.com"),
                tearDown: { await $0.stop() }
            ) { dns in
                let key = try await env.key(["certificates:read", "certificates:write"])
                let otherKey = try await env.key(["certificates:read", "certificates:write"], project: env.otherProject)
                @Sendable func config(_ secret: String) throws -> (URL, URL) {
                    let settings = env.directory.appendingPathComponent("settings.json"), sealed = env.directory.appendingPathComponent("secret.json")
                    // Generous: the whole suite runs beside it, and a loaded machine answers late, not wrongly.
                    let propagation = #""propagation":{"nameserver_port":\#(dns.port),"timeout_seconds":30}"#
                    try (#"{"primary":"\#(dns.server)","tsig_key_name":"\#(dns.keyName)","timeout_seconds":10,"# + propagation + "}")
                        .write(to: settings, atomically: true, encoding: .utf8)
                    try #"{"tsig_secret":"\#(secret)"}"#.write(to: sealed, atomically: true, encoding: .utf8)
                    return (settings, sealed)
                }
                try await env.application().test(.live) { client in
                    let port = try #require(client.port)
                    func run(_ arguments: [String], key: String = key) async -> (status: Int32, output: String) {
                        await CLITests.cli(arguments, port: port, key: key)
                    }
                    var (settings, secret) = try config(dns.secret)
                    let added = await run([
                        "dns", "providers", "add", "bind", "--kind", "rfc2136", "--zone", dns.zone, "--config", settings.path,
                        "--secret-file", secret.path,
                    ])
                    #expect(added.status == 0 && added.output.contains("bind"), "\(added.output)")
                    let listed = await run(["dns", "providers", "list", "--json"])
                    #expect(
                        listed.status == 0 && listed.output.contains("\"has_secret\":true") && !listed.output.contains(dns.secret), "\(listed.output)"
                    )
                    let tested = await run(["dns", "providers", "test", "bind", "--zone", dns.zone])
                    #expect(tested.status == 0 && tested.output.contains("present") && tested.output.contains("cleanup"), "\(tested.output)")
                    #expect(try await dns.digTXT("_acme-challenge.\(dns.zone)").isEmpty, "the test record was removed")
                    let preflight = await run(["dns", "preflight", "*.\(dns.zone)", dns.zone])
                    #expect(preflight.status == 0, "\(preflight.output)")

                    // A wrong key: the test action fails with the server's answer, exit 3.
                    (settings, secret) = try config(Data(repeating: 1, count: 32).base64EncodedString())
                    _ = await run(["dns", "providers", "add", "wrong", "--kind", "rfc2136", "--config", settings.path, "--secret-file", secret.path])
                    let failed = await run(["dns", "providers", "test", "wrong", "--zone", dns.zone, "--json"])
                    #expect(failed.status == 3, "\(failed.output)")
                    let report = try await client.call(.post, "/v1/dns/providers/wrong/test", key: key, body: #"{"zone":"\#(dns.zone)"}"#)
                    #expect(report.json?["data"]?["steps"]?.arrayValue.first?["code"]?.stringValue == "dns_tsig_badsig", "\(report.text)")

                    // Per project: another project neither sees nor deletes them; names are unique per project.
                    let foreign = try await client.call(.get, "/v1/dns/providers", key: otherKey)
                    #expect(foreign.json?["data"]?["dns_providers"]?.arrayValue.isEmpty == true, "\(foreign.text)")
                    #expect(try await client.call(.delete, "/v1/dns/providers/bind", key: otherKey).errorCode == "dns_provider_not_found")
                    let body = #"{"name":"bind","kind":"rfc2136","config":{"primary":"\#(dns.server)"}}"#
                    #expect(try await client.call(.post, "/v1/dns/providers", key: key, body: body).errorCode == "name_taken")
                    #expect(try await client.call(.post, "/v1/dns/providers", key: otherKey, body: body).status == .created)
                    // Bad input.
                    let badKind = try await client.call(.post, "/v1/dns/providers", key: key, body: #"{"name":"x","kind":"route53"}"#)
                    #expect(badKind.status == .unprocessableContent && badKind.errorCode == "invalid_kind")
                    let badZone = try await client.call(
                        .post, "/v1/dns/providers", key: key,
                        body: #"{"name":"x","kind":"rfc2136","zones":["a..b"],"config":{"primary":"\#(dns.server)"}}"#)
                    #expect(badZone.errorCode == "invalid_zone")
                    let exec = try await client.call(
                        .post, "/v1/dns/providers", key: key, body: #"{"name":"x","kind":"exec","config":{"command":"/bin/true"}}"#)
                    #expect(exec.errorCode == "invalid_dns_provider", "exec is off without CERTFLEET_DNS_EXEC_DIR: \(exec.text)")
                    let unknown = try await client.call(
                        .post, "/v1/certificates", key: key,
                        body: #"{"domains":["a.\#(dns.zone)"],"challenge":"dns-01","dns_provider":"nope"}"#)
                    #expect(unknown.errorCode == "dns_provider_not_found", "\(unknown.text)")

                    let deleted = await run(["dns", "providers", "delete", "wrong"])
                    #expect(deleted.status == 0)
                    let remaining = try await client.call(.get, "/v1/dns/providers", key: key)
                    #expect(remaining.json?["data"]?["dns_providers"]?.arrayValue.compactMap { $0["name"]?.stringValue } == ["bind"])
                }
            }
        }
    }
}
