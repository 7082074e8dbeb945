import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import TestSupport
import Testing

/// Deliveries (issue 22) end to end: real `certfleet worker` and `scheduler` processes, a
/// private nginx reloaded by `nginx -s reload`, a private HAProxy changed through its
/// runtime API, and a webhook receiver that checks signatures — each checked from outside
/// (the serial a TLS handshake gets, the receiver's log).
@Suite(.serialized) struct DeliveryTests {
    static func fixture(_ name: String) throws -> SelfSignedFixture {
        try SelfSignedFixture.make(subject: "/CN=\(name).example/O=CertFleet Delivery Test", sans: "DNS:\(name).example")
    }

    static func upload(_ fixture: SelfSignedFixture, name: String) -> String {
        JSONValue.object([("name", .string(name)), ("chain", .string(fixture.chain)), ("pkey", .string(fixture.key))]).serialized()
    }

    static func serial(of fixture: SelfSignedFixture) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("serial-\(UUID().uuidString).pem")
        try fixture.chain.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return DeliveryEdge.normalized(
            try TestStack.runWaiting("/usr/bin/openssl", ["x509", "-in", file.path, "-noout", "-serial"])
                .replacingOccurrences(of: "serial=", with: ""))
    }

    /// Creates a target; returns its uuid.
    static func target(_ client: some TestClientProtocol, key: String, _ fields: [(String, JSONValue)]) async throws -> String {
        let answer = try await client.call(.post, "/v1/targets", key: key, body: JSONValue.object(fields).serialized())
        #expect(answer.status == .created, "\(answer.text)")
        return try #require(answer.json?["data"]?["uuid"]?.stringValue)
    }

    static func bind(_ client: some TestClientProtocol, key: String, certificate: String, consumer: String, target: String) async throws {
        let answer = try await client.call(
            .put, "/v1/certificates/\(certificate)/bindings/\(consumer)", key: key,
            body: #"{"target":"\#(target)"}"#)
        #expect(answer.status == .created, "\(answer.text)")
    }

    /// Polls the certificate until every bound target satisfies DONE; returns its `deliveries`.
    static func waitForDeliveries(
        _ client: some TestClientProtocol, key: String, _ certificate: String, env: APIEnvironment,
        seconds: Int = 120, _ done: (JSONValue) -> Bool
    ) async throws -> [JSONValue] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last = ""
        while ContinuousClock.now < deadline {
            let answer = try await client.call(.get, "/v1/certificates/\(certificate)", key: key)
            last = answer.text
            let deliveries = answer.first?["deliveries"]?.arrayValue ?? []
            if !deliveries.isEmpty && deliveries.allSatisfy(done) { return deliveries }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("deliveries did not settle: \(last); processes: \(env.processStatus)")
        throw CancellationError()
    }

    static func holds(_ version: Int) -> (JSONValue) -> Bool { { $0["version"]?.intValue == version && $0["outcome"]?.stringValue == "delivered" } }

    /// `delivered` events of the certificate per target name (the audit trail's reason).
    static func deliveredEvents(_ env: APIEnvironment, certificate: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await env.db.query(
            """
            SELECT reason FROM events WHERE certificate_id = \(UUID(uuidString: certificate)!) AND type = 'delivered'
            """)
        { counts[try row.decode(String.self, "reason"), default: 0] += 1 }
        return counts
    }

    /// Seconds from the version's `renewed` event to each target's `delivered` event, by target kind.
    static func lagByKind(_ env: APIEnvironment, certificate: String, version: Int) async throws -> [String: Double] {
        var lags: [String: Double] = [:]
        for row in try await env.db.query(
            """
            SELECT t.kind, extract(epoch FROM d.created_at - r.created_at)::float8 AS lag
            FROM deliveries d JOIN delivery_targets t ON t.id = d.target_id
            JOIN events r ON r.certificate_id = d.certificate_id AND r.type = 'renewed'
            WHERE d.certificate_id = \(UUID(uuidString: certificate)!) AND d.version = \(Int32(version)) AND d.outcome = 'delivered'
            """)
        { lags[try row.decode(String.self, "kind")] = try row.decode(Double.self, "lag") }
        return lags
    }

    /// A certificate bound to an nginx files+reload target, an HAProxy target and a webhook
    /// that fails its first two requests: the first version and then a renewal (a new
    /// version through PUT) reach all three, seen from outside, with one `delivered` event
    /// per target and version; the webhook got the new version exactly once, signed.
    @Test func aNewVersionReachesNginxHAProxyAndAWebhookOnceEach() async throws {
        try await APIEnvironment.with { env in
            let name = "site-\(UUID().uuidString.prefix(6).lowercased())"
            try await TestStack.using(try await DeliveryEdge.start("delivery-all", certificateName: name), tearDown: { await $0.stop() }) { edge in
                let receiver = try await WebhookReceiver.start(in: env.directory, failFirst: 2)
                defer { receiver.stop() }
                let metricsPort = TestStack.freePort()
                try env.start(["worker", "--lease", "10", "--metrics-port", String(metricsPort)])
                try env.start(["scheduler", "--reap-interval", "1"])
                let key = try await env.key(["certificates:read", "certificates:write"])
                let first = try Self.fixture(name), second = try Self.fixture(name)
                try await env.application().test(.live) { client in
                    let created = try await client.call(.post, "/v1/certificates", key: key, body: Self.upload(first, name: name))
                    #expect(created.status == .accepted, "\(created.text)")
                    let uuid = try #require(created.first?["uuid"]?.stringValue)
                    _ = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env, ACMEIssuanceTests.state("valid"))
                    let files = try await Self.target(
                        client, key: key,
                        [
                            ("name", .string("nginx")), ("kind", .string("files")),
                            ("config", .object([("directory", .string(edge.filesRoot)), ("reload_command", .string(edge.nginxReload))])),
                        ])
                    let haproxy = try await Self.target(
                        client, key: key,
                        [
                            ("name", .string("haproxy")), ("kind", .string("haproxy")),
                            ("config", .object([("socket", .string(edge.haproxySocket)), ("certificate", .string(edge.haproxyCertificate))])),
                        ])
                    let hook = try await Self.target(
                        client, key: key,
                        [
                            ("name", .string("hook")), ("kind", .string("webhook")), ("secret", .string(receiver.secret)),
                            ("config", .object([("url", .string(receiver.url))])),
                        ])
                    // The secret is never shown again.
                    let shown = try await client.call(.get, "/v1/targets/hook", key: key)
                    #expect(shown.json?["data"]?["has_secret"] == .bool(true) && !shown.text.contains(receiver.secret), "\(shown.text)")
                    for (consumer, target) in [("web", files), ("lb", haproxy), ("audit", hook)] {
                        try await Self.bind(client, key: key, certificate: uuid, consumer: consumer, target: target)
                    }
                    _ = try await Self.waitForDeliveries(client, key: key, uuid, env: env, Self.holds(1))
                    #expect(try await DeliveryEdge.waitForSerial(try Self.serial(of: first), port: edge.nginxPort) == (try Self.serial(of: first)))
                    #expect(try DeliveryEdge.servedSerial(port: edge.haproxyPort) == (try Self.serial(of: first)))

                    // The renewal: a new version becomes valid and goes everywhere on its own.
                    let renewed = try await client.call(.put, "/v1/certificates/\(uuid)", key: key, body: Self.upload(second, name: name))
                    #expect(renewed.status == .accepted, "\(renewed.text)")
                    let deliveries = try await Self.waitForDeliveries(client, key: key, uuid, env: env, Self.holds(2))
                    let wanted = try Self.serial(of: second)
                    #expect(try await DeliveryEdge.waitForSerial(wanted, port: edge.nginxPort) == wanted)
                    #expect(try DeliveryEdge.servedSerial(port: edge.haproxyPort) == wanted)
                    #expect(deliveries.allSatisfy { ($0["fingerprint_sha256"]?.stringValue ?? "").filter(\.isHexDigit).count == 64 }, "\(deliveries)")
                    // nginx reads the files through the swapped link: key 0600, the four files there.
                    let live = "\(edge.filesRoot)/\(name)"
                    let attributes = try FileManager.default.attributesOfItem(atPath: "\(live)/privkey.pem")
                    #expect((attributes[.posixPermissions] as? Int) == 0o600)
                    for file in ["fullchain.pem", "chain.pem", "cert.pem"] { #expect(FileManager.default.fileExists(atPath: "\(live)/\(file)")) }

                    let accepted = receiver.entries.filter { $0.status == 200 }
                    #expect(receiver.entries.allSatisfy { $0.valid && !$0.has_key }, "\(receiver.entries)")
                    #expect(receiver.entries.prefix(2).allSatisfy { $0.status == 503 }, "the first two were refused and retried")
                    #expect(accepted.filter { $0.version == 2 }.count == 1 && accepted.filter { $0.version == 1 }.count == 1, "\(receiver.entries)")
                    #expect(accepted.allSatisfy { $0.content_type?.hasPrefix("application/cloudevents+json") == true && !$0.duplicate })
                    #expect(accepted.first { $0.version == 2 }.map { DeliveryEdge.normalized($0.serial ?? "") } == wanted)
                    #expect(try await Self.deliveredEvents(env, certificate: uuid) == ["nginx": 2, "haproxy": 2, "hook": 2])
                    let lags = try await Self.lagByKind(env, certificate: uuid, version: 2)
                    let figures = lags.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.2f", $0.value))" }
                    print("delivery lag renewed→delivered (s): \(figures)")
                    #expect(lags.count == 3)
                    // The worker's /metrics counts them per kind: 2 each, the webhook's 2 refusals as attempt failures.
                    let metrics = try await TestStack.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"])
                    for kind in ["files", "haproxy", "webhook"] {
                        #expect(metrics.contains(#"certfleet_delivery_total{kind="\#(kind)",outcome="delivered"} 2"#), "\(metrics)")
                    }
                    #expect(
                        metrics.contains(#"certfleet_delivery_attempt_failures_total{code="webhook_rejected",kind="webhook"} 2"#)
                            || metrics.contains(#"certfleet_delivery_attempt_failures_total{kind="webhook",code="webhook_rejected"} 2"#), "\(metrics)"
                    )
                    #expect(metrics.contains("certfleet_delivery_lag_seconds"))
                }
            }
        }
    }

    /// kill -9 of the worker while nginx's reload runs (the files are already swapped): the
    /// lease runs out, another worker delivers again, and the version counts once.
    @Test func aWorkerKilledMidDeliveryDeliversOnce() async throws {
        try await APIEnvironment.with { env in
            let name = "kill-\(UUID().uuidString.prefix(6).lowercased())"
            try await TestStack.using(try await DeliveryEdge.start("delivery-kill", certificateName: name), tearDown: { await $0.stop() }) { edge in
                let marker = env.directory.appendingPathComponent("reload-started").path
                try env.start(["scheduler", "--reap-interval", "1"])
                let victim = try env.services.start(["worker", "--lease", "3"], log: env.directory.appendingPathComponent("victim.log"))
                let key = try await env.key(["certificates:read", "certificates:write"])
                let fixture = try Self.fixture(name)
                try await env.application().test(.live) { client in
                    let created = try await client.call(.post, "/v1/certificates", key: key, body: Self.upload(fixture, name: name))
                    let uuid = try #require(created.first?["uuid"]?.stringValue)
                    _ = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env, ACMEIssuanceTests.state("valid"))
                    let files = try await Self.target(
                        client, key: key,
                        [
                            ("name", .string("nginx")), ("kind", .string("files")),
                            (
                                "config",
                                .object([
                                    ("directory", .string(edge.filesRoot)),
                                    ("reload_command", .string("echo x >> \(marker); sleep 4; \(edge.nginxReload)")),
                                ])
                            ),
                        ])
                    try await Self.bind(client, key: key, certificate: uuid, consumer: "web", target: files)
                    for _ in 0..<300 where !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(100)) }
                    #expect(FileManager.default.fileExists(atPath: marker), "the reload never started: \(env.processStatus)")
                    victim.signal(SIGKILL)
                    victim.waitForExit()
                    try env.start(["worker", "--lease", "10"])
                    _ = try await Self.waitForDeliveries(client, key: key, uuid, env: env, Self.holds(1))
                    let wanted = try Self.serial(of: fixture)
                    #expect(try await DeliveryEdge.waitForSerial(wanted, port: edge.nginxPort) == wanted)
                    #expect(try await Self.deliveredEvents(env, certificate: uuid) == ["nginx": 1])
                    let rows = try await env.db.query(
                        """
                        SELECT count(*) AS n, max(attempts) AS attempts FROM deliveries WHERE certificate_id = \(UUID(uuidString: uuid)!)
                        """
                    ).first!
                    #expect(try rows.decode(Int.self, "n") == 1)
                    #expect(try rows.decode(Int.self, "attempts") == 2, "the first attempt died with its worker")
                    let reloads = try String(contentsOfFile: marker, encoding: .utf8).split(separator: "\n").count
                    #expect(reloads == 2, "one reload cut short by the kill, one completed")
                }
            }
        }
    }
}
