/// A value in an AMQP field table (message headers, queue arguments).
public indirect enum AMQPFieldValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case bytes([UInt8])
    case timestamp(UInt64)
    case array([AMQPFieldValue])
    case table([String: AMQPFieldValue])
    case void

    /// The string, when this is a string value.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, when this is an integer value.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// The AMQP basic properties of a message.
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    /// Application headers; CertFleet puts the W3C `traceparent` here.
    public var headers: [String: AMQPFieldValue]
    /// True for delivery mode 2: the broker writes the message to disk.
    public var persistent: Bool
    public var priority: UInt8?
    /// Request/reply: the id a reply carries back.
    public var correlationID: String?
    /// Request/reply: the queue a reply goes to.
    public var replyTo: String?
    public var expiration: String?
    public var messageID: String?
    /// Seconds since 1970.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: [String: AMQPFieldValue] = [:],
        persistent: Bool = true, priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
        expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil, type: String? = nil,
        userID: String? = nil, appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.persistent = persistent
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }

    /// The W3C trace context header, when present.
    public var traceparent: String? {
        get { headers["traceparent"]?.stringValue }
        set { headers["traceparent"] = newValue.map(AMQPFieldValue.string) }
    }
}

/// A message to publish. Persistent and JSON unless told otherwise.
public struct AMQPMessage: Sendable, Hashable {
    public var body: [UInt8]
    public var properties: AMQPProperties

    public init(body: some Sequence<UInt8>, properties: AMQPProperties = .init(contentType: "application/json")) {
        self.body = Array(body)
        self.properties = properties
    }

    public init(_ text: String, properties: AMQPProperties = .init(contentType: "application/json")) {
        self.init(body: Array(text.utf8), properties: properties)
    }
}

/// A message delivered to a consumer. Settle it with `AMQPConsumer.ack/nack/reject`.
public struct AMQPDelivery: Sendable {
    public var body: [UInt8]
    public var properties: AMQPProperties
    public var exchange: String
    public var routingKey: String
    /// True when the broker delivered this message before (to this or another consumer).
    public var redelivered: Bool
    /// Unique per channel; only meaningful for the connection it arrived on.
    public var deliveryTag: UInt64
    public var consumerTag: String
    /// The connection incarnation the delivery arrived on, so a settle after a
    /// reconnect is refused instead of acking an unrelated message.
    let generation: Int
    let channel: UInt16

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }
    public var messageID: String? { properties.messageID }
    public var headers: [String: AMQPFieldValue] { properties.headers }
    public var replyTo: String? { properties.replyTo }
    public var correlationID: String? { properties.correlationID }
}
