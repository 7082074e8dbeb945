import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Store
import TestSupport
import Testing

/// Metrics, the http-01 route, projects, and the OpenAPI contract checked against
/// the live API by schemathesis (0 server errors, 0 schema violations).
@Suite(.serialized) struct OperationsAPITests {
    @Test func metricsChallengesAndProjects() async throws {
        let env = try await APIEnvironment()
        do {
            let admin = try await env.key(["admin"])
            try await env.db.query(
                """
                INSERT INTO acme_challenges (token, key_authorization, identifier, type) VALUES ('tok-1', 'tok-1.thumb', 'a.example.com', 'http-01')
                """)
            try await env.application().test(.live) { client in
                let challenge = try await client.call(.get, "/.well-known/acme-challenge/tok-1", key: nil)
                #expect(challenge.status == .ok)
                #expect(challenge.text == "tok-1.thumb")
                #expect(try await client.call(.get, "/.well-known/acme-challenge/nope", key: nil).status == .notFound)

                _ = try await client.call(.get, "/v1/certificates/list", key: admin)
                let metrics = try await client.call(.get, "/metrics", key: nil)
                #expect(metrics.status == .ok)
                #expect(
                    metrics.text.contains(#"certfleet_http_requests_total{route="/v1/certificates/list",method="GET",status="200"} 1"#),
                    "\(metrics.text)")
                #expect(metrics.text.contains("certfleet_http_request_duration_seconds_bucket"))
                #expect(metrics.text.contains("certfleet_renewals_due 0"), "\(metrics.text)")
                #expect(metrics.text.contains(#"certfleet_certificates_expiring{within_days="7"} 0"#))

                // Projects: the `system` scope only (a project's admin cannot create them).
                let system = try await env.key(["admin", "system"])
                #expect(try await client.call(.post, "/v1/projects", key: admin, body: #"{"name":"tenant-b"}"#).errorCode == "missing_scope")
                let project = try await client.call(.post, "/v1/projects", key: system, body: #"{"name":"tenant-b"}"#)
                #expect(project.status == .created, "\(project.text)")
                let secret = try #require(project.json?["data"]?["projects"]?.arrayValue.first?["key"]?["secret"]?.stringValue)
                #expect(try await client.call(.get, "/v1/keys", key: secret).status == .ok)
                #expect(try await client.call(.post, "/v1/projects", key: system, body: #"{"name":"tenant-b"}"#).status == .conflict)

                // A key cannot lock its caller out by revoking itself.
                let keys = try await client.call(.get, "/v1/keys", key: admin)
                let own = try #require(keys.json?["data"]?["keys"]?.arrayValue.first?["id"]?.stringValue)
                #expect(try await client.call(.delete, "/v1/keys/\(own)", key: admin).status == .conflict)
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    /// schemathesis from PyPI, in the git-ignored `.venv-tools`.
    @Test(.timeLimit(.minutes(10))) func schemathesisFindsNoServerErrorsOrSchemaViolations() async throws {
        let st = try await TestStack.toolsExecutable("st")
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let key = try await env.key(["admin", "certificates:read", "certificates:write", "keys:export"])
            var configuration = APIConfiguration(readRate: 0, writeRate: 0)
            configuration.consumerTLSReadsPerHour = 0
            configuration.consumerTLSWritesPerHour = 0
            let app = env.application(configuration)
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let report = env.directory.appendingPathComponent("schemathesis.out")
                // Run inside the test's (git-ignored) directory: schemathesis keeps state in ./.schemathesis.
                let script = """
                    cd '\(env.directory.path)' && '\(st)' run '\(TestStack.root.appendingPathComponent("schemas/openapi.yaml").path)' \
                      --url http://127.0.0.1:\(port) -H 'Authorization: Bearer \(key)' \
                      --checks not_a_server_error,response_schema_conformance --max-examples 15 --seed 1 \
                      > '\(report.path)' 2>&1; echo $?
                    """
                // On a thread of its own: the live server needs the cooperative pool meanwhile.
                let status = try await TestStack.run("/bin/bash", ["-c", script]).trimmingCharacters(in: .whitespacesAndNewlines)
                let output = (try? String(contentsOf: report, encoding: .utf8)) ?? ""
                #expect(status == "0", "schemathesis failed:\n\(output.suffix(6000))")
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }
}
