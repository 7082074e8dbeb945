/// A consumer started by `AMQPConnection.consume`. Iterate `deliveries` (or the
/// consumer itself) and settle every delivery with `ack`, `nack` or `reject`.
///
/// The sequence ends after `cancel()` or `AMQPConnection.close()`, and throws
/// when the broker cancelled the consumer or its queue disappeared. Across a
/// reconnect it simply continues; deliveries not acked before the drop come
/// again with `redelivered` set, and settling the old ones throws `.staleDelivery`.
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    private let driver: Driver
    public let queue: String
    public let consumerTag: String
    public let deliveries: AsyncThrowingStream<AMQPDelivery, any Error>

    init(driver: Driver, queue: String, tag: String, deliveries: AsyncThrowingStream<AMQPDelivery, any Error>) {
        self.driver = driver
        self.queue = queue
        self.consumerTag = tag
        self.deliveries = deliveries
    }

    public func makeAsyncIterator() -> AsyncThrowingStream<AMQPDelivery, any Error>.Iterator {
        deliveries.makeAsyncIterator()
    }

    /// Acknowledges the delivery (and, with `multiple`, all earlier ones of this consumer).
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) async throws {
        try await settle(delivery, .ack(multiple: multiple))
    }

    /// Negative acknowledgement; without `requeue` the message is dead-lettered.
    public func nack(_ delivery: AMQPDelivery, requeue: Bool, multiple: Bool = false) async throws {
        try await settle(delivery, .nack(multiple: multiple, requeue: requeue))
    }

    /// Rejects one delivery; without `requeue` the message goes to the queue's dead-letter exchange.
    public func reject(_ delivery: AMQPDelivery, requeue: Bool) async throws {
        try await settle(delivery, .reject(requeue: requeue))
    }

    /// Stops new deliveries; deliveries already received can still be settled.
    public func cancel() async throws {
        let tag = consumerTag
        try await driver.perform { driver throws(AMQPError) in
            if let record = driver.consumers[tag] { driver.cancelConsumer(record) }
        }
    }

    private func settle(_ delivery: AMQPDelivery, _ settlement: Settlement) async throws {
        try await driver.perform { driver throws(AMQPError) in try driver.settle(delivery, settlement) }
    }
}
