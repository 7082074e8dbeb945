import AMQP
import API
import Foundation
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// Renewal scheduling and the AMQP door end to end against a private Pebble, with real
/// `certfleet api`, `worker` and two `scheduler` processes: a certificate requested over
/// AMQP is issued, becomes due, and is renewed exactly once.
@Suite(.serialized) struct RenewalSchedulingTests {
    @Test(.timeLimit(.minutes(10))) func anIntakeIssuedCertificateDueForRenewalIsRenewedOnceWithTwoSchedulers() async throws {
        let env = try await APIEnvironment()
        try await TestStack.using(
            try await PrivatePebble.start("renewal", httpPort: TestStack.freePort(), environment: [:]), tearDown: { await $0.stop() }
        ) { pebble in
            let services = env.services
            func start(_ arguments: [String], _ name: String) throws {
                try services.start(arguments, log: env.directory.appendingPathComponent("\(name).log"), environment: pebble.certfleetEnvironment)
            }
            let events = try await MessageTap(services, exchange: env.topology.eventsExchange, bindingKey: "certificate.#", name: "events")
            let replies = try await MessageTap(services, exchange: nil, name: "replies")
            do {
                // The API process answers Pebble's http-01 checks and consumes certfleet.requests.
                try start(["api", "--port", "\(TestStack.freePort())", "--acme-http-port", "\(pebble.httpPort)"], "api")
                try start(["worker"], "worker")
                let key = try await env.key(["certificates:write", "certificates:read"])
                let request = JSONValue.object([
                    ("type", .string("issue")), ("name", .string("renewed")),
                    ("domains", .array([.string("renew.example.com"), .string("www.renew.example.com")])),
                ]).serialized()
                try await env.amqp.publish(
                    AMQPMessage(
                        request,
                        properties: AMQPProperties(
                            headers: ["authorization": .string("Bearer \(key)")], correlationID: "issue-1",
                            replyTo: replies.queue, messageID: "issue-renewed")),
                    exchange: env.topology.requestsExchange, routingKey: "issue")
                #expect(try await replies.waitFor { $0.contains { $0.properties.correlationID == "issue-1" } }, "no reply; \(env.processStatus)")
                let reply = try #require(await replies.messages.first { $0.properties.correlationID == "issue-1" })
                let certificate = try #require(RequestIntakeTests.firstCertificate(reply.body)["uuid"] as? String).flatMap(UUID.init(uuidString:))
                let id = try #require(certificate)
                func row() async throws -> (state: String, version: Int?) {
                    let row = try await env.db.query("SELECT state, current_version FROM certificates WHERE id = \(id)").first!
                    return (try row.decode(String.self, "state"), try row.decode(Int?.self, "current_version"))
                }
                func waitFor(_ condition: ((state: String, version: Int?)) -> Bool) async throws -> Bool {
                    let deadline = ContinuousClock.now + .seconds(240)
                    while ContinuousClock.now < deadline {
                        if condition(try await row()) { return true }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    return false
                }
                let issued = try await waitFor { $0.state == "valid" && $0.version == 1 }
                let afterIssue = try await row()
                #expect(issued, "not issued: \(afterIssue); \(env.processStatus)")

                // Due now: Pebble's certificates live five years, renew_before says six (what
                // PATCH renew_before does). The new version falls back to 2/3 of its lifetime.
                try await Certificates.setRenewBefore(env.db, project: env.project, reference: id.uuidString, seconds: 6 * 366 * 86400, actor: "test")
                for index in 0..<2 { try start(["scheduler", "--renewal-interval", "1", "--reap-interval", "1"], "scheduler-\(index)") }
                let renewed = try await waitFor { $0.state == "valid" && $0.version == 2 }
                let afterRenewal = try await row()
                #expect(renewed, "not renewed: \(afterRenewal); \(env.processStatus)")
                // Both schedulers keep scanning every second; give them rounds to repeat themselves.
                try await Task.sleep(for: .seconds(4))
                let renewJobs = try await env.db.query("SELECT idempotency_key, state FROM jobs WHERE certificate_id = \(id) AND kind = 'renew'")
                    .map { (try $0.decode(String?.self, "idempotency_key"), try $0.decode(String.self, "state")) }
                #expect(renewJobs.count == 1)
                #expect(renewJobs.first?.0 == "renew:\(id.uuidString.lowercased()):1")
                #expect(renewJobs.first?.1 == "succeeded")
                #expect(try await row().version == 2)
                #expect(
                    try await env.db.query("SELECT count(*) AS n FROM certificate_versions WHERE certificate_id = \(id)").first!.decode(Int.self, "n")
                        == 2)
                #expect(try pebble.ordersCreated() == 2)
                #expect(try await events.waitFor { $0.contains { $0.routingKey == "certificate.renewed" } })

                // Revoke through the door as well: the certificate ends `revoked`.
                let revoke = JSONValue.object([
                    ("type", .string("revoke")), ("uuid", .string(id.uuidString.lowercased())),
                    ("reason", .string("superseded")),
                ]).serialized()
                try await env.amqp.publish(
                    AMQPMessage(
                        revoke,
                        properties: AMQPProperties(
                            headers: ["authorization": .string("Bearer \(key)")], correlationID: "revoke-1",
                            replyTo: replies.queue, messageID: "revoke-renewed")),
                    exchange: env.topology.requestsExchange, routingKey: "revoke")
                #expect(try await events.waitFor { $0.contains { $0.routingKey == "certificate.revoked" } }, "\(env.processStatus)")
                #expect(try await row().state == "revoked")
                let received = await events.messages
                #expect(received.filter { $0.routingKey == "certificate.issued" }.count == 1)
                #expect(received.filter { $0.routingKey == "certificate.renewed" }.count == 1)
                try await MessageSchemas.validate(received.map(\.body), against: "certificate-event.v1.schema.json")
                try await MessageSchemas.validate([request, revoke], against: "request.v1.schema.json")
                try await MessageSchemas.validate(await replies.messages.map(\.body), against: "reply.v1.schema.json")
            } catch {
                await events.close()
                await replies.close()
                await env.tearDown()
                throw error
            }
            await events.close()
            await replies.close()
            await env.tearDown()
        }
    }
}
