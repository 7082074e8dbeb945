import CRabbitMQ

/// Synchronous methods on the RPC channel: declares, deletes, passive checks.
extension Driver {
    func declareNow(_ topology: Topology) throws(AMQPError) {
        let connection = try openRPCChannel()
        defer { arena.reset() }
        let channel = Driver.rpcChannel
        let noArguments = amqp_table_t(num_entries: 0, entries: nil)
        for exchange in topology.exchanges {
            arena.reset()
            _ = amqp_exchange_declare(
                connection, channel, arena.bytes(exchange.name), arena.bytes(exchange.type.rawValue), 0,
                exchange.durable ? 1 : 0, 0, 0, noArguments)
            try check(amqp_get_rpc_reply(connection), on: channel, of: connection)
        }
        for queue in topology.queues {
            arena.reset()
            _ = amqp_queue_declare(
                connection, channel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0, queue.exclusive ? 1 : 0,
                queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
            try check(amqp_get_rpc_reply(connection), on: channel, of: connection)
        }
        for binding in topology.bindings {
            arena.reset()
            _ = amqp_queue_bind(
                connection, channel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                arena.bytes(binding.routingKey), noArguments)
            try check(amqp_get_rpc_reply(connection), on: channel, of: connection)
        }
    }

    /// Passive queue.declare: the queue's ready-message and consumer counts; 404 when absent.
    func queueStatus(_ name: String) throws(AMQPError) -> AMQPQueueStatus {
        let connection = try openRPCChannel()
        arena.reset()
        defer { arena.reset() }
        let ok = amqp_queue_declare(
            connection, Driver.rpcChannel, arena.bytes(name), 1, 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(connection), on: Driver.rpcChannel, of: connection)
        guard let ok else { throw .library("queue.declare-ok missing") }
        return AMQPQueueStatus(messages: Int(ok.pointee.message_count), consumers: Int(ok.pointee.consumer_count))
    }

    func deleteQueue(_ name: String) throws(AMQPError) -> Int {
        let connection = try openRPCChannel()
        arena.reset()
        defer { arena.reset() }
        let ok = amqp_queue_delete(connection, Driver.rpcChannel, arena.bytes(name), 0, 0)
        try check(amqp_get_rpc_reply(connection), on: Driver.rpcChannel, of: connection)
        return Int(ok?.pointee.message_count ?? 0)
    }

    func deleteExchange(_ name: String) throws(AMQPError) {
        let connection = try openRPCChannel()
        arena.reset()
        defer { arena.reset() }
        _ = amqp_exchange_delete(connection, Driver.rpcChannel, arena.bytes(name), 0)
        try check(amqp_get_rpc_reply(connection), on: Driver.rpcChannel, of: connection)
    }
}

/// Counts from a passive queue.declare.
public struct AMQPQueueStatus: Sendable, Hashable {
    /// Messages ready for delivery (not counting unacked ones).
    public var messages: Int
    public var consumers: Int
}
