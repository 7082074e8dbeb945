import ACME
import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import ServiceTestSupport
import TestSupport
import Testing

/// Against acme2certifier, the second real ACME server of the local stack (Pebble 2.4 has
/// neither ARI nor profiles): a profile the CA does not offer is refused before any order,
/// an offered one is honoured and shown, the scheduler polls the CA's renewal window (ARI)
/// and moves renew_at into it, and a renewal of the certificate is issued by the same CA.
@Suite(.serialized) struct SecondCATests {
    @Test(.timeLimit(.minutes(5))) func profilesAndRenewalWindowsFromASecondCA() async throws {
        let env = try await APIEnvironment()
        // ARI window: from 10% of the lifetime, one day long (earlier than the default 2/3).
        let ca = try await PrivateACME2Certifier.start(
            "a2c",
            environment: [
                "CERTFLEET_A2C_PROFILES": #"{"classic": "90 days", "shortlived": "the short one"}"#,
                "CERTFLEET_A2C_RENEWAL_THRESHOLD": "10", "CERTFLEET_A2C_RENEWAL_WINDOW": "86400", "CERTFLEET_A2C_RETRY_AFTER": "3600",
            ])
        do {
            let key = try await env.key(["certificates:read", "certificates:write"])
            let workerEnvironment = ca.certfleetEnvironment.merging(["CERTFLEET_RENEWAL_INTERVAL": "1"]) { $1 }
            try env.services.start(
                ["api", "--port", String(TestStack.freePort()), "--acme-http-port", String(ca.httpPort)],
                log: env.directory.appendingPathComponent("api-replica.log"))
            try env.services.start(["worker"], log: env.directory.appendingPathComponent("worker.log"), environment: workerEnvironment)
            try env.services.start(
                ["scheduler", "--reap-interval", "1"], log: env.directory.appendingPathComponent("scheduler.log"),
                environment: workerEnvironment)
            let settings = ACMESettings(defaultDirectoryURL: ca.directoryURL, trustedCAFile: ca.caFile, domainPolicy: .off)
            let app = buildApplication(
                configuration: APIConfiguration(port: 0, readRate: 0, writeRate: 0),
                dependencies: APIDependencies(
                    db: env.db, sealer: env.sealer, amqp: env.amqp, topology: env.topology,
                    logger: .init(label: "test.api"), acme: settings))
            try await app.test(.live) { client in
                // acme2certifier wants a contact on every account: register the project's default account with one.
                let account = try await client.call(.post, "/v1/acme/accounts", key: key, body: #"{"email":"ops@certfleet-test.com"}"#)
                #expect(account.status == .created, "\(account.text)")
                let name = "a2c-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
                let refused = try await client.call(
                    .post, "/v1/certificates", key: key,
                    body: #"{"domains":["\#(name)"],"challenge":"http-01","profile":"tlsserver"}"#)
                #expect(refused.status == .unprocessableContent && refused.errorCode == "profile_not_offered", "\(refused.text)")
                #expect(refused.json?["error"]?["details"]?["offered"]?.arrayValue.compactMap(\.stringValue) == ["classic", "shortlived"])

                let issued = try await client.call(
                    .post, "/v1/certificates", key: key,
                    body: #"{"domains":["\#(name)"],"challenge":"http-01","profile":"shortlived"}"#)
                #expect(issued.status == .accepted, "\(issued.text)")
                let uuid = try #require(issued.first?["uuid"]?.stringValue)
                let valid = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env) {
                    $0["state"]?.stringValue == "valid" && $0["renewal_info"] != .null && $0["renewal_info"] != nil
                }
                #expect(valid["profile"]?.stringValue == "shortlived")
                let window = try #require(valid["renewal_info"])
                let start = try #require(window["window_start"]?.stringValue.flatMap(RFC3339Date.parse))
                let end = try #require(window["window_end"]?.stringValue.flatMap(RFC3339Date.parse))
                let renewAt = try #require(valid["renew_at"]?.stringValue.flatMap(RFC3339Date.parse))
                let notAfter = try #require(valid["not_after"]?.stringValue.flatMap(RFC3339Date.parse))
                #expect(end.timeIntervalSince(start) <= 86400 + 1)
                #expect(renewAt >= start && renewAt <= end, "renew_at \(renewAt) outside the CA's window \(start)–\(end)")
                #expect(renewAt < notAfter.addingTimeInterval(-30 * 86400))

                // A forced renewal (sent with `replaces`) is issued by the same CA.
                #expect(try await client.call(.post, "/v1/certificates/\(uuid)/renew", key: key).status == .accepted)
                let renewed = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env) {
                    $0["state"]?.stringValue == "valid" && ($0["version"]?.intValue ?? 0) > (valid["version"]?.intValue ?? 0)
                        && $0["serial_number"] != valid["serial_number"]
                }
                #expect(renewed["profile"]?.stringValue == "shortlived")
            }
        } catch {
            await env.tearDown()
            await ca.stop()
            throw error
        }
        await env.tearDown()
        await ca.stop()
    }
}

extension SecondCATests {
    /// A project with [Pebble, acme2certifier] as its CA chain: with Pebble down, the issue job
    /// moves to the second CA and the certificate and its `issued` event name the CA that issued.
    @Test(.timeLimit(.minutes(5))) func aProjectWithTwoCAsIsIssuedByTheSecondWhenTheFirstIsDown() async throws {
        let env = try await APIEnvironment()
        let pebble = try await PrivatePebble.start("chain-pebble", httpPort: TestStack.freePort(), environment: [:])
        let ca = try await PrivateACME2Certifier.start("chain-a2c")
        do {
            // One trust file for both CAs' HTTPS.
            let bundle = env.directory.appendingPathComponent("cas.pem")
            try (try String(contentsOfFile: pebble.caFile, encoding: .utf8) + (try String(contentsOfFile: ca.caFile, encoding: .utf8)))
                .write(to: bundle, atomically: true, encoding: .utf8)
            let key = try await env.key(["certificates:read", "certificates:write"])
            let workerEnvironment = [
                "CERTFLEET_ACME_DIRECTORY_URL": pebble.directoryURL, "CERTFLEET_ACME_CA_FILE": bundle.path,
                "CERTFLEET_CHALLTESTSRV_URL": "", "CERTFLEET_DNS01_PROVIDER": "none",
            ]
            try env.services.start(
                ["api", "--port", String(TestStack.freePort()), "--acme-http-port", String(ca.httpPort)],
                log: env.directory.appendingPathComponent("api-replica.log"))
            try env.services.start(["worker"], log: env.directory.appendingPathComponent("worker.log"), environment: workerEnvironment)
            try env.services.start(
                ["scheduler", "--reap-interval", "1"], log: env.directory.appendingPathComponent("scheduler.log"),
                environment: workerEnvironment)
            let settings = ACMESettings(
                defaultDirectoryURL: pebble.directoryURL, trustedCAFile: bundle.path,
                allowedDirectories: [ca.directoryURL], domainPolicy: .off)
            let app = buildApplication(
                configuration: APIConfiguration(port: 0, readRate: 0, writeRate: 0),
                dependencies: APIDependencies(
                    db: env.db, sealer: env.sealer, amqp: env.amqp, topology: env.topology,
                    logger: .init(label: "test.api"), acme: settings))
            try await app.test(.live) { client in
                let primary = try await client.call(.post, "/v1/acme/accounts", key: key, body: #"{"name":"primary","fallback_order":1}"#)
                #expect(primary.status == .created, "\(primary.text)")
                let second = try await client.call(
                    .post, "/v1/acme/accounts", key: key,
                    body: JSONValue.object([
                        ("name", .string("second")), ("directory_url", .string(ca.directoryURL)), ("email", .string("ops@certfleet-test.com")),
                        ("fallback_order", .int(2)),
                    ]).serialized())
                #expect(second.status == .created, "\(second.text)")
                let taken = try await client.call(.post, "/v1/acme/accounts", key: key, body: #"{"name":"third","fallback_order":2}"#)
                #expect(taken.status == .conflict && taken.errorCode == "fallback_order_taken", "\(taken.text)")

                await pebble.stop()
                let name = "chain-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
                let issued = try await client.call(.post, "/v1/certificates", key: key, body: #"{"domains":["\#(name)"],"challenge":"http-01"}"#)
                #expect(issued.status == .accepted, "\(issued.text)")
                let uuid = try #require(issued.first?["uuid"]?.stringValue)
                let valid = try await ACMEIssuanceTests.poll(client, key: key, uuid, environment: env) { $0["state"]?.stringValue == "valid" }
                #expect(valid["ca"]?["account"]?.stringValue == "second", "\(valid)")
                #expect(valid["ca"]?["directory_url"]?.stringValue == ca.directoryURL)
                let event =
                    try await env.db.query(
                        """
                        SELECT body::text AS body FROM outbox WHERE body->>'type' = 'io.certfleet.certificate.issued' AND body->>'subject' = \(uuid)
                        """
                    ).first?.decode(String.self, "body") ?? ""
                #expect((try? JSONValue.parse(event))?["data"]?["ca"]?.stringValue == ca.directoryURL, "\(event)")
                try await MessageSchemas.validate([event], against: "certificate-event.v1.schema.json")
            }
        } catch {
            await env.tearDown()
            await pebble.stop()
            await ca.stop()
            throw error
        }
        await env.tearDown()
        await ca.stop()
    }
}

/// RFC 3339 text → Date (the API's timestamps).
enum RFC3339Date {
    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }
}
