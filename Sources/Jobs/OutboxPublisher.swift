import AMQP
import Foundation
import Logging
import Postgres
import Store

/// Publishes outbox rows with publisher confirms and marks them published.
///
/// Used right after a commit (the fast path) and by the scheduler's relay (everything
/// a crash left behind, and delayed messages once due). A row is locked while it is
/// published, so two publishers never send the same row at the same time; a crash after
/// the confirm and before the mark sends it again — consumers drop duplicates (claim).
public struct OutboxPublisher: Sendable {
    let db: PostgresClient
    let amqp: AMQPConnection
    let topology: CertFleetTopology
    let logger: Logger

    public init(db: PostgresClient, amqp: AMQPConnection, topology: CertFleetTopology, logger: Logger) {
        self.db = db
        self.amqp = amqp
        self.topology = topology
        self.logger = logger
    }

    /// Publishes these rows now if they are still unpublished and due. Failures are
    /// logged and left to the relay: the change is committed either way.
    @discardableResult
    public func publishNow(_ ids: [Int64]) async -> Int {
        guard !ids.isEmpty else { return 0 }
        do {
            return try await db.transaction { tx in
                try await publish(tx, try await Outbox.lockUnpublished(tx, ids: ids))
            }
        } catch {
            logger.warning("outbox publish deferred to the relay", metadata: ["error": "\(error)", "outbox_ids": "\(ids)"])
            return 0
        }
    }

    /// Publishes up to LIMIT due rows in order; returns how many were published.
    public func relay(limit: Int = 200) async throws -> Int {
        try await db.transaction { tx in
            try await publish(tx, try await Outbox.lockDue(tx, limit: limit))
        }
    }

    /// Publishes in order, marking what was confirmed. A failed message holds back the
    /// later messages of its ordering key (they must not overtake it), not the others.
    private func publish(_ tx: PostgresTransaction, _ messages: [OutboxMessage]) async throws -> Int {
        var published: [Int64] = []
        var blockedKeys = Set<String>()
        for message in messages {
            if let key = message.orderingKey, blockedKeys.contains(key) { continue }
            do {
                // Job messages must reach a queue (an unroutable one means missing topology);
                // events may have no subscriber at all, which is not a failure.
                try await amqp.publish(amqpMessage(message), exchange: exchange(message.destination),
                                       routingKey: message.routingKey, mandatory: message.destination == .jobs)
                published.append(message.id)
            } catch {
                if let key = message.orderingKey { blockedKeys.insert(key) }
                try await Outbox.recordFailure(tx, id: message.id, error: "\(error)")
                logger.warning("outbox publish failed", metadata: ["outbox_id": "\(message.id)", "error": "\(error)"])
            }
        }
        try await Outbox.markPublished(tx, ids: published)
        return published.count
    }

    private func exchange(_ destination: OutboxDestination) -> String {
        switch destination {
        case .jobs: return topology.jobsExchange
        case .events: return topology.eventsExchange
        }
    }

    private func amqpMessage(_ message: OutboxMessage) -> AMQPMessage {
        var headers: [String: AMQPFieldValue] = [:]
        for (key, value) in message.headers { headers[key] = .string(value) }
        return AMQPMessage(message.body, properties: AMQPProperties(
            contentType: "application/json", headers: headers, persistent: true,
            messageID: message.messageID.uuidString.lowercased(), appID: "certfleet"))
    }
}
