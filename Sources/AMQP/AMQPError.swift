/// A reply the broker sent when it closed a channel or the connection, or
/// returned a message: the AMQP reply code (404 NOT_FOUND, 406 PRECONDITION_FAILED,
/// 403 ACCESS_REFUSED, 320 CONNECTION_FORCED, 312 NO_ROUTE, …) and its text.
public struct BrokerReply: Sendable, Hashable, CustomStringConvertible {
    /// What the broker closed; a channel error leaves the connection usable.
    public enum Scope: String, Sendable, Hashable {
        case channel, connection, returned
    }

    public var code: UInt16
    public var text: String
    public var scope: Scope
    /// The AMQP class and method that caused the close (0 when not applicable).
    public var classID: UInt16
    public var methodID: UInt16

    public init(code: UInt16, text: String, scope: Scope, classID: UInt16 = 0, methodID: UInt16 = 0) {
        self.code = code
        self.text = text
        self.scope = scope
        self.classID = classID
        self.methodID = methodID
    }

    public static let noRoute: UInt16 = 312
    public static let connectionForced: UInt16 = 320
    public static let accessRefused: UInt16 = 403
    public static let notFound: UInt16 = 404
    public static let resourceLocked: UInt16 = 405
    public static let preconditionFailed: UInt16 = 406
    public static let notAllowed: UInt16 = 530

    public var description: String { "\(scope) \(code): \(text)" }
}

/// Every error the AMQP module throws. Descriptions never contain passwords.
public enum AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The URL could not be parsed or uses an unsupported scheme.
    case invalidURL(String)
    /// No TCP/TLS connection or AMQP handshake to any endpoint.
    case connectFailed(endpoint: String, reason: String)
    /// The broker closed a channel or the connection with a reply code
    /// (e.g. 406 PRECONDITION_FAILED for a conflicting declare). A channel error
    /// is recovered by reopening the channel; a connection error by reconnecting.
    case broker(BrokerReply)
    /// The connection went away (socket closed, missed heartbeats, broker
    /// restarting). The connection reconnects by itself; retry later.
    case connectionLost(String)
    /// A `mandatory` message could not be routed to any queue (basic.return).
    case unroutable(BrokerReply)
    /// The broker refused responsibility for the message (basic.nack).
    case nacked
    /// The message was sent but the connection was lost before the broker
    /// confirmed it: it may or may not be enqueued. Publish again; consumers
    /// deduplicate by message id.
    case unconfirmed(String)
    /// An ack/nack/reject for a delivery that arrived on an earlier connection;
    /// the broker has already requeued it and will deliver it again.
    case staleDelivery
    /// The broker cancelled the consumer (e.g. its queue was deleted).
    case consumerCancelled(queue: String)
    /// The application closed the connection or consumer.
    case closed
    /// rabbitmq-c reported an error that is none of the above.
    case library(String)

    /// The broker's reply code when the broker caused the error.
    public var replyCode: UInt16? {
        switch self {
        case .broker(let reply), .unroutable(let reply): reply.code
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .invalidURL(let why): "invalid AMQP URL: \(why)"
        case .connectFailed(let endpoint, let reason): "cannot connect to \(endpoint): \(reason)"
        case .broker(let reply): "broker closed \(reply)"
        case .connectionLost(let why): "connection lost: \(why)"
        case .unroutable(let reply): "message returned unroutable: \(reply.code) \(reply.text)"
        case .nacked: "broker nacked the message"
        case .unconfirmed(let why): "publish not confirmed: \(why)"
        case .staleDelivery: "delivery belongs to an earlier connection; the broker redelivers it"
        case .consumerCancelled(let queue): "broker cancelled the consumer of \(queue)"
        case .closed: "AMQP connection closed"
        case .library(let why): "rabbitmq-c: \(why)"
        }
    }
}
