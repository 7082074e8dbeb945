import AMQP
import Foundation
import Logging
import Store
import Telemetry

/// Publishes outbox rows with publisher confirms and marks them published.
///
/// Used right after a commit by the process that wrote the rows (the fast path: the messages as
/// the commit wrote them, no read back, and a mark shared with every other row published in the
/// same moment), and by the
/// scheduler's relay (everything a crash or an outage left behind, and delayed messages once
/// due). The relay leaves fresh rows to their writer (`Outbox.writerGrace`) and locks what it
/// sends, so a row is normally sent once; a crash after the confirm and before the mark sends it
/// again — consumers drop duplicates (claim, event ids).
public struct OutboxPublisher: Sendable {
    let db: Database
    let amqp: AMQPConnection
    let topology: CertFleetTopology
    let logger: Logger
    let marks: PublishedMarks

    public init(db: Database, amqp: AMQPConnection, topology: CertFleetTopology, logger: Logger) {
        self.db = db
        self.amqp = amqp
        self.topology = topology
        self.logger = logger
        self.marks = PublishedMarks(db: db, logger: logger)
    }

    /// Publishes what a commit just wrote (its delayed messages stay for the relay) and marks it
    /// in the next batch. Failures are logged and left to the relay: the change is committed
    /// either way.
    @discardableResult
    public func publishNow(_ messages: [OutboxMessage]) async -> Int {
        let due = messages.filter { $0.deliverAfter == nil }
        guard !due.isEmpty else { return 0 }
        let result = await publish(due)
        await marks.add(result.published)
        for failure in result.failed {
            do {
                try await Outbox.recordFailure(db, id: failure.id, error: failure.error)
            } catch {
                logger.warning("outbox publish failure not recorded", metadata: ["outbox_id": "\(failure.id)", "error": "\(error)"])
            }
        }
        return result.published.count
    }

    /// Writes the marks of what `publishNow` sent and has not marked yet (before a process stops).
    public func flushMarks() async {
        await marks.flush()
    }

    /// Publishes up to LIMIT due rows in order; returns how many were published.
    public func relay(limit: Int = 200) async throws -> Int {
        try await Outbox.send(db, limit: limit) { await publish($0) }
    }

    /// Publishes in order, marking what was confirmed. A failed message holds back the
    /// later messages of its ordering key (they must not overtake it), not the others.
    private func publish(_ messages: [OutboxMessage]) async -> Outbox.SendResult {
        var result = Outbox.SendResult()
        var blockedKeys = Set<String>()
        for message in messages {
            if let key = message.orderingKey, blockedKeys.contains(key) { continue }
            do {
                try await traced(message) { headers in
                    // Job messages must reach a queue (an unroutable one means missing topology);
                    // events may have no subscriber at all, which is not a failure.
                    try await amqp.publish(
                        amqpMessage(message, headers: headers), exchange: exchange(message.destination),
                        routingKey: message.routingKey, mandatory: message.destination == .jobs)
                }
                result.published.append(message.id)
            } catch {
                if let key = message.orderingKey { blockedKeys.insert(key) }
                result.failed.append((message.id, "\(error)"))
                logger.warning("outbox publish failed", metadata: ["outbox_id": "\(message.id)", "error": "\(error)"])
            }
        }
        return result
    }

    private func exchange(_ destination: OutboxDestination) -> String {
        switch destination {
        case .jobs: return topology.jobsExchange
        case .events: return topology.eventsExchange
        }
    }

    /// A message that carries a trace context is published in a producer span, child of the
    /// context stored with the row (the request or commit that wrote it), and carries that span
    /// on to its consumer; a message without one (old rows, untraced writers) goes as stored.
    private func traced(_ message: OutboxMessage, _ publish: ([String: String]) async throws -> Void) async throws {
        guard TraceHeaders.present(in: message.headers) else { return try await publish(message.headers) }
        try await withSpan("publish \(message.routingKey)", context: TraceHeaders.context(from: message.headers), ofKind: .producer) { span in
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.destination.name"] = exchange(message.destination)
            span.attributes["messaging.rabbitmq.destination.routing_key"] = message.routingKey
            span.attributes["messaging.message.id"] = message.messageID.uuidString.lowercased()
            span.attributes["certfleet.outbox_id"] = Int(message.id)
            var headers = message.headers
            headers.merge(TraceHeaders.inject(span.context)) { _, span in span }
            try await publish(headers)
        }
    }

    private func amqpMessage(_ message: OutboxMessage, headers stored: [String: String]) -> AMQPMessage {
        var headers: [String: AMQPFieldValue] = [:]
        for (key, value) in stored { headers[key] = .string(value) }
        return AMQPMessage(
            message.body,
            properties: AMQPProperties(
                contentType: "application/json", headers: headers, persistent: true,
                messageID: message.messageID.uuidString.lowercased(), appID: "certfleet"))
    }
}
