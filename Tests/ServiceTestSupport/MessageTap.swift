import AMQP
import Foundation

/// Messages collected in the background from a private queue: copies of what EXCHANGE
/// routes with BINDINGKEY, or (no exchange) what is sent to the queue by name, e.g. replies.
public final class MessageTap: Sendable {
    public struct Message: Sendable {
        public let routingKey: String
        public let body: String
        public let properties: AMQPProperties
    }

    private let collected: Collected
    /// The queue's name (e.g. the `reply_to` of requests).
    public let queue: String
    let amqp: AMQPConnection
    let consumer: AMQPConsumer
    private let task: Task<Void, Never>

    public init(_ env: IsolatedServices, exchange: String?, bindingKey: String = "#", name: String) async throws {
        let queue = "\(env.topology.prefix).tap-\(name)"
        self.queue = queue
        amqp = env.amqp
        try await env.amqp.declare(
            Topology(
                queues: [.init(name: queue, durable: false)],
                bindings: exchange.map { [.init(queue: queue, exchange: $0, routingKey: bindingKey)] } ?? []))
        let consumer = try await env.amqp.consume(queue: queue, prefetch: 100)
        self.consumer = consumer
        let collected = Collected()
        self.collected = collected
        task = Task {
            do {
                for try await delivery in consumer {
                    await collected.add(Message(routingKey: delivery.routingKey, body: delivery.text, properties: delivery.properties))
                    try await consumer.ack(delivery)
                }
            } catch {}
        }
    }

    public var messages: [Message] { get async { await collected.messages } }

    /// Polls until CONDITION holds for the messages so far (or 60 s pass).
    public func waitFor(timeout: Duration = .seconds(60), _ condition: ([Message]) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(await messages) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return condition(await messages)
    }

    public func close() async {
        try? await consumer.cancel()
        task.cancel()
        _ = try? await amqp.deleteQueue(queue)
    }

    private actor Collected {
        var messages: [Message] = []
        func add(_ message: Message) { messages.append(message) }
    }
}
