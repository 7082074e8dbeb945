import CRabbitMQ
import Foundation

/// One message waiting to be sent and confirmed; `complete` runs once, on the
/// connection's thread, with the broker's verdict.
struct PublishRequest: Sendable {
    var message: AMQPMessage
    var exchange: String
    var routingKey: String
    var mandatory: Bool
    var complete: @Sendable (Result<Void, AMQPError>) -> Void
}

/// Publisher confirms on the publish channel. Delivery tags are consecutive
/// from 1 per channel, so pending publishes live in an array in tag order and
/// an ack (possibly `multiple`) settles a prefix or one entry by index.
struct ConfirmTracker {
    private struct Pending {
        let tag: UInt64
        let messageID: String?
        let complete: @Sendable (Result<Void, AMQPError>) -> Void
        var returned: BrokerReply?
        var settled = false
    }

    private var entries: [Pending] = []
    private var head = 0
    private(set) var nextTag: UInt64 = 1
    private(set) var outstanding = 0

    var isEmpty: Bool { outstanding == 0 }

    mutating func reset() {
        failAll(.unconfirmed("channel reopened"))
        nextTag = 1
    }

    mutating func add(messageID: String?, complete: @escaping @Sendable (Result<Void, AMQPError>) -> Void) {
        entries.append(Pending(tag: nextTag, messageID: messageID, complete: complete))
        nextTag += 1
        outstanding += 1
    }

    /// basic.return carries no delivery tag, but RabbitMQ sends it before the
    /// message's ack; the message id identifies it (the oldest unsettled match).
    mutating func markReturned(messageID: String?, reply: BrokerReply) {
        for index in head..<entries.count
        where !entries[index].settled && entries[index].returned == nil && entries[index].messageID == messageID {
            entries[index].returned = reply
            return
        }
    }

    mutating func settle(upTo tag: UInt64, multiple: Bool, acked: Bool) {
        guard head < entries.count else { return }
        let first = entries[head].tag
        guard tag >= first else { return }
        let last = head + Int(tag - first)
        guard last < entries.count else { return }
        for index in (multiple ? head : last)...last where !entries[index].settled {
            entries[index].settled = true
            outstanding -= 1
            let entry = entries[index]
            if !acked {
                entry.complete(.failure(.nacked))
            } else if let returned = entry.returned {
                entry.complete(.failure(.unroutable(returned)))
            } else {
                entry.complete(.success(()))
            }
        }
        while head < entries.count && entries[head].settled { head += 1 }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 4096 {
            entries.removeFirst(head)
            head = 0
        }
    }

    mutating func failAll(_ error: AMQPError) {
        for index in head..<entries.count where !entries[index].settled {
            entries[index].complete(.failure(error))
        }
        entries.removeAll(keepingCapacity: true)
        head = 0
        outstanding = 0
    }
}

extension Driver {
    func publish(_ request: PublishRequest) {
        switch phase {
        case .closed, .draining:
            return request.complete(.failure(.closed))
        default:
            guard conn != nil else {
                return request.complete(.failure(.connectionLost("not connected; reconnecting")))
            }
        }
        if confirms.outstanding >= configuration.publishWindow || !waitingPublishes.isEmpty {
            waitingPublishes.append(request)
            return
        }
        send(request)
    }

    /// Sends queued publishes while the window has room.
    func flushWaitingPublishes() {
        guard !waitingPublishes.isEmpty else { return }
        let room = configuration.publishWindow - confirms.outstanding
        guard room > 0 else { return }
        let batch = waitingPublishes.prefix(room)
        waitingPublishes.removeFirst(batch.count)
        for request in batch {
            guard conn != nil else {
                request.complete(.failure(.connectionLost("not connected; reconnecting")))
                continue
            }
            send(request)
        }
    }

    private func send(_ request: PublishRequest) {
        guard let connection = conn else {
            return request.complete(.failure(.connectionLost("not connected; reconnecting")))
        }
        defer { arena.reset() }
        var properties = arena.properties(request.message.properties)
        let exchange = arena.bytes(request.exchange)
        let routingKey = arena.bytes(request.routingKey)
        let status = request.message.body.withUnsafeBytes { body in
            amqp_basic_publish(
                connection, Driver.publishChannel, exchange, routingKey, request.mandatory ? 1 : 0, 0, &properties,
                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            // Part of the message may have left: its fate is unknown.
            request.complete(.failure(.unconfirmed(amqpErrorString(status))))
            connectionLost(.connectionLost(amqpErrorString(status)))
            return
        }
        confirms.add(messageID: request.message.properties.messageID, complete: request.complete)
    }
}
