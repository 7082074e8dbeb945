import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import TestSupport
import Testing
import X509

/// The issue's check: a certificate issued through ACME (a private Pebble) and bound to an
/// HAProxy target, an nginx files+reload target, an agent and a webhook; forced renewals
/// reach all four, each verified from outside (handshake serial, the agent's installed
/// fingerprint, the receiver's log), one delivery per target and version even when the
/// worker is killed (-9) in the middle of delivering.
@Suite(.serialized) struct DeliveryRenewalTests {
    @Test(.timeLimit(.minutes(8))) func aForcedRenewalReachesAllFourKindsOnceEvenWithAWorkerKilled() async throws {
        try await ACMEIssuanceTests.World.with("delivery-acme") { world in
            let env = world.env
            try world.startScheduler()
            try await world.startChallengeReplica()
            let apiPort = TestStack.freePort()
            try env.services.start(["api", "--port", String(apiPort)], log: env.directory.appendingPathComponent("api-agent.log"))
            let name = ACMEIssuanceTests.domain("deliver")
            try await TestStack.using(try await DeliveryEdge.start("delivery-acme-edge", certificateName: name), tearDown: { await $0.stop() }) {
                edge in
                let receiver = try await WebhookReceiver.start(in: env.directory, failFirst: 1)
                defer { receiver.stop() }
                let marker = env.directory.appendingPathComponent("nginx-reloads").path
                // While this file exists the reload lingers 3 s: the window the kill -9 lands in.
                let slow = env.directory.appendingPathComponent("slow-reload").path
                let victim = try world.startWorker(lease: 3)
                try await world.application().test(.live) { client in
                    let key = world.key
                    let issued = try await ACMEIssuanceTests.issue(
                        client, world, #"{"name":"\#(name)","domains":["\#(name)"],"challenge":"http-01"}"#)
                    _ = try await ACMEIssuanceTests.waitFor(client, world, issued.uuid, ACMEIssuanceTests.state("valid"))
                    let uuid = issued.uuid
                    let targets: [(String, [(String, JSONValue)])] = [
                        (
                            "nginx",
                            [
                                ("kind", .string("files")),
                                (
                                    "config",
                                    .object([
                                        ("directory", .string(edge.filesRoot)),
                                        ("reload_command", .string("echo x >> \(marker); [ -e \(slow) ] && sleep 3; \(edge.nginxReload)")),
                                    ])
                                ),
                            ]
                        ),
                        (
                            "haproxy",
                            [
                                ("kind", .string("haproxy")),
                                (
                                    "config",
                                    .object([
                                        ("socket", .string(edge.haproxySocket)), ("certificate", .string(edge.haproxyCertificate)),
                                    ])
                                ),
                            ]
                        ),
                        (
                            "hook",
                            [
                                ("kind", .string("webhook")), ("secret", .string(receiver.secret)),
                                ("config", .object([("url", .string(receiver.url))])),
                            ]
                        ),
                        ("edge-agent", [("kind", .string("agent"))]),
                    ]
                    var agentKey = ""
                    for (target, fields) in targets {
                        let body = JSONValue.object([("name", .string(target))] + fields).serialized()
                        let answer = try await client.call(.post, "/v1/targets", key: key, body: body)
                        #expect(answer.status == .created, "\(answer.text)")
                        if let made = answer.json?["data"]?["agent_key"]?.stringValue { agentKey = made }
                        try await DeliveryTests.bind(client, key: key, certificate: uuid, consumer: target, target: target)
                    }
                    let agentDirectory = env.directory.appendingPathComponent("agent").path
                    try agentKey.write(toFile: "\(agentDirectory).key", atomically: true, encoding: .utf8)
                    try env.services.start(
                        [
                            "agent", "--api-url", "http://127.0.0.1:\(apiPort)", "--key-file", "\(agentDirectory).key",
                            "--directory", agentDirectory, "--wait", "20",
                        ], log: env.directory.appendingPathComponent("agent.log"))
                    _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, seconds: 180, DeliveryTests.holds(1))

                    // A clean forced renewal: measured from `renewed` to each target's `delivered`.
                    try await renew(client, world, uuid)
                    _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, seconds: 180, DeliveryTests.holds(2))
                    try await checkFromOutside(
                        client, world, uuid, edge: edge, receiver: receiver, agentDirectory: agentDirectory, name: name,
                        version: 2)
                    var lags: [String: Double] = [:]
                    for row in try await env.db.query(
                        """
                        SELECT t.kind, extract(epoch FROM d.created_at - r.created_at)::float8 AS lag
                        FROM deliveries d JOIN delivery_targets t ON t.id = d.target_id
                        JOIN events r ON r.certificate_id = d.certificate_id AND r.type = 'renewed'
                        WHERE d.certificate_id = \(UUID(uuidString: uuid)!) AND d.version = 2
                        """)
                    { lags[try row.decode(String.self, "kind")] = try row.decode(Double.self, "lag") }
                    let shown = lags.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.2f", $0.value))" }
                    print("ACME renewal, renewed→delivered (s): \(shown)")
                    #expect(lags.count == 4)

                    // A second renewal; the worker dies (kill -9) while nginx's reload runs.
                    FileManager.default.createFile(atPath: slow, contents: nil)
                    try await renew(client, world, uuid)
                    for _ in 0..<600 {
                        if ((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "").split(separator: "\n").count >= 3 { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    victim.signal(SIGKILL)
                    #expect(victim.waitForExit() == 137)
                    try world.startWorker()
                    _ = try await DeliveryTests.waitForDeliveries(client, key: key, uuid, env: env, seconds: 180, DeliveryTests.holds(3))
                    try await checkFromOutside(
                        client, world, uuid, edge: edge, receiver: receiver, agentDirectory: agentDirectory, name: name,
                        version: 3)
                    #expect(
                        try await DeliveryTests.deliveredEvents(env, certificate: uuid) == ["nginx": 3, "haproxy": 3, "hook": 3, "edge-agent": 3])
                    let rows = try await env.db.query(
                        """
                        SELECT count(*) AS n, count(DISTINCT (version, target_id)) AS distinct_rows FROM deliveries
                        WHERE certificate_id = \(UUID(uuidString: uuid)!) AND outcome = 'delivered'
                        """
                    ).first!
                    #expect(try rows.decode(Int.self, "n") == 12 && rows.decode(Int.self, "distinct_rows") == 12)
                    let accepted = receiver.entries.filter { $0.status == 200 && !$0.duplicate }
                    #expect(Dictionary(grouping: accepted, by: { $0.version ?? 0 }).mapValues(\.count) == [1: 1, 2: 1, 3: 1], "\(receiver.entries)")
                    let nginxAttempts = try await env.db.query(
                        """
                        SELECT d.attempts FROM deliveries d JOIN delivery_targets t ON t.id = d.target_id
                        WHERE d.certificate_id = \(UUID(uuidString: uuid)!) AND d.version = 3 AND t.name = 'nginx'
                        """
                    ).first!.decode(Int.self, "attempts")
                    #expect(nginxAttempts == 2, "the attempt cut by the kill, then the one that committed")
                    print(
                        "kill -9 mid-delivery: nginx delivered at attempt \(nginxAttempts); webhook duplicates seen by the receiver: "
                            + "\(receiver.entries.filter(\.duplicate).count)")
                }
            }
        }
    }

    func renew(_ client: some TestClientProtocol, _ world: ACMEIssuanceTests.World, _ uuid: String) async throws {
        let before = try await client.call(.get, "/v1/certificates/\(uuid)", key: world.key).first?["serial_number"]?.stringValue
        let renew = try await client.call(.post, "/v1/certificates/\(uuid)/renew", key: world.key)
        #expect(renew.status == .accepted, "\(renew.text)")
        _ = try await ACMEIssuanceTests.waitFor(client, world, uuid) {
            $0["state"]?.stringValue == "valid" && $0["serial_number"]?.stringValue != before
        }
    }

    /// nginx and HAProxy serve the version's serial, the agent's disk holds its leaf, and the
    /// receiver accepted the version's event.
    func checkFromOutside(
        _ client: some TestClientProtocol, _ world: ACMEIssuanceTests.World, _ uuid: String, edge: DeliveryEdge,
        receiver: WebhookReceiver, agentDirectory: String, name: String, version: Int
    ) async throws {
        let document = try await client.call(.get, "/v1/certificates/\(uuid)", key: world.key).first
        let serial = DeliveryEdge.normalized(document?["serial_number"]?.stringValue ?? "")
        #expect(try await DeliveryEdge.waitForSerial(serial, port: edge.nginxPort) == serial)
        #expect(try DeliveryEdge.servedSerial(port: edge.haproxyPort) == serial)
        let installed = try String(contentsOfFile: "\(agentDirectory)/\(name)/certfleet.json", encoding: .utf8)
        #expect(installed.contains("\"version\":\(version)"), "\(installed)")
        let agentHolding = document?["deliveries"]?.arrayValue.first { $0["target"]?["name"]?.stringValue == "edge-agent" }
        let leaf = try String(contentsOfFile: "\(agentDirectory)/\(name)/cert.pem", encoding: .utf8)
        #expect(agentHolding?["fingerprint_sha256"]?.stringValue.map { leafFingerprint(leaf) == $0 } == true)
        #expect(receiver.entries.contains { $0.status == 200 && $0.version == version && DeliveryEdge.normalized($0.serial ?? "") == serial })
    }

    func leafFingerprint(_ pem: String) -> String {
        (try? Certificate(pem: pem).info.fingerprintSHA256) ?? ""
    }
}
