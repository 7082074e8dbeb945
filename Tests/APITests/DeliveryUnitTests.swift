import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import TestSupport
import Testing

/// A unit target against CertFleet's own NGINX Unit-compatible surface on its Unix socket
/// (Unit itself is not packaged in Debian 12): each new version goes in under a versioned
/// name, the listener's `tls/certificate` is switched to it, and the old bundle is deleted.
@Suite(.serialized) struct DeliveryUnitTests {
    func unit(_ socket: String, _ method: String, _ path: String) throws -> (status: Int, body: String) {
        let output = try TestStack.runWaiting(
            "/usr/bin/curl",
            [
                "-s", "--unix-socket", socket, "-X", method, "-w", "\n%{http_code}",
                "http://localhost\(path)",
            ])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func aUnitTargetSwitchesTheListenerToEachNewVersion() async throws {
        try await APIEnvironment.with { env in
            let socket = "/tmp/cf-unit-dlv-\(UUID().uuidString.prefix(8)).sock"
            defer { try? FileManager.default.removeItem(atPath: socket) }
            try env.services.start(
                ["api", "--port", String(TestStack.freePort()), "--unit-socket", socket, "--unit-socket-project", "unit-edge"],
                log: env.directory.appendingPathComponent("api-unit.log"))
            for _ in 0..<300 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(100)) }
            try env.start(["worker", "--lease", "10"])
            try env.start(["scheduler", "--reap-interval", "1"])
            let key = try await env.key(["certificates:read", "certificates:write"])
            let name = "app-\(UUID().uuidString.prefix(6).lowercased())"
            let first = try DeliveryTests.fixture(name), second = try DeliveryTests.fixture(name)
            let listener = "/config/listeners/127.0.0.1:8443/tls/certificate"
            try await env.application().test(.live) { client in
                let created = try await client.call(.post, "/v1/certificates", key: key, body: DeliveryTests.upload(first, name: name))
                let uuid = try #require(created.first?["uuid"]?.stringValue)
                _ = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env, ACMEIssuanceTests.state("valid"))
                let target = try await DeliveryTests.target(
                    client, key: key,
                    [
                        ("name", .string("unit")), ("kind", .string("unit")),
                        ("config", .object([("socket", .string(socket)), ("listener", .string("127.0.0.1:8443"))])),
                    ])
                try await DeliveryTests.bind(client, key: key, certificate: uuid, consumer: "unit", target: target)
                _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, DeliveryTests.holds(1))
                #expect(try unit(socket, "GET", listener).body.contains("\"\(name).v1\""))
                #expect(try unit(socket, "GET", "/certificates/\(name).v1").status == 200)

                let renewed = try await client.call(.put, "/v1/certificates/\(uuid)", key: key, body: DeliveryTests.upload(second, name: name))
                #expect(renewed.status == .accepted, "\(renewed.text)")
                let held = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, DeliveryTests.holds(2))
                #expect(try unit(socket, "GET", listener).body.contains("\"\(name).v2\""))
                let bundle = try unit(socket, "GET", "/certificates/\(name).v2")
                #expect(bundle.status == 200, "\(bundle.body)")
                // Unit's document shows no serial: the bundle's own version row does.
                let stored = try await env.db.query(
                    """
                    SELECT v.serial FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                    WHERE c.name = \("\(name).v2") AND c.deleted_at IS NULL
                    """
                ).first?.decode(String.self, "serial")
                #expect(stored.map(DeliveryEdge.normalized) == (try DeliveryTests.serial(of: second)))
                #expect(held.first?["error"] == .null)
                // The old bundle is gone (its delete job may take a moment).
                var old = try unit(socket, "GET", "/certificates/\(name).v1").status
                for _ in 0..<100 where old != 404 {
                    try await Task.sleep(for: .milliseconds(200))
                    old = try unit(socket, "GET", "/certificates/\(name).v1").status
                }
                #expect(old == 404)
                // A bundle a listener uses cannot be deleted (Unit's rule).
                #expect(try unit(socket, "DELETE", "/certificates/\(name).v2").status == 400)
            }
        }
    }
}
