import API
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// The hostile-input suite: a real `certfleet api` process and worker, one victim project
/// with a valid, bound certificate, and Tests/Fixtures/security/hostile.py sending every
/// route with no key, another project's key and too few scopes, and every write route
/// deep, huge, invalid-UTF-8, NUL, 10k-SAN, wrongly typed and path-traversing bodies.
/// Nothing may answer 5xx, leak the victim's certificate, or drop the connection; the
/// API's peak RSS is printed.
@Suite(.serialized) struct HostileInputTests {
    let fixtures = APIFixtures.shared

    @Test(.timeLimit(.minutes(10))) func everyRouteRefusesStrangersAndHostileBodiesWithoutServerErrors() async throws {
        try await APIEnvironment.with { env in
            try env.start(["worker"])
            let port = TestStack.freePort()
            try env.start([
                "api", "--port", "\(port)", "--write-rate", "0", "--read-rate", "0",
                "--consumer-tls-writes-per-hour", "0", "--consumer-tls-reads-per-hour", "0",
            ])
            let api = try #require(env.services.processes.last)
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let reader = try await env.key(["certificates:read"])
            let victimAdmin = try await APIKeys.create(env.db, project: env.project, name: "victim-admin", scopes: ["admin"])
            let attacker = try await env.key(["admin", "certificates:read", "certificates:write", "keys:export"], project: env.otherProject)
            var victim = try await env.application().test(.live) { client -> [String: String] in
                var victim: [String: String] = [:]
                let uploaded = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(name: "victim-cert"))
                let uuid = try #require(uploaded.first?["uuid"]?.stringValue)
                victim["job"] = try #require(uploaded.first?["job"]?.stringValue)
                let deadline = ContinuousClock.now + .seconds(60)
                var document = try await client.call(.get, "/v1/certificates/\(uuid)", key: writer)
                while document.first?["state"]?.stringValue == "pending", ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    document = try await client.call(.get, "/v1/certificates/\(uuid)", key: writer)
                }
                #expect(document.first?["state"]?.stringValue == "valid", "\(document.text)")
                victim["serial"] = try #require(document.first?["serial_number"]?.stringValue)
                victim["fingerprint"] = try #require(
                    document.first?["chain"]?.arrayValue.first?["fingerprint_sha256"]?.stringValue
                        ?? document.first?["serial_number"]?.stringValue)
                #expect(try await client.call(.put, "/v1/certificates/\(uuid)/bindings/edge-1", key: writer).status == .created)
                victim["uuid"] = uuid
                return victim
            }
            victim["name"] = "victim-cert"
            victim["key_id"] = victimAdmin.key.id.uuidString.lowercased()
            victim["consumer"] = "edge-1"
            victim["host"] = "api.example.com"
            victim["zone"] = "victim-zone.test"
            _ = try await DomainClaims.assign(env.db, project: env.project, zone: "victim-zone.test", actor: "test")

            let base = "http://127.0.0.1:\(port)"
            for _ in 0..<300 where (try? await TestStack.run("/usr/bin/curl", ["-sf", "\(base)/healthz"])) == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            let configuration = env.directory.appendingPathComponent("hostile.json")
            let document: [String: Any] = ["base": base, "victim": victim, "keys": ["attacker": attacker, "reader": reader, "writer": writer]]
            try JSONSerialization.data(withJSONObject: document).write(to: configuration)
            let script = TestStack.root.appendingPathComponent("Tests/Fixtures/security/hostile.py").path
            let output = try await TestStack.run(try await TestStack.toolsPython(), [script, configuration.path])
            let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
            let status = try String(contentsOfFile: "/proc/\(api.pid)/status", encoding: .utf8)
            let peak = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }.map(String.init) ?? "VmHWM: unknown"
            print(
                "hostile input: \(summary["requests"] ?? 0) requests over \(summary["routes"] ?? 0) routes, "
                    + "cases \(summary["cases"] ?? []), 5xx \(summary["server_errors"] ?? -1), problems \(summary["problem_count"] ?? -1); "
                    + "API peak RSS \(peak.dropFirst(6).trimmingCharacters(in: .whitespaces))")
            #expect(summary["server_errors"] as? Int == 0, "\(summary["problems"] ?? "")")
            #expect(summary["problem_count"] as? Int == 0, "\(summary["problems"] ?? "")")
            #expect(summary["healthz_after"] as? Int == 200)
            #expect(api.isRunning, "the API process exited")
            // No key material or API key in any process log, event, outbox message or job error.
            let secrets = ["PRIVATE KEY", writer, reader, attacker, victimAdmin.secret]
            for file in env.logFiles where file.pathExtension == "log" {
                let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                for secret in secrets { #expect(!text.contains(secret), "\(file.lastPathComponent) holds a secret") }
            }
            let stored =
                try await env.db.query(
                    """
                    SELECT coalesce(string_agg(e.type || ' ' || coalesce(e.reason, ''), ' '), '') || ' ' ||
                           (SELECT coalesce(string_agg(o.body::text || o.headers::text, ' '), '') FROM outbox o) || ' ' ||
                           (SELECT coalesce(string_agg(coalesce(j.error_detail, '') || j.errors::text, ' '), '') FROM jobs j) AS text
                    FROM events e
                    """
                ).first?.decode(String.self, "text") ?? ""
            for secret in secrets { #expect(!stored.contains(secret), "a stored event, message or job error holds a secret") }
            // Nothing of the victim's changed: still valid, still bound.
            let state = try await env.db.query("SELECT state FROM certificates WHERE name = 'victim-cert'").first?.decode(String.self, "state")
            #expect(state == "valid")
            let bound = try await env.db.query(
                """
                SELECT count(*)::int8 AS n FROM bindings b JOIN certificates c ON c.id = b.certificate_id WHERE c.name = 'victim-cert'
                """
            ).first?.decode(Int.self, "n")
            #expect(bound == 1)
        }
    }
}
