import AMQP
import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// The defects an attacker holding one tenant's key could use (issue 18), each
/// reproduced against the live API, database and broker: scope escalation, project
/// adoption, SSRF, the scheduler's idempotency namespace, NUL bytes, name and page
/// caps, failed-authentication floods, `/metrics` cost, and secrets in dead letters.
@Suite(.serialized) struct TenantSecurityTests {
    let fixtures = APIFixtures.shared
    static let idempotencyKey = HeaderName("Idempotency-Key")!

    @Test func aKeyGrantsOnlyScopesItHoldsAndOnlySystemCreatesProjects() async throws {
        try await APIEnvironment.with { env in
            let admin = try await env.key(["admin", "certificates:read", "certificates:write"])
            let exporter = try await env.key(["admin", "keys:export"])
            let system = try await env.key(["system"])
            try await env.application().test(.live) { client in
                func mint(_ key: String, _ scopes: String) async throws -> Answer {
                    try await client.call(.post, "/v1/keys", key: key, body: #"{"name":"minted","scopes":\#(scopes)}"#)
                }
                let export = try await mint(admin, #"["keys:export"]"#)
                #expect(export.status == .forbidden && export.errorCode == "scope_not_held", "\(export.text)")
                #expect(try await mint(admin, #"["certificates:read","keys:export"]"#).errorCode == "scope_not_held")
                #expect(try await mint(admin, #"["system"]"#).errorCode == "scope_not_held")
                #expect(try await mint(admin, #"["certificates:read"]"#).status == .created)
                #expect(try await mint(exporter, #"["keys:export"]"#).status == .created)
                // `system` alone is not `admin`: it cannot mint keys of the project.
                #expect(try await mint(system, #"["certificates:read"]"#).errorCode == "missing_scope")

                for key in [admin, exporter] {
                    let refused = try await client.call(.post, "/v1/projects", key: key, body: #"{"name":"squatted"}"#)
                    #expect(refused.status == .forbidden && refused.errorCode == "missing_scope", "\(refused.text)")
                }
                #expect(try await env.db.query("SELECT 1 AS one FROM projects WHERE name = 'squatted'").isEmpty)
                let created = try await client.call(.post, "/v1/projects", key: system, body: #"{"name":"tenant-c"}"#)
                #expect(created.status == .created, "\(created.text)")
            }
        }
    }

    @Test func theUnitSocketNeverAdoptsAProjectItDidNotCreate() async throws {
        try await APIEnvironment.with { env in
            // A tenant got the name first: the socket refuses to manage it.
            _ = try #require(try await Projects.create(env.db, name: "unit-squatted"))
            #expect(try await Projects.unitSocketProject(env.db, name: "unit-squatted") == nil)
            let socket = "/tmp/cf-unit-\(UUID().uuidString.prefix(8)).sock"
            defer { try? FileManager.default.removeItem(atPath: socket) }
            var configuration = APIConfiguration(port: 0)
            configuration.unitSocketPath = socket
            configuration.unitSocketProject = "unit-squatted"
            try await env.application(configuration).test(.live) { _ in
                for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(50)) }
                let output = try await TestStack.run(
                    "/usr/bin/curl", ["-s", "-w", "\n%{http_code}", "--unix-socket", socket, "http://localhost/certificates"])
                #expect(output.hasSuffix("403"), "\(output)")
                #expect(output.contains("unit_socket_project_taken"), "\(output)")
            }
            // A name nobody holds is created for the socket, and found again.
            let fresh = try #require(try await Projects.unitSocketProject(env.db, name: "unit-fresh"))
            #expect(try await Projects.unitSocketProject(env.db, name: "unit-fresh") == fresh)
        }
    }

    @Test func issuanceIsLimitedToZonesTheProjectVerified() async throws {
        try await APIEnvironment.with { env in
            let admin = try await env.key(["admin"])
            let stranger = try await env.key(["admin"], project: env.otherProject)
            let system = try await env.key(["system"])
            let zone = "owned-\(UUID().uuidString.prefix(8).lowercased()).test"
            try await env.application(domainPolicy: .enforce).test(.live) { client in
                func issue(_ key: String, _ names: [String]) async throws -> Answer {
                    try await client.call(
                        .post, "/v1/certificates", key: key,
                        body: JSONValue.object([("domains", .strings(names)), ("challenge", .string("dns-01"))]).serialized())
                }
                let unowned = try await issue(admin, ["www.\(zone)"])
                #expect(unowned.status == .forbidden && unowned.errorCode == "domain_not_owned", "\(unowned.text)")

                // Claim, fail to verify without the record, publish it, verify.
                let claimed = try await client.call(.post, "/v1/domains", key: admin, body: #"{"zone":"\#(zone.uppercased())."}"#)
                #expect(claimed.status == .created, "\(claimed.text)")
                let claim = try #require(claimed.json?["data"]?["domains"]?.arrayValue.first)
                #expect(claim["state"]?.stringValue == "pending" && claim["zone"]?.stringValue == zone)
                let record = try #require(claim["verification"]?["name"]?.stringValue)
                let token = try #require(claim["verification"]?["value"]?.stringValue)
                #expect(record == "_certfleet-challenge.\(zone)")
                let early = try await client.call(.post, "/v1/domains/\(zone)/verify", key: admin)
                #expect(early.status == .unprocessableContent && early.errorCode == "domain_verification_failed", "\(early.text)")
                try await Self.publishTXT(record, token)
                let verified = try await client.call(.post, "/v1/domains/\(zone)/verify", key: admin)
                #expect(verified.json?["data"]?["domains"]?.arrayValue.first?["state"]?.stringValue == "verified", "\(verified.text)")

                #expect(try await issue(admin, [zone, "*.\(zone)", "a.b.\(zone)"]).status == .accepted)
                #expect(try await issue(admin, [zone, "elsewhere.test"]).errorCode == "domain_not_owned")

                // Another project can neither claim the zone (nor one inside it) nor issue in it.
                for taken in [zone, "sub.\(zone)"] {
                    let refused = try await client.call(.post, "/v1/domains", key: stranger, body: #"{"zone":"\#(taken)"}"#)
                    #expect(refused.status == .conflict && refused.errorCode == "zone_owned_elsewhere", "\(refused.text)")
                }
                #expect(try await issue(stranger, ["x.\(zone)"]).errorCode == "domain_not_owned")
                let listed = try await client.call(.get, "/v1/domains", key: stranger)
                #expect(listed.json?["data"]?["domains"]?.arrayValue.isEmpty == true, "\(listed.text)")

                // Only the system scope reassigns: the closer zone then decides.
                let forged = try await client.call(.post, "/v1/domains", key: admin, body: #"{"zone":"shop.\#(zone)","verified":true}"#)
                #expect(forged.errorCode == "missing_scope")
                let assigned = try await client.call(
                    .post, "/v1/domains", key: system,
                    body: #"{"zone":"shop.\#(zone)","verified":true,"project":"other"}"#)
                #expect(assigned.status == .created, "\(assigned.text)")
                #expect(try await issue(stranger, ["www.shop.\(zone)"]).status == .accepted)
                #expect(try await issue(admin, ["www.shop.\(zone)"]).errorCode == "domain_not_owned")
                #expect(try await client.call(.delete, "/v1/domains/shop.\(zone)", key: admin).status == .notFound)
            }
        }
    }

    /// A TXT record in the stack's DNS (challtestsrv), which the API's resolver asks.
    static func publishTXT(_ name: String, _ value: String) async throws {
        let url = TestStack.env("CERTFLEET_CHALLTESTSRV_URL", default: "http://127.0.0.1:8055")
        _ = try await TestStack.run(
            "/usr/bin/curl",
            [
                "-sf", "-X", "POST", "-d", JSONValue.object([("host", .string(name + ".")), ("value", .string(value))]).serialized(),
                "\(url)/set-txt",
            ])
    }

    @Test func acmeDirectoriesOutsideTheAllowListAreRefusedWithoutAFetch() async throws {
        let env = try await APIEnvironment()
        let listener = try LoopbackListener()
        do {
            let writer = try await env.key(["certificates:read", "certificates:write"])
            try await env.application().test(.live) { client in
                for url in [
                    "http://127.0.0.1:\(listener.port)/dir", "https://169.254.169.254/latest/meta-data/",
                    "http://localhost:\(listener.port)/directory",
                ] {
                    let refused = try await client.call(
                        .post, "/v1/acme/accounts", key: writer,
                        body: JSONValue.object([("name", .string("probe")), ("directory_url", .string(url))]).serialized())
                    #expect(refused.status == .unprocessableContent, "\(refused.text)")
                    #expect(refused.errorCode == "acme_directory_not_allowed", "\(refused.text)")
                }
            }
            #expect(listener.pendingConnection() == false, "the API connected to a directory it does not allow")
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    @Test func clientIdempotencyKeysCannotReplayTheSchedulersOrAnotherKindsJob() async throws {
        try await APIEnvironment.with { env in
            let writer = try await env.key(["certificates:read", "certificates:write"])
            try await env.application().test(.live) { client in
                let uploaded = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(name: "keyed"))
                let id = try #require(uploaded.first?["uuid"]?.stringValue)
                for reserved in ["renew:\(id):1", "RENEW:\(id):2", "certfleet:anything"] {
                    let refused = try await client.call(
                        .post, "/v1/certificates", key: writer, body: fixtures.body(),
                        headers: [Self.idempotencyKey: reserved])
                    #expect(refused.status == .badRequest && refused.errorCode == "idempotency_key_invalid", "\(refused.text)")
                }
                let long = try await client.call(
                    .post, "/v1/certificates", key: writer, body: fixtures.body(),
                    headers: [Self.idempotencyKey: String(repeating: "k", count: 201)])
                #expect(long.errorCode == "idempotency_key_invalid")

                // A key that named an upload is not a replay for a delete of another certificate.
                let first = try await client.call(
                    .post, "/v1/certificates", key: writer, body: fixtures.body(name: "first"),
                    headers: [Self.idempotencyKey: "client-key-1"])
                #expect(first.status == .accepted, "\(first.text)")
                let reused = try await client.call(
                    .delete, "/v1/certificates/keyed", key: writer,
                    headers: [Self.idempotencyKey: "client-key-1"])
                #expect(reused.status == .unprocessableContent && reused.errorCode == "idempotency_key_reused", "\(reused.text)")
                let replay = try await client.call(
                    .post, "/v1/certificates", key: writer, body: fixtures.body(name: "first"),
                    headers: [Self.idempotencyKey: "client-key-1"])
                #expect(replay.first?["job"] == first.first?["job"])
            }
        }
    }

    @Test func nulCharactersAreRefusedNamingTheFieldNeverTruncated() async throws {
        try await APIEnvironment.with { env in
            // The wrapper refuses a text parameter it would otherwise cut at the NUL.
            await #expect(throws: PostgresError.self) { try await env.db.query("SELECT \("before\u{0}after")::text AS t") }
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let made = try SelfSignedFixture.make(subject: "/CN=nulXhost.example.com", sans: "DNS:ok.example.com")
            let poisoned = try Self.replacingInDER(made.chain, Array("nulXhost".utf8), with: Array("nul\u{0}host".utf8))
            try await env.application().test(.live) { client in
                let body = JSONValue.object([("chain", .string(poisoned)), ("pkey", .string(made.key))]).serialized()
                let refused = try await client.call(.post, "/v1/certificates", key: writer, body: body)
                #expect(refused.status == .unprocessableContent, "\(refused.text)")
                #expect(refused.errorCode == "nul_in_subject_common_name", "\(refused.text)")
            }
            #expect(try await env.db.query("SELECT count(*)::int8 AS n FROM certificates").first!.decode(Int.self, "n") == 0)
        }
    }

    @Test func namesAndPagesAreCapped() async throws {
        try await APIEnvironment.with { env in
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let sans = (0...100).map { "DNS:n\($0).example.com" }.joined(separator: ",")
            let wide = try SelfSignedFixture.make(subject: "/CN=n0.example.com", sans: sans)
            try await env.application().test(.live) { client in
                let upload = JSONValue.object([("chain", .string(wide.chain)), ("pkey", .string(wide.key))]).serialized()
                let refused = try await client.call(.post, "/v1/certificates", key: writer, body: upload)
                #expect(refused.status == .unprocessableContent && refused.errorCode == "too_many_names", "\(refused.text)")
                let domains = JSONValue.object([("domains", .strings((0...100).map { "n\($0).example.com" }))]).serialized()
                #expect(try await client.call(.post, "/v1/certificates", key: writer, body: domains).errorCode == "too_many_names")
                for limit in ["0", "-1", "1001", "99999999999999999999", "ten"] {
                    let page = try await client.call(.get, "/v1/certificates/list?limit=\(limit)", key: writer)
                    #expect(page.status == .badRequest && page.errorCode == "invalid_limit", "limit=\(limit): \(page.text)")
                }
                #expect(try await client.call(.get, "/v1/certificates/list?limit=1000", key: writer).status == .ok)
            }
        }
    }

    @Test func invalidKeysAreLimitedPerAddressAndMetricsAreASnapshot() async throws {
        try await APIEnvironment.with { env in
            let reader = try await env.key(["certificates:read"])
            var configuration = APIConfiguration(port: 0)
            configuration.failedAuthenticationRate = 0.01
            configuration.failedAuthenticationBurst = 5
            configuration.metricsSnapshotInterval = .seconds(3600)
            try await env.application(configuration).test(.live) { client in
                var statuses: [HTTPResponse.Status] = []
                for attempt in 0..<8 {
                    statuses.append(try await client.call(.get, "/v1/certificates/list", key: "cf_guess-\(attempt)").status)
                }
                #expect(statuses == Array(repeating: .unauthorized, count: 5) + Array(repeating: .tooManyRequests, count: 3), "\(statuses)")
                // A missing key costs no query and is not counted.
                #expect(try await client.call(.get, "/v1/certificates/list", key: nil).status == .unauthorized)

                // /metrics needs no key: its database gauges are read once per interval, not per scrape.
                let before = try await client.call(.get, "/metrics", key: nil)
                #expect(before.text.contains(#"certfleet_certificates_expiring{within_days="30"} 0"#), "\(before.text)")
                try await env.db.query(
                    """
                    INSERT INTO certificates (project_id, name, common_name, sans, source, state, usage)
                    VALUES (\(env.project), 'counted', 'c.example.com', ARRAY['c.example.com'], 'uploaded', 'pending', 'server')
                    """)
                let after = try await client.call(.get, "/metrics", key: nil)
                #expect(!after.text.contains(#"certfleet_certificates{state="pending"} 1"#), "a scrape read the table again")
                _ = reader
            }
            // Optionally off the public listener: only on the metrics port.
            let port = TestStack.freePort()
            var separate = APIConfiguration(port: 0)
            separate.metricsPort = port
            try await env.application(separate).test(.live) { client in
                #expect(try await client.call(.get, "/metrics", key: nil).status == .notFound)
                var text = ""
                for _ in 0..<100 where !text.contains("certfleet_http_requests_total") {
                    text = (try? await TestStack.run("/usr/bin/curl", ["-sf", "http://127.0.0.1:\(port)/metrics"])) ?? ""
                    if !text.contains("certfleet_http_requests_total") { try await Task.sleep(for: .milliseconds(50)) }
                }
                // The main port's 404 for /metrics, counted and shown on the metrics port.
                #expect(text.contains(#"method="GET",status="404"} 1"#), "\(text)")
            }
        }
    }

    @Test(.timeLimit(.minutes(5))) func malformedIntakeRequestsAreDeadLetteredWithoutSecrets() async throws {
        let env = try await APIEnvironment()
        try env.start(["api", "--port", "\(TestStack.freePort())"])
        let writer = try await env.key(["certificates:write", "certificates:read"])
        let replies = try await MessageTap(env.services, exchange: nil, name: "replies")
        func publish(_ body: String, key: String?, messageID: String?, correlation: String) async throws {
            var headers: [String: AMQPFieldValue] = [:]
            if let key { headers["authorization"] = .string("Bearer \(key)") }
            try await env.amqp.publish(
                AMQPMessage(
                    body,
                    properties: AMQPProperties(
                        contentType: "application/json", headers: headers, correlationID: correlation,
                        replyTo: replies.queue, messageID: messageID)),
                exchange: env.topology.requestsExchange, routingKey: "certificates")
        }
        let secretBody = JSONValue.object([
            ("type", .string("launch")), ("chain", .string(fixtures.chain)), ("pkey", .string(fixtures.key)),
            ("note", .string(writer)),
        ]).serialized()
        try await publish(secretBody, key: writer, messageID: nil, correlation: "m-secret")
        try await publish(secretBody, key: nil, messageID: nil, correlation: "m-anonymous")
        let upload = JSONValue.object([("type", .string("upload")), ("chain", .string(fixtures.chain)), ("pkey", .string(fixtures.key))]).serialized()
        try await publish(upload, key: writer, messageID: String(repeating: "m", count: 201), correlation: "m-long-id")
        try await publish(upload, key: writer, messageID: "renew:\(UUID().uuidString.lowercased()):1", correlation: "m-reserved")

        for correlation in ["m-long-id", "m-reserved"] {
            let reply = try #require(try await RequestIntakeTests.reply(replies, correlation), "no reply for \(correlation)")
            #expect(RequestIntakeTests.errorCode(reply.body) == "idempotency_key_invalid", "\(correlation): \(reply.body)")
        }
        #expect(try await env.db.query("SELECT count(*)::int8 AS n FROM jobs").first!.decode(Int.self, "n") == 0)

        // The two malformed requests: wait until both copies are in the queue, then read them.
        let deadline = ContinuousClock.now + .seconds(60)
        while try await env.amqp.queueStatus(env.topology.requestsDeadLetterQueue).messages < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        var copies: [String] = []
        if try await env.amqp.queueStatus(env.topology.requestsDeadLetterQueue).messages >= 2 {
            let consumer = try await env.amqp.consume(queue: env.topology.requestsDeadLetterQueue)
            var deliveries = consumer.makeAsyncIterator()
            for _ in 0..<2 {
                guard let delivery = try await deliveries.next() else { break }
                copies.append(String(decoding: delivery.body, as: UTF8.self))
                try await consumer.ack(delivery)
            }
            try await consumer.cancel()
        }
        #expect(copies.count == 2, "\(copies)")
        for copy in copies {
            #expect(!copy.contains("PRIVATE KEY") && !copy.contains("cf_"), "secret in a dead letter: \(copy)")
            #expect(copy.contains("\"reason\""))
        }
        #expect(try await env.amqp.queueStatus(env.topology.deadLetterQueue).messages == 0)
        await replies.close()
        await env.tearDown()
    }

    /// PEM CHAIN with every occurrence of PATTERN in its DER replaced by REPLACEMENT (same length).
    static func replacingInDER(_ chain: String, _ pattern: [UInt8], with replacement: [UInt8]) throws -> String {
        let base64 = chain.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        var der = try #require(Data(base64Encoded: base64).map(Array.init))
        var index = 0
        while index + pattern.count <= der.count {
            if Array(der[index..<index + pattern.count]) == pattern { der.replaceSubrange(index..<index + pattern.count, with: replacement) }
            index += 1
        }
        let lines = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(lines)\n-----END CERTIFICATE-----\n"
    }
}

struct ListenFailed: Error { let errno: Int32 }

/// A TCP port on 127.0.0.1 that accepts connections into its backlog and never answers:
/// whether anyone connected tells whether a request left the server.
final class LoopbackListener: @unchecked Sendable {
    // @unchecked: the descriptor is only read after init.
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound, listen(fd, 16) == 0 else {
            close(fd)
            throw ListenFailed(errno: errno)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// True when a connection waits to be accepted.
    func pendingConnection() -> Bool {
        let client = accept(descriptor, nil, nil)
        if client >= 0 { close(client); return true }
        return false
    }
}
