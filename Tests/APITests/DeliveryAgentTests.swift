import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import TestSupport
import Testing
import X509

/// `certfleet agent` (issue 22): two agent processes against a real `certfleet api` process;
/// one is stopped during two renewals and, started again, installs the latest version only.
@Suite(.serialized) struct DeliveryAgentTests {
    @Test func anAgentStoppedDuringRenewalsCatchesUpWithTheLatestVersionOnly() async throws {
        try await APIEnvironment.with { env in
            let apiPort = TestStack.freePort()
            try env.services.start(["api", "--port", String(apiPort)], log: env.directory.appendingPathComponent("api-process.log"))
            for _ in 0..<300 where !TestStack.isListening(port: apiPort) { try await Task.sleep(for: .milliseconds(100)) }
            try env.start(["worker", "--lease", "10"])
            try env.start(["scheduler", "--reap-interval", "1"])
            let key = try await env.key(["certificates:read", "certificates:write"])
            let name = "edge-\(UUID().uuidString.prefix(6).lowercased())"
            let versions = try (0..<3).map { _ in try DeliveryTests.fixture(name) }
            try await env.application().test(.live) { client in
                let created = try await client.call(.post, "/v1/certificates", key: key, body: DeliveryTests.upload(versions[0], name: name))
                let uuid = try #require(created.first?["uuid"]?.stringValue)
                _ = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env, ACMEIssuanceTests.state("valid"))
                var agents: [String: (key: String, directory: String)] = [:]
                for agent in ["edge-a", "edge-b"] {
                    let answer = try await client.call(.post, "/v1/targets", key: key, body: #"{"name":"\#(agent)","kind":"agent"}"#)
                    #expect(answer.status == .created, "\(answer.text)")
                    let agentKey = try #require(answer.json?["data"]?["agent_key"]?.stringValue)
                    let directory = env.directory.appendingPathComponent(agent).path
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    try agentKey.write(toFile: "\(directory).key", atomically: true, encoding: .utf8)
                    agents[agent] = (agentKey, directory)
                    try await DeliveryTests.bind(client, key: key, certificate: uuid, consumer: agent, target: agent)
                    // Shown once: never again.
                    let shown = try await client.call(.get, "/v1/targets/\(agent)", key: key)
                    #expect(shown.json?["data"]?["agent_key"] == nil && !shown.text.contains(agentKey.split(separator: ".")[1]))
                }
                func startAgent(_ agent: String) throws -> ChildProcess {
                    try env.services.start(
                        [
                            "agent", "--api-url", "http://127.0.0.1:\(apiPort)", "--key-file", "\(agents[agent]!.directory).key",
                            "--directory", agents[agent]!.directory, "--wait", "5",
                            "--reload-command", "echo reloaded >> \(agents[agent]!.directory).reloads",
                        ],
                        log: env.directory.appendingPathComponent("\(agent)-\(env.services.processes.count).log"))
                }
                _ = try startAgent("edge-a")
                let stopped = try startAgent("edge-b")
                func holding(_ a: Int, _ b: Int) -> (JSONValue) -> Bool {
                    { $0["version"]?.intValue == ($0["target"]?["name"]?.stringValue == "edge-a" ? a : b) }
                }
                _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, holding(1, 1))
                stopped.signal(SIGTERM)
                await stopped.exitCode()
                for (index, fixture) in versions.enumerated().dropFirst() {
                    let renewed = try await client.call(.put, "/v1/certificates/\(uuid)", key: key, body: DeliveryTests.upload(fixture, name: name))
                    #expect(renewed.status == .accepted, "\(renewed.text)")
                    _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, holding(index + 1, 1))
                }
                _ = try startAgent("edge-b")
                let settled = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, holding(3, 3))
                // What edge-b installed, read from its disk, is the third version.
                let installed = try Certificate(pem: try String(contentsOfFile: "\(agents["edge-b"]!.directory)/\(name)/cert.pem", encoding: .utf8))
                #expect(DeliveryEdge.normalized(installed.info.serialNumber) == (try DeliveryTests.serial(of: versions[2])))
                #expect(settled.allSatisfy { $0["fingerprint_sha256"]?.stringValue == installed.info.fingerprintSHA256 }, "\(settled)")
                var delivered: [String: [Int]] = [:]
                for row in try await env.db.query(
                    """
                    SELECT t.name, d.version FROM deliveries d JOIN delivery_targets t ON t.id = d.target_id
                    WHERE d.certificate_id = \(UUID(uuidString: uuid)!) AND d.outcome = 'delivered' ORDER BY d.version
                    """)
                { delivered[try row.decode(String.self, "name"), default: []].append(try row.decode(Int.self, "version")) }
                #expect(delivered == ["edge-a": [1, 2, 3], "edge-b": [1, 3]], "the stopped agent skipped version 2")
                #expect(try await DeliveryTests.deliveredEvents(env, certificate: uuid) == ["edge-a": 3, "edge-b": 2])
                let reloads = try String(contentsOfFile: "\(agents["edge-b"]!.directory).reloads", encoding: .utf8).split(separator: "\n").count
                #expect(reloads == 2)

                // A wrong key is refused with a stable code; a key sees only its own target's certificates.
                let target = String(agents["edge-a"]!.key.split(separator: ".")[0])
                var headers = HTTPFields()
                headers[.authorization] = "Bearer \(target).not-the-secret"
                let wrong = try await client.call(.get, "/agent/v1/deliveries", key: nil, headers: headers)
                #expect(wrong.status == .unauthorized && wrong.errorCode == "agent_key_invalid", "\(wrong.text)")
                let unbound = DeliveryTests.upload(try DeliveryTests.fixture("x"), name: "unbound")
                let other = try await client.call(.post, "/v1/certificates", key: key, body: unbound)
                let otherUUID = try #require(other.first?["uuid"]?.stringValue)
                headers[.authorization] = "Bearer \(agents["edge-a"]!.key)"
                let ack = try await client.call(
                    .post, "/agent/v1/acks", key: nil,
                    body: #"{"certificate":"\#(otherUUID)","version":1,"fingerprint_sha256":"00"}"#, headers: headers)
                #expect(ack.status == .notFound && ack.errorCode == "agent_unknown_version", "\(ack.text)")
            }
        }
    }
}
