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
public struct OutboxMessage: Sendable {
    public let id: Int64
    public let destination: OutboxDestination
    public let routingKey: String
    public let messageID: UUID
    public let body: String
    public let headers: [String: String]
    /// Messages with the same key leave in id order.
    public let orderingKey: String?
}

/// The transactional outbox: messages are written in the same transaction as the
/// change they announce, and published after commit (by the writer, or later by the relay).
public enum Outbox {
    /// The NOTIFY channel that wakes relays early.
    public static let channel = "certfleet_outbox"

    /// Adds a job message; delivered at once or after DELIVERAFTER (a delayed retry).
    @discardableResult
    public static func enqueueJob(_ tx: PostgresTransaction, _ message: JobMessage, deliverAfter: Date? = nil) async throws -> Int64 {
        try await insert(
            tx, destination: .jobs, routingKey: message.kind.rawValue,
            body: try PostgresJSON(encoding: message), orderingKey: message.certificateID.uuidString.lowercased(),
            deliverAfter: deliverAfter)
    }

    /// Adds a lifecycle event for `certfleet.events`.
    @discardableResult
    public static func enqueueEvent(_ tx: PostgresTransaction, _ event: CertificateEventMessage, name: String) async throws -> Int64 {
        try await insert(
            tx, destination: .events, routingKey: "certificate.\(name)",
            body: try PostgresJSON(encoding: event), orderingKey: event.subject, deliverAfter: nil)
    }

    private static func insert(
        _ tx: PostgresTransaction, destination: OutboxDestination, routingKey: String, body: PostgresJSON,
        orderingKey: String, deliverAfter: Date?
    ) async throws -> Int64 {
        // The trace context of whatever wrote the row (the API request, the job's commit), so the
        // message continues that trace whoever publishes it; `{}` when nothing is traced.
        let headers = try PostgresJSON(encoding: TraceHeaders.current())
        // Per destination: a delayed job retry must not hold back the certificate's events.
        let orderingKey = "\(destination.rawValue):\(orderingKey)"
        let id = try await tx.query(
            """
            INSERT INTO outbox (exchange, routing_key, body, headers, ordering_key, deliver_after)
            VALUES (\(destination.rawValue), \(routingKey), \(body), \(headers), \(orderingKey), coalesce(\(deliverAfter), now()))
            RETURNING id
            """
        ).first!.decode(Int64.self, "id")
        if deliverAfter != nil { try await tx.query("SELECT pg_notify(\(channel), \(String(id)))") }
        return id
    }

    /// Locks up to LIMIT due, unpublished messages (skipping rows another relay holds), oldest first.
    /// A row is only taken when no older due, unpublished row of the same ordering key exists,
    /// so the due messages about one certificate leave in order.
    /// What a publisher did with a batch of locked messages.
    public struct SendResult: Sendable {
        public var published: [Int64] = []
        public var failed: [(id: Int64, error: String)] = []
        public init() {}
    }

    /// Locks the rows IDS (still unpublished and due) — or, with IDS nil, up to LIMIT due rows in
    /// order — hands them to SEND while locked, and records what SEND reports, in one transaction:
    /// two publishers never send the same row at the same time.
    public static func send(
        _ db: Database, ids: [Int64]?, limit: Int = 200,
        _ send: @escaping @Sendable ([OutboxMessage]) async -> SendResult
    ) async throws -> Int {
        try await db.transaction { tx in
            let messages: [OutboxMessage]
            if let ids { messages = try await lockUnpublished(tx, ids: ids) } else { messages = try await lockDue(tx, limit: limit) }
            let result = await send(messages)
            for failure in result.failed { try await recordFailure(tx, id: failure.id, error: failure.error) }
            try await markPublished(tx, ids: result.published)
            return result.published.count
        }
    }

    public static func lockDue(_ tx: PostgresTransaction, limit: Int) async throws -> [OutboxMessage] {
        try await tx.query(lockDueQuery(limit: limit)).map(decode)
    }

    /// The relay's SELECT (the partial index of unpublished rows).
    public static func lockDueQuery(limit: Int) -> PostgresQuery {
        """
        SELECT o.id, o.exchange, o.routing_key, o.message_id, o.body::text AS body, o.headers::text AS headers, o.ordering_key
        FROM outbox o
        WHERE o.published_at IS NULL AND o.deliver_after <= now()
          AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.published_at IS NULL AND e.deliver_after <= now()
                          AND e.ordering_key = o.ordering_key AND e.id < o.id)
        ORDER BY o.id
        LIMIT \(limit)
        FOR UPDATE OF o SKIP LOCKED
        """
    }

    /// The unpublished messages with these ids that nobody else is publishing right now.
    public static func lockUnpublished(_ tx: PostgresTransaction, ids: [Int64]) async throws -> [OutboxMessage] {
        guard !ids.isEmpty else { return [] }
        return try await tx.query(
            """
            SELECT id, exchange, routing_key, message_id, body::text AS body, headers::text AS headers, ordering_key
            FROM outbox WHERE id = ANY(\(ids.map(String.init))::bigint[]) AND published_at IS NULL AND deliver_after <= now()
            ORDER BY id FOR UPDATE SKIP LOCKED
            """
        ).map(decode)
    }

    public static func markPublished(_ tx: PostgresTransaction, ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await tx.query("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY(\(ids.map(String.init))::bigint[])")
    }

    public static func recordFailure(_ tx: PostgresTransaction, id: Int64, error: String) async throws {
        try await tx.query("UPDATE outbox SET attempts = attempts + 1, last_error = \(String(error.prefix(500))) WHERE id = \(id)")
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
