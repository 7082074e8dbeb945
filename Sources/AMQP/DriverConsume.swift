import CRabbitMQ

/// One consumer: its own channel, prefetch and consumer tag, all kept across
/// reconnects so the consumer resumes by itself.
final class ConsumerRecord {
    let tag: String
    let queue: String
    let prefetch: UInt16
    let channel: amqp_channel_t
    let continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
    /// The channel incarnation deliveries currently arrive on; 0 while not consuming.
    var incarnation = 0
    var cancelled = false

    init(
        tag: String, queue: String, prefetch: UInt16, channel: amqp_channel_t,
        continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
    ) {
        self.tag = tag
        self.queue = queue
        self.prefetch = prefetch
        self.channel = channel
        self.continuation = continuation
    }
}

/// How a delivery is settled.
enum Settlement {
    case ack(multiple: Bool)
    case nack(multiple: Bool, requeue: Bool)
    case reject(requeue: Bool)
}

extension Driver {
    func addConsumer(
        queue: String, prefetch: UInt16,
        continuation: AsyncThrowingStream<AMQPDelivery, any Error>.Continuation
    ) throws(AMQPError) -> ConsumerRecord {
        _ = try requireConnection()
        guard phase == .connected else { throw .closed }
        let channel = nextConsumerChannel
        nextConsumerChannel += 1
        let record = ConsumerRecord(
            tag: "\(configuration.connectionName).\(channel)", queue: queue, prefetch: prefetch, channel: channel,
            continuation: continuation)
        consumers[record.tag] = record
        consumerByChannel[channel] = record
        do {
            try startConsumer(record)
        } catch {
            consumers[record.tag] = nil
            consumerByChannel[channel] = nil
            throw error
        }
        return record
    }

    /// channel.open, basic.qos, basic.consume on the consumer's own channel.
    func startConsumer(_ record: ConsumerRecord) throws(AMQPError) {
        let connection = try requireConnection()
        arena.reset()
        defer { arena.reset() }
        _ = amqp_channel_open(connection, record.channel)
        try check(amqp_get_rpc_reply(connection), on: record.channel, of: connection)
        _ = amqp_basic_qos(connection, record.channel, 0, record.prefetch, 0)
        try check(amqp_get_rpc_reply(connection), on: record.channel, of: connection)
        _ = amqp_basic_consume(
            connection, record.channel, arena.bytes(record.queue), arena.bytes(record.tag), 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(connection), on: record.channel, of: connection)
        nextIncarnation += 1
        record.incarnation = nextIncarnation
    }

    /// basic.cancel: no new deliveries; the channel stays open so deliveries
    /// already handed out can still be acked.
    func cancelConsumer(_ record: ConsumerRecord) {
        guard !record.cancelled else { return }
        record.cancelled = true
        if let connection = conn, record.incarnation != 0 {
            arena.reset()
            _ = amqp_basic_cancel(connection, record.channel, arena.bytes(record.tag))
            arena.reset()
            do {
                try check(amqp_get_rpc_reply(connection), on: record.channel, of: connection)
            } catch {
                logger.debug("AMQP basic.cancel failed", metadata: ["queue": "\(record.queue)", "error": "\(error)"])
            }
        }
        record.continuation.finish()
    }

    func settle(_ delivery: AMQPDelivery, _ settlement: Settlement) throws(AMQPError) {
        guard let connection = conn, let record = consumerByChannel[delivery.channel],
            record.incarnation != 0, record.incarnation == delivery.generation
        else {
            if phase == .closed { throw .closed }
            throw .staleDelivery
        }
        let status: Int32
        switch settlement {
        case .ack(let multiple):
            status = amqp_basic_ack(connection, record.channel, delivery.deliveryTag, multiple ? 1 : 0)
        case .nack(let multiple, let requeue):
            status = amqp_basic_nack(connection, record.channel, delivery.deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        case .reject(let requeue):
            status = amqp_basic_reject(connection, record.channel, delivery.deliveryTag, requeue ? 1 : 0)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = AMQPError.connectionLost(amqpErrorString(status))
            connectionLost(error)
            throw error
        }
    }
}
