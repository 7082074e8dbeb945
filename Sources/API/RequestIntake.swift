import AMQP
import Foundation
import HTTPTypes
import Logging
import Messaging
import ServiceLifecycle
import Store
import Telemetry

/// The AMQP door: automation publishes the HTTP API's write requests as JSON to
/// `certfleet.requests` and gets the HTTP answer's body back on `reply_to`.
///
/// A request is `{"type": "issue"|"upload"|"renew"|"delete"|"revoke", …the HTTP body's
/// fields…}` (delete, renew and revoke name the certificate with `uuid` or `name`), with
/// the API key in the `authorization` header (`Bearer cf_…` or the bare key; it decides
/// the project and scopes exactly as over HTTP) and the idempotency key in `message_id`.
/// The reply carries the request's `correlation_id` and is `{"status":"success","data":…}`
/// or `{"status":"error","message":…,"error":{"code":…,"message":…,"details":{…}}}` with
/// the HTTP API's codes. Requests go through the same controller functions as HTTP.
///
/// The key is checked before the body is parsed, the body is capped like an HTTP body,
/// and each key has the HTTP write rate limit. Malformed messages (no `authorization`,
/// not a JSON object, unknown `type`) are not answered: a redacted copy (no private key,
/// no credentials) goes to `certfleet.requests.dead` and the original is dropped. A
/// request runs at most once per delivery: when its reply cannot be published it is
/// still acknowledged (with `message_id`, sending it again returns the same job).
public final class RequestIntake: Service, Sendable {
    /// Request types, also the `type` field's values.
    public enum RequestType: String, Sendable, CaseIterable {
        case issue, upload, renew, delete, revoke
    }

    let dependencies: APIDependencies
    let requests: CertificateRequests
    let logger: Logger
    let prefetch: UInt16
    let bodyLimit: Int
    let keys: KeyCache
    let limiter: RateLimiter

    public init(dependencies: APIDependencies, configuration: APIConfiguration = APIConfiguration(), prefetch: UInt16 = 8, logger: Logger) {
        self.dependencies = dependencies
        self.requests = CertificateRequests(dependencies: dependencies)
        self.prefetch = prefetch
        self.logger = logger
        self.bodyLimit = configuration.bodyLimit
        self.keys = KeyCache(db: dependencies.db)
        // Every intake request is a write: the HTTP write limit applies per key.
        self.limiter = RateLimiter(
            reads: .init(rate: configuration.writeRate, burst: configuration.writeBurst),
            writes: .init(rate: configuration.writeRate, burst: configuration.writeBurst))
    }

    public func run() async throws {
        let slot = ConsumerSlot()
        try await withGracefulShutdownHandler {
            // A consumer the broker cancelled (queue deleted, failover) is started again:
            // the intake ends only with the process.
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                do {
                    let consumer = try await dependencies.amqp.consume(queue: dependencies.topology.requestsQueue, prefetch: prefetch)
                    await slot.set(consumer)
                    logger.info("request intake started", metadata: ["queue": "\(dependencies.topology.requestsQueue)"])
                    try await drain(consumer)
                } catch {
                    logger.warning("request intake consumer ended; restarting", metadata: ["error": "\(error)"])
                }
                if Task.isShuttingDownGracefully { break }
                try? await Task.sleep(for: .seconds(1))
            }
        } onGracefulShutdown: {
            Task { await slot.cancel() }
        }
        logger.info("request intake stopped")
    }

    /// Handles deliveries concurrently (prefetch bounds them) until the consumer ends.
    private func drain(_ consumer: AMQPConsumer) async throws {
        try await withThrowingTaskGroup(of: Void.self) { inFlight in
            for try await delivery in consumer {
                inFlight.addTask { await self.process(delivery, from: consumer) }
            }
            try await inFlight.waitForAll()
        }
    }

    /// The current consumer, so a graceful shutdown can cancel it.
    actor ConsumerSlot {
        private var consumer: AMQPConsumer?
        private var cancelled = false
        func set(_ consumer: AMQPConsumer) async {
            self.consumer = consumer
            if cancelled { try? await consumer.cancel() }
        }
        func cancel() async {
            cancelled = true
            try? await consumer?.cancel()
        }
    }

    /// Why a message is dead-lettered instead of answered.
    struct Malformed: Error { let reason: String }

    /// Handles one request in a consumer span that continues the trace of the request's
    /// `traceparent` header (a new trace without one); the job it submits continues it.
    func process(_ delivery: AMQPDelivery, from consumer: AMQPConsumer) async {
        let parent = TraceHeaders.context(from: delivery.headers.compactMapValues(\.stringValue))
        await withSpan("request intake", context: parent, ofKind: .consumer) { span in
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.destination.name"] = dependencies.topology.requestsQueue
            if let id = delivery.messageID { span.attributes["messaging.message.id"] = String(id.prefix(200)) }
            await handleTraced(delivery, from: consumer)
        }
    }

    private func handleTraced(_ delivery: AMQPDelivery, from consumer: AMQPConsumer) async {
        var log = logger
        log[metadataKey: "message_id"] = "\(delivery.messageID ?? "-")"
        let answer: JSONValue
        do {
            answer = try await handle(delivery, logger: log)
        } catch let malformed as Malformed {
            log.warning("malformed request dead-lettered (redacted)", metadata: ["reason": "\(malformed.reason)"])
            await deadLetter(delivery, reason: malformed.reason, from: consumer, logger: log)
            return
        } catch {
            let mapped = APIError.from(error)
            if mapped?.code == "database_unavailable" {
                // Transient: the same message comes back (its message_id keeps it idempotent).
                log.warning("request not handled; requeued", metadata: ["error": "database_unavailable"])
                try? await Task.sleep(for: .seconds(1))
                try? await consumer.nack(delivery, requeue: true)
                return
            }
            if mapped == nil { log.error("request failed", metadata: ["error": "\(String(reflecting: type(of: error)))"]) }
            answer = (mapped ?? APIError(.internalServerError, "internal_error", "internal error; see the server log")).reply
        }
        await reply(to: delivery, answer, from: consumer, logger: log)
    }

    /// Publishes ANSWER to the request's `reply_to` (when set), then acks the request. The
    /// request already ran: a reply that cannot be published after a few tries is logged,
    /// and the request is acknowledged all the same, so it never runs a second time.
    private func reply(to delivery: AMQPDelivery, _ answer: JSONValue, from consumer: AMQPConsumer, logger: Logger) async {
        if let replyTo = delivery.replyTo, !replyTo.isEmpty {
            let message = AMQPMessage(
                answer.serialized(),
                properties: AMQPProperties(
                    contentType: "application/json", persistent: false, correlationID: delivery.correlationID ?? delivery.messageID,
                    appID: "certfleet"))
            var published = false
            for attempt in 1...3 where !published {
                do {
                    try await dependencies.amqp.publish(message, exchange: "", routingKey: replyTo, mandatory: false)
                    published = true
                } catch {
                    logger.warning("reply not published", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(200 * attempt))
                }
            }
            if !published { logger.error("reply lost after 3 tries; the request ran once and is acknowledged") }
        }
        try? await consumer.ack(delivery)
    }

    /// Sends a redacted copy of a malformed request to `certfleet.requests.dead` and drops
    /// the original (which may hold a private key or an API key).
    private func deadLetter(_ delivery: AMQPDelivery, reason: String, from consumer: AMQPConsumer, logger: Logger) async {
        let copy = Self.redactedCopy(of: delivery, reason: reason, bodyLimit: bodyLimit)
        let message = AMQPMessage(
            copy.serialized(),
            properties: AMQPProperties(
                contentType: "application/json", persistent: true, messageID: delivery.messageID.map { String($0.prefix(200)) },
                appID: "certfleet"))
        do {
            try await dependencies.amqp.publish(message, exchange: "", routingKey: dependencies.topology.requestsDeadLetterQueue)
            try? await consumer.ack(delivery)
        } catch {
            // Not recorded yet: the request comes back later instead of being lost silently.
            logger.warning("redacted copy not published; request requeued", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            try? await consumer.nack(delivery, requeue: true)
        }
    }

    /// What is kept of a malformed request: the reason, the ids, and the JSON body with
    /// every credential-like field and every PEM private key replaced by "[redacted]".
    static func redactedCopy(of delivery: AMQPDelivery, reason: String, bodyLimit: Int) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("reason", .string(reason)),
            ("message_id", delivery.messageID.map { .string(String($0.prefix(200))) } ?? .null),
            ("correlation_id", delivery.correlationID.map { .string(String($0.prefix(200))) } ?? .null),
            ("size", .int(delivery.body.count)),
        ]
        if delivery.body.count <= bodyLimit, let body = try? JSONDecoder().decode(JSONValue.self, from: Data(delivery.body)) {
            fields.append(("body", body.redacted()))
        }
        return .object(fields)
    }

    /// Authenticates, decodes and submits; returns the success answer.
    func handle(_ delivery: AMQPDelivery, logger: Logger) async throws -> JSONValue {
        guard var secret = Self.text(delivery.headers["authorization"]), !secret.isEmpty else {
            throw Malformed(reason: "no 'authorization' header")
        }
        if secret.hasPrefix("Bearer ") { secret = String(secret.dropFirst("Bearer ".count)) }
        secret = secret.trimmingCharacters(in: .whitespaces)
        guard secret.hasPrefix("cf_"), secret.count < 200, let key = try await keys.authenticate(secret: secret) else {
            throw APIError(.unauthorized, "unauthorized", "invalid API key")
        }
        let caller = Identity(keyID: key.id, projectID: key.projectID, scopes: Set(key.scopes))
        try caller.require("certificates:write")
        if let wait = await limiter.take(key: key.id, write: true) { throw RateLimiter.tooMany(wait, what: "requests for this API key") }
        guard delivery.body.count <= bodyLimit else { throw APIError.tooLarge(bodyLimit) }
        guard let object = try? JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any] else {
            throw Malformed(reason: "the body is not a JSON object")
        }
        guard let typeName = object["type"] as? String, let type = RequestType(rawValue: typeName) else {
            throw Malformed(reason: "'type' must be one of \(RequestType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let idempotencyKey = try delivery.messageID.flatMap { $0.isEmpty ? nil : $0 }.map(Submissions.clientKey)
        switch type {
        case .upload, .issue:
            guard let body = try? JSONDecoder().decode(CertificateRequests.UploadBody.self, from: Data(delivery.body)) else {
                throw APIError.malformed("the request's fields do not match the HTTP body of POST /v1/certificates")
            }
            // The type says which of the two bodies of POST /v1/certificates this is.
            if type == .issue && body.domains == nil {
                throw APIError(.unprocessableContent, "domains_missing", "an issue request needs 'domains' (ACME issuance)")
            }
            if type == .upload && body.domains != nil {
                throw APIError(
                    .unprocessableContent, "domains_not_allowed", "an upload request carries 'chain' and 'pkey'; use type 'issue' for 'domains'")
            }
            return try await requests.create(body, caller: caller, idempotencyKey: idempotencyKey).response.value
        case .delete:
            return try await requests.delete(reference: try reference(object), caller: caller, idempotencyKey: idempotencyKey).response.value
        case .renew:
            return try await requests.renew(
                reference: try reference(object), caller: caller, idempotencyKey: idempotencyKey,
                reuseKey: object["reuse_key"] as? Bool ?? false
            ).response.value
        case .revoke:
            return try await requests.revoke(
                reference: try reference(object), caller: caller, reason: object["reason"],
                idempotencyKey: idempotencyKey
            ).response.value
        }
    }

    /// A header's text: clients send strings as AMQP long strings or as byte arrays.
    static func text(_ value: AMQPFieldValue?) -> String? {
        switch value {
        case .string(let text)?: return text
        case .bytes(let bytes)?: return String(bytes: bytes, encoding: .utf8)
        default: return nil
        }
    }

    /// The certificate a delete, renew or revoke names: `uuid` or `name`.
    private func reference(_ object: [String: Any]) throws -> String {
        guard let reference = (object["uuid"] as? String) ?? (object["name"] as? String), !reference.isEmpty else {
            throw APIError.malformed("name the certificate with 'uuid' or 'name'")
        }
        return reference
    }
}

extension APIError {
    /// The error as an intake reply: the HTTP error document, plus the message inside `error`.
    var reply: JSONValue {
        .object([
            ("status", .string("error")), ("message", .string(message)),
            ("error", .object([("code", .string(code)), ("message", .string(message)), ("details", .object(details))])),
        ])
    }
}
