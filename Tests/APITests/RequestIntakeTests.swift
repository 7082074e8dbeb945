import AMQP
import API
import Foundation
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// The AMQP door: requests published to `certfleet.requests` are answered on `reply_to`
/// by a real `certfleet api` process, with the HTTP API's bodies and codes; redacted
/// copies of malformed requests end in `certfleet.requests.dead`. Requests and replies match their JSON Schemas.
@Suite("AMQP request intake", .serialized)
struct RequestIntakeTests {
    let fixtures = APIFixtures.shared

    func publish(_ env: APIEnvironment, _ body: String, key: String?, messageID: String?, correlation: String, replyTo: String?) async throws {
        var headers: [String: AMQPFieldValue] = [:]
        if let key { headers["authorization"] = .string("Bearer \(key)") }
        try await env.amqp.publish(
            AMQPMessage(
                body,
                properties: AMQPProperties(
                    contentType: "application/json", headers: headers, correlationID: correlation,
                    replyTo: replyTo, messageID: messageID)),
            exchange: env.topology.requestsExchange, routingKey: "certificates")
    }

    /// The reply carrying CORRELATION (60 s at most).
    static func reply(_ replies: MessageTap, _ correlation: String) async throws -> (body: String, properties: AMQPProperties)? {
        _ = try await replies.waitFor { $0.contains { $0.properties.correlationID == correlation } }
        return await replies.messages.first { $0.properties.correlationID == correlation }.map { ($0.body, $0.properties) }
    }

    static func object(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    static func firstCertificate(_ text: String) -> [String: Any] {
        ((object(text)["data"] as? [String: Any])?["certificates"] as? [[String: Any]])?.first ?? [:]
    }

    static func errorCode(_ text: String) -> String? {
        (object(text)["error"] as? [String: Any])?["code"] as? String
    }

    @Test(.timeLimit(.minutes(5))) func requestsGetTheirRepliesAndMalformedOnesAreDeadLettered() async throws {
        let env = try await APIEnvironment()
        try env.start(["api", "--port", "\(TestStack.freePort())"])
        try env.start(["worker", "--queues", "validate,delete"])
        let writer = try await env.key(["certificates:write", "certificates:read"])
        let reader = try await env.key(["certificates:read"])
        let replies = try await MessageTap(env.services, exchange: nil, name: "replies")
        let replyQueue = replies.queue
        var requests: [String] = []
        var answers: [String] = []

        // Upload: the reply is the HTTP 202 body; the certificate becomes valid.
        let upload = JSONValue.object([
            ("type", .string("upload")), ("name", .string("from-amqp")),
            ("chain", .string(fixtures.chain)), ("pkey", .string(fixtures.key)),
        ]).serialized()
        requests.append(upload)
        try await publish(env, upload, key: writer, messageID: "upload-1", correlation: "c-upload", replyTo: replyQueue)
        let uploaded = try #require(try await Self.reply(replies, "c-upload"), "no reply; processes: \(env.processStatus)")
        answers.append(uploaded.body)
        let certificate = Self.firstCertificate(uploaded.body)
        #expect(Self.object(uploaded.body)["status"] as? String == "success")
        #expect(certificate["name"] as? String == "from-amqp")
        let job = try #require(certificate["job"] as? String)
        let id = try #require((certificate["uuid"] as? String).flatMap(UUID.init(uuidString:)))
        let deadline = ContinuousClock.now + .seconds(60)
        var state = ""
        while ContinuousClock.now < deadline {
            state = try await env.db.query("SELECT state FROM certificates WHERE id = \(id)").first!.decode(String.self, "state")
            if state == "valid" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(state == "valid")

        // The same message_id is the same job (idempotency key).
        try await publish(env, upload, key: writer, messageID: "upload-1", correlation: "c-again", replyTo: replyQueue)
        let again = try #require(try await Self.reply(replies, "c-again"))
        answers.append(again.body)
        #expect(Self.firstCertificate(again.body)["job"] as? String == job)

        // Typed errors with the HTTP API's codes.
        let delete = JSONValue.object([("type", .string("delete")), ("name", .string("from-amqp"))]).serialized()
        let deleteMissing = JSONValue.object([("type", .string("delete")), ("name", .string("no-such-certificate"))]).serialized()
        requests += [delete, deleteMissing]
        try await publish(env, delete, key: reader, messageID: nil, correlation: "c-scope", replyTo: replyQueue)
        try await publish(env, delete, key: "cf_not-a-real-key", messageID: nil, correlation: "c-key", replyTo: replyQueue)
        try await publish(env, deleteMissing, key: writer, messageID: nil, correlation: "c-missing", replyTo: replyQueue)
        try await publish(env, #"{"type":"issue","name":"no-domains"}"#, key: writer, messageID: nil, correlation: "c-issue", replyTo: replyQueue)
        try await publish(
            env, #"{"type":"upload","domains":["x.example.com"]}"#, key: writer, messageID: nil, correlation: "c-upload-domains",
            replyTo: replyQueue)
        for (correlation, code) in [
            ("c-scope", "missing_scope"), ("c-key", "unauthorized"), ("c-missing", "certificate_not_found"),
            ("c-issue", "domains_missing"), ("c-upload-domains", "domains_not_allowed"),
        ] {
            let reply = try #require(try await Self.reply(replies, correlation), "no reply for \(correlation)")
            answers.append(reply.body)
            #expect(Self.errorCode(reply.body) == code, "\(correlation): \(reply.body)")
        }

        // Delete through the door; the reply names the job and the `deleting` state.
        try await publish(env, delete, key: writer, messageID: "delete-1", correlation: "c-delete", replyTo: replyQueue)
        let deleted = try #require(try await Self.reply(replies, "c-delete"))
        answers.append(deleted.body)
        #expect(Self.firstCertificate(deleted.body)["state"] as? String == "deleting")

        // Malformed: not JSON, an unknown type, no authorization → a redacted copy dead-lettered, not answered.
        let jobsDeadBefore = try await env.amqp.queueStatus(env.topology.deadLetterQueue).messages
        let before = try await env.amqp.queueStatus(env.topology.requestsDeadLetterQueue).messages
        try await publish(env, "{not json", key: writer, messageID: nil, correlation: "m-1", replyTo: replyQueue)
        try await publish(env, #"{"type":"launch"}"#, key: writer, messageID: nil, correlation: "m-2", replyTo: replyQueue)
        try await publish(env, delete, key: nil, messageID: nil, correlation: "m-3", replyTo: replyQueue)
        var deadLettered = before
        let dlqDeadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < dlqDeadline {
            deadLettered = try await env.amqp.queueStatus(env.topology.requestsDeadLetterQueue).messages
            if deadLettered >= before + 3 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(deadLettered == before + 3)
        #expect(try await env.amqp.queueStatus(env.topology.deadLetterQueue).messages == jobsDeadBefore)
        #expect(await replies.messages.allSatisfy { !($0.properties.correlationID ?? "").hasPrefix("m-") })
        #expect(try await env.amqp.queueStatus(env.topology.requestsQueue).messages == 0)

        try await MessageSchemas.validate(requests, against: "request.v1.schema.json")
        try await MessageSchemas.validate(answers, against: "reply.v1.schema.json")
        await replies.close()
        await env.tearDown()
    }
}
