import CertFleetCore
import Foundation
import Postgres
import Telemetry

/// Where an outbox message goes. Stored by logical name; the publisher maps it to the
/// broker's exchange names (the Messaging module's `CertFleetTopology`, the one place they are spelled).
public enum OutboxDestination: String, Sendable {
    /// The jobs exchange; the routing key is the job kind.
    case jobs
    /// The lifecycle events exchange; the routing key is `certificate.<event>`.
    case events
}

/// One message waiting in the transactional outbox.
public struct OutboxMessage: Sendable, Equatable {
    public let id: Int64
    public let destination: OutboxDestination
    public let routingKey: String
    public let messageID: UUID
    public let body: String
    public let headers: [String: String]
    /// Messages with the same key leave in id order.
    public let orderingKey: String?
    /// Set on a message written to leave later (a delayed retry): the relay sends it when due.
    public var deliverAfter: Date? = nil
}

/// The transactional outbox: messages are written in the same transaction as the
/// change they announce, and published after commit (by the writer, or later by the relay).
public enum Outbox {
    /// The NOTIFY channel that wakes relays early.
    public static let channel = "certfleet_outbox"

    /// Adds a job message; delivered at once or after DELIVERAFTER (a delayed retry).
    @discardableResult
    public static func enqueueJob(_ tx: PostgresTransaction, _ message: JobMessage, deliverAfter: Date? = nil) async throws -> OutboxMessage {
        try await insert(
            tx, destination: .jobs, routingKey: message.kind.rawValue,
            body: try PostgresJSON(encoding: message), orderingKey: message.certificateID.uuidString.lowercased(),
            deliverAfter: deliverAfter)
    }

    /// Adds a lifecycle event for `certfleet.events`.
    @discardableResult
    public static func enqueueEvent(_ tx: PostgresTransaction, _ event: CertificateEventMessage, name: String) async throws -> OutboxMessage {
        try await insert(
            tx, destination: .events, routingKey: "certificate.\(name)",
            body: try PostgresJSON(encoding: event), orderingKey: event.subject, deliverAfter: nil)
    }

    private static func insert(
        _ tx: PostgresTransaction, destination: OutboxDestination, routingKey: String, body: PostgresJSON,
        orderingKey: String, deliverAfter: Date?
    ) async throws -> OutboxMessage {
        // The trace context of whatever wrote the row (the API request, the job's commit), so the
        // message continues that trace whoever publishes it; `{}` when nothing is traced.
        let traceHeaders = TraceHeaders.current()
        let headers = try PostgresJSON(encoding: traceHeaders)
        // Per destination: a delayed job retry must not hold back the certificate's events.
        let orderingKey = "\(destination.rawValue):\(orderingKey)"
        let row = try await tx.query(
            """
            INSERT INTO outbox (exchange, routing_key, body, headers, ordering_key, deliver_after)
            VALUES (\(destination.rawValue), \(routingKey), \(body), \(headers), \(orderingKey), coalesce(\(deliverAfter), now()))
            RETURNING id, message_id
            """
        ).first!
        let id = try row.decode(Int64.self, "id")
        if deliverAfter != nil { try await tx.query("SELECT pg_notify(\(channel), \(String(id)))") }
        // What the writer publishes after its commit, without reading the row back.
        return OutboxMessage(
            id: id, destination: destination, routingKey: routingKey, messageID: try row.decode(UUID.self, "message_id"),
            body: body.text, headers: traceHeaders, orderingKey: orderingKey, deliverAfter: deliverAfter)
    }

    /// What a publisher did with a batch of messages.
    public struct SendResult: Sendable {
        public var published: [Int64] = []
        public var failed: [(id: Int64, error: String)] = []
        public init() {}
    }

    /// How long the relay leaves a fresh row to the process that wrote it. The writer publishes
    /// right after its commit without locking the row and marks it a moment later, in a batch
    /// (`OutboxPublisher.publishNow`); the relay takes the row only when that did not happen
    /// (a crash, a broker outage). Delayed messages are the relay's from the start.
    public static let writerGrace = 2

    /// Locks up to LIMIT due rows in order — skipping rows another relay holds and rows still
    /// left to their writer — hands them to SEND while locked, and records what SEND reports, in
    /// one transaction: two relays never send the same row at the same time.
    public static func send(
        _ db: Database, limit: Int = 200, _ send: @escaping @Sendable ([OutboxMessage]) async -> SendResult
    ) async throws -> Int {
        try await db.transaction { tx in
            let messages = try await lockDue(tx, limit: limit)
            let result = await send(messages)
            for failure in result.failed { try await recordFailure(tx, id: failure.id, error: failure.error) }
            if !result.published.isEmpty { try await tx.query(markPublishedQuery(ids: result.published)) }
            return result.published.count
        }
    }

    public static func lockDue(_ tx: PostgresTransaction, limit: Int) async throws -> [OutboxMessage] {
        try await tx.query(lockDueQuery(limit: limit)).map(decode)
    }

    /// The relay's SELECT (the partial index of unpublished rows). A row is only taken when no
    /// older due, unpublished row of the same ordering key exists, so the due messages about one
    /// certificate leave in order.
    public static func lockDueQuery(limit: Int) -> PostgresQuery {
        """
        SELECT o.id, o.exchange, o.routing_key, o.message_id, o.body::text AS body, o.headers::text AS headers, o.ordering_key
        FROM outbox o
        WHERE o.published_at IS NULL AND o.deliver_after <= now()
          AND (o.deliver_after > o.created_at OR o.created_at < now() - \(writerGrace) * interval '1 second')
          AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.published_at IS NULL AND e.deliver_after <= now()
                          AND e.ordering_key = o.ordering_key AND e.id < o.id)
        ORDER BY o.id
        LIMIT \(limit)
        FOR UPDATE OF o SKIP LOCKED
        """
    }

    /// Marks rows published, in one statement of its own.
    public static func markPublished(_ db: Database, ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await db.query(markPublishedQuery(ids: ids))
    }

    /// Marks rows published (the first publish's time stays when the relay sent one again).
    static func markPublishedQuery(ids: [Int64]) -> PostgresQuery {
        """
        UPDATE outbox SET published_at = coalesce(published_at, now()), attempts = attempts + 1
        WHERE id = ANY(\(ids.map(String.init))::bigint[])
        """
    }

    public static func recordFailure(_ tx: PostgresTransaction, id: Int64, error: String) async throws {
        try await tx.query(recordFailureQuery(id: id, error: error))
    }

    public static func recordFailure(_ db: Database, id: Int64, error: String) async throws {
        try await db.query(recordFailureQuery(id: id, error: error))
    }

    private static func recordFailureQuery(id: Int64, error: String) -> PostgresQuery {
        "UPDATE outbox SET attempts = attempts + 1, last_error = \(String(error.prefix(500))) WHERE id = \(id)"
    }

    private static func decode(_ row: PostgresRow) throws -> OutboxMessage {
        let headers = try PostgresJSON(text: row.decode(String.self, "headers")).decode([String: String].self)
        return OutboxMessage(
            id: try row.decode(Int64.self, "id"),
            destination: OutboxDestination(rawValue: try row.decode(String.self, "exchange")) ?? .events,
            routingKey: try row.decode(String.self, "routing_key"), messageID: try row.decode(UUID.self, "message_id"),
            body: try row.decode(String.self, "body"), headers: headers, orderingKey: try row.decode(String?.self, "ordering_key"))
    }
}
