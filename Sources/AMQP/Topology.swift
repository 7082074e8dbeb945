/// The exchanges, queues and bindings an application needs, declared as one
/// unit at start-up and again after every reconnect. Declaring is idempotent;
/// declaring a queue that exists with other arguments fails with
/// 406 PRECONDITION_FAILED (`AMQPError.broker`).
public struct Topology: Sendable, Hashable {
    public enum ExchangeType: String, Sendable, Hashable {
        case direct, topic, fanout, headers
    }

    public struct Exchange: Sendable, Hashable {
        public var name: String
        public var type: ExchangeType
        public var durable: Bool
        public init(name: String, type: ExchangeType, durable: Bool = true) {
            self.name = name
            self.type = type
            self.durable = durable
        }
    }

    public struct Queue: Sendable, Hashable {
        public var name: String
        public var durable: Bool
        public var exclusive: Bool
        public var autoDelete: Bool
        public var arguments: [String: AMQPFieldValue]
        public init(
            name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
            arguments: [String: AMQPFieldValue] = [:]
        ) {
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.arguments = arguments
        }

        /// A durable quorum queue (replicated, survives broker restarts and node loss),
        /// optionally dead-lettering rejected messages to `deadLetterExchange`.
        public static func quorum(_ name: String, deadLetterExchange: String? = nil) -> Queue {
            var arguments: [String: AMQPFieldValue] = ["x-queue-type": "quorum"]
            if let deadLetterExchange { arguments["x-dead-letter-exchange"] = .string(deadLetterExchange) }
            return Queue(name: name, arguments: arguments)
        }
    }

    public struct Binding: Sendable, Hashable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }
}
