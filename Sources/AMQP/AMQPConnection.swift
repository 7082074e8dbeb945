import Foundation
import Logging

/// One AMQP connection to RabbitMQ, owned by a dedicated thread (rabbitmq-c is
/// not thread-safe and blocks), with an async API usable from any task.
///
/// After the first successful `connect`, the connection reconnects by itself
/// with backoff whenever the broker goes away, re-declares every topology
/// declared through it and resumes every consumer. Publishes that were sent but
/// not yet confirmed when the connection dropped fail with
/// `AMQPError.unconfirmed`; none is ever reported as confirmed without an ack.
///
/// Use separate connections for publishing and consuming in a busy process:
/// the broker throttles publishing connections, which would also delay acks.
public final class AMQPConnection: Sendable {
    private let driver: Driver
    public let configuration: AMQPConfiguration

    private init(driver: Driver) {
        self.driver = driver
        self.configuration = driver.configuration
    }

    deinit {
        _ = driver.inbox.submit { $0.beginShutdown(nil) }
    }

    /// Connects to the first reachable endpoint. Throws `AMQPError.connectFailed`,
    /// or `.broker` with 403 ACCESS_REFUSED / 530 NOT_ALLOWED for bad credentials or vhost.
    public static func connect(
        _ configuration: AMQPConfiguration,
        logger: Logger = Logger(label: "certfleet.amqp")
    ) async throws -> AMQPConnection {
        let driver = Driver(configuration: configuration, logger: logger)
        driver.start()
        try await driver.perform { driver throws(AMQPError) in
            do throws(AMQPError) {
                try driver.connectAny()
            } catch {
                driver.finishShutdown()
                throw error
            }
        }
        return AMQPConnection(driver: driver)
    }

    /// True while the connection is up (false while reconnecting or after close).
    public var isConnected: Bool { driver.isConnected }

    /// How many times the connection was established: 1 after `connect`, +1 per reconnect.
    public var connectionCount: Int { driver.connectionCount }

    /// Declares `topology` now and again after every reconnect.
    /// A conflicting declaration throws `.broker` with 406 PRECONDITION_FAILED and
    /// is not remembered; the connection stays usable.
    public func declare(_ topology: Topology) async throws {
        try await driver.perform { driver throws(AMQPError) in
            try driver.declareNow(topology)
            if !driver.topologies.contains(topology) { driver.topologies.append(topology) }
        }
    }

    /// Publishes and returns once the broker confirmed the message (for a
    /// persistent message to a quorum queue: after a majority wrote it).
    ///
    /// Throws `.unroutable` when `mandatory` and no queue matched, `.nacked`,
    /// `.unconfirmed` when the connection dropped before the confirm (the message
    /// may or may not be enqueued), `.connectionLost` when it was never sent.
    /// A message without a message id gets a random one: returns are matched by it.
    public func publish(_ message: AMQPMessage, exchange: String, routingKey: String, mandatory: Bool = true) async throws {
        let item = AMQPPublish(message, exchange: exchange, routingKey: routingKey, mandatory: mandatory)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let request = PublishRequest(
                message: item.message, exchange: exchange, routingKey: routingKey, mandatory: mandatory,
                complete: { continuation.resume(with: $0) })
            if !driver.inbox.submit({ $0.publish(request) }) { continuation.resume(throwing: AMQPError.closed) }
        }
    }

    /// Publishes many messages in one hand-over to the connection's thread and
    /// returns when every one is settled: one result per message, in order, with
    /// the same meaning as `publish`. For relays that drain a backlog (the outbox)
    /// this avoids a task and a thread hop per message.
    public func publish(batch: [AMQPPublish]) async -> [Result<Void, AMQPError>] {
        guard !batch.isEmpty else { return [] }
        return await withCheckedContinuation { (continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>) in
            let collector = BatchCollector(count: batch.count, continuation: continuation)
            let requests = batch.enumerated().map { index, item in
                PublishRequest(
                    message: item.message, exchange: item.exchange, routingKey: item.routingKey, mandatory: item.mandatory,
                    complete: { collector.finish(index, $0) })
            }
            if !driver.inbox.submit({ driver in requests.forEach(driver.publish) }) {
                continuation.resume(returning: Array(repeating: .failure(.closed), count: batch.count))
            }
        }
    }

    /// Starts consuming `queue` with manual acks and at most `prefetch` unacked
    /// deliveries. The consumer survives reconnects.
    public func consume(queue: String, prefetch: UInt16 = 10) async throws -> AMQPConsumer {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: AMQPDelivery.self, throwing: (any Error).self)
        let tag = try await driver.perform { driver throws(AMQPError) in
            try driver.addConsumer(queue: queue, prefetch: prefetch, continuation: continuation).tag
        }
        return AMQPConsumer(driver: driver, queue: queue, tag: tag, deliveries: stream)
    }

    /// Ready-message and consumer counts of a queue (passive declare); `.broker` 404 when absent.
    public func queueStatus(_ queue: String) async throws -> AMQPQueueStatus {
        try await driver.perform { driver throws(AMQPError) in try driver.queueStatus(queue) }
    }

    /// Several queues' status in one hop to the connection's thread (each hop waits for the
    /// thread's next turn): the queues that answered, by name.
    public func queueStatuses(_ queues: [String]) async throws -> [String: AMQPQueueStatus] {
        try await driver.perform { driver throws(AMQPError) in
            var statuses: [String: AMQPQueueStatus] = [:]
            for queue in queues { statuses[queue] = try? driver.queueStatus(queue) }
            return statuses
        }
    }

    /// Deletes a queue; returns how many messages it held.
    @discardableResult
    public func deleteQueue(_ queue: String) async throws -> Int {
        try await driver.perform { driver throws(AMQPError) in try driver.deleteQueue(queue) }
    }

    public func deleteExchange(_ exchange: String) async throws {
        try await driver.perform { driver throws(AMQPError) in try driver.deleteExchange(exchange) }
    }

    /// Graceful shutdown: cancels consumers, waits (up to `shutdownTimeout`)
    /// for outstanding confirms, then closes channels and the connection.
    /// Acks submitted before `close` are sent first.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !driver.inbox.submit({ $0.beginShutdown(continuation) }) { continuation.resume() }
        }
    }
}

/// One message of `AMQPConnection.publish(batch:)`. A message without a message
/// id gets a random one (returns are matched by it).
public struct AMQPPublish: Sendable {
    public var message: AMQPMessage
    public var exchange: String
    public var routingKey: String
    public var mandatory: Bool

    public init(_ message: AMQPMessage, exchange: String, routingKey: String, mandatory: Bool = true) {
        var message = message
        if message.properties.messageID == nil { message.properties.messageID = UUID().uuidString }
        self.message = message
        self.exchange = exchange
        self.routingKey = routingKey
        self.mandatory = mandatory
    }
}

/// Gathers a batch's results; only the connection's thread calls `finish`.
private final class BatchCollector: @unchecked Sendable {
    private var results: [Result<Void, AMQPError>]
    private var remaining: Int
    private let continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<Void, AMQPError>], Never>) {
        results = Array(repeating: .failure(.closed), count: count)
        remaining = count
        self.continuation = continuation
    }

    func finish(_ index: Int, _ result: Result<Void, AMQPError>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 { continuation.resume(returning: results) }
    }
}
