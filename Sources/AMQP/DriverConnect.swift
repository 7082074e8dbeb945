import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// Opening a connection (TCP or TLS, login, channels) and restoring what the
/// application set up on it: topology, publisher confirms, consumers.
extension Driver {
    /// Tries every endpoint once, starting with the one that worked last.
    func connectAny() throws(AMQPError) {
        let endpoints = configuration.endpoints
        var lastError = AMQPError.invalidURL("no endpoint configured")
        for offset in 0..<endpoints.count {
            let index = (endpointIndex + offset) % endpoints.count
            do {
                try open(endpoints[index])
                endpointIndex = index
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private func open(_ endpoint: AMQPEndpoint) throws(AMQPError) {
        guard let connection = amqp_new_connection() else { throw .library("amqp_new_connection failed") }
        var handedOver = false
        defer { if !handedOver { amqp_destroy_connection(connection) } }

        let socket = endpoint.tls ? amqp_ssl_socket_new(connection) : amqp_tcp_socket_new(connection)
        guard let socket else { throw .connectFailed(endpoint: "\(endpoint)", reason: "cannot create socket") }
        if endpoint.tls { try configureTLS(socket, endpoint) }

        var timeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw .connectFailed(endpoint: "\(endpoint)", reason: amqpErrorString(status))
        }
        _ = amqp_set_handshake_timeout(connection, &timeout)
        var rpcTimeout = timeval(configuration.rpcTimeout)
        _ = amqp_set_rpc_timeout(connection, &rpcTimeout)

        try login(connection, endpoint)

        _ = amqp_channel_open(connection, Driver.publishChannel)
        try check(amqp_get_rpc_reply(connection), on: Driver.publishChannel, of: connection)
        _ = amqp_confirm_select(connection, Driver.publishChannel)
        try check(amqp_get_rpc_reply(connection), on: Driver.publishChannel, of: connection)

        handedOver = true
        conn = connection
        rpcChannelOpen = false
        confirms.reset()
        phase = .connected
        try restore()
        setConnected(true)
        logger.debug("AMQP connected", metadata: ["endpoint": "\(endpoint)"])
    }

    private func configureTLS(_ socket: OpaquePointer, _ endpoint: AMQPEndpoint) throws(AMQPError) {
        let tls = configuration.tls
        if let caFile = tls.caFile {
            let status = amqp_ssl_socket_set_cacert(socket, caFile)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .connectFailed(endpoint: "\(endpoint)", reason: "CA file \(caFile): \(amqpErrorString(status))")
            }
        }
        if let certificate = tls.certificateFile, let key = tls.keyFile {
            let status = amqp_ssl_socket_set_key(socket, certificate, key)
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .connectFailed(endpoint: "\(endpoint)", reason: "client certificate: \(amqpErrorString(status))")
            }
        }
        amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
        amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
    }

    private func login(_ connection: amqp_connection_state_t, _ endpoint: AMQPEndpoint) throws(AMQPError) {
        arena.reset()
        defer { arena.reset() }
        // rabbitmq-c merges these with its defaults (product, version, its capabilities).
        var properties = arena.table([
            "connection_name": .string(configuration.connectionName),
            "capabilities": .table([
                "publisher_confirms": true,
                "basic.nack": true,
                "consumer_cancel_notify": true,
                "connection.blocked": true,
            ]),
        ])
        let reply = cf_amqp_login_plain(
            connection, endpoint.vhost, 0, 131_072, Int32(configuration.heartbeatSeconds), &properties,
            endpoint.user, endpoint.password)
        do throws(AMQPError) {
            try check(reply, on: 0, of: connection)
        } catch .connectionLost(let reason) {
            throw .connectFailed(endpoint: "\(endpoint)", reason: reason)
        }
    }

    /// Re-creates what the application declared on earlier connections.
    private func restore() throws(AMQPError) {
        for topology in topologies {
            do {
                try declareNow(topology)
            } catch .broker(let reply) where reply.scope == .channel {
                // Someone changed the broker's topology; keep serving what still works.
                logger.error("AMQP topology no longer declarable", metadata: ["error": "\(reply)"])
            }
        }
        for record in consumers.values.sorted(by: { $0.channel < $1.channel }) {
            if record.cancelled {
                consumers[record.tag] = nil
                consumerByChannel[record.channel] = nil
                continue
            }
            do {
                try startConsumer(record)
            } catch .broker(let reply) where reply.scope == .channel {
                // The queue is gone (404) or locked (405): this consumer cannot resume.
                logger.error("AMQP consumer cannot resume", metadata: ["queue": "\(record.queue)", "error": "\(reply)"])
                record.continuation.finish(throwing: AMQPError.broker(reply))
                consumers[record.tag] = nil
                consumerByChannel[record.channel] = nil
            }
        }
    }

    /// Turns an RPC reply into success or a typed error, answering the broker's
    /// close with close-ok as the protocol requires. A channel close leaves the
    /// connection usable; a connection close or library failure drops it.
    func check(
        _ reply: amqp_rpc_reply_t, on channel: amqp_channel_t,
        of connection: amqp_connection_state_t
    ) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == cf_method_channel_close:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let brokerReply = BrokerReply(
                code: close.reply_code, text: String(amqp: close.reply_text), scope: .channel,
                classID: close.class_id, methodID: close.method_id)
            var ok = amqp_channel_close_ok_t()
            _ = amqp_send_method(connection, channel, cf_method_channel_close_ok, &ok)
            channelClosed(channel)
            throw .broker(brokerReply)
        case AMQP_RESPONSE_SERVER_EXCEPTION where reply.reply.id == cf_method_connection_close:
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError.broker(
                BrokerReply(
                    code: close.reply_code, text: String(amqp: close.reply_text), scope: .connection,
                    classID: close.class_id, methodID: close.method_id))
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(connection, 0, cf_method_connection_close_ok, &ok)
            if connection == conn { connectionLost(error) }
            throw error
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let error = AMQPError.connectionLost(amqpErrorString(reply.library_error))
            if connection == conn { connectionLost(error) }
            throw error
        default:
            throw .library("unexpected RPC reply type \(reply.reply_type.rawValue), method \(reply.reply.id)")
        }
    }

    /// Bookkeeping after the broker closed `channel` (close-ok already sent).
    func channelClosed(_ channel: amqp_channel_t) {
        if channel == Driver.rpcChannel {
            rpcChannelOpen = false
        } else if let record = consumerByChannel[channel] {
            record.incarnation = 0
        }
    }

    func openRPCChannel() throws(AMQPError) -> amqp_connection_state_t {
        let connection = try requireConnection()
        if !rpcChannelOpen {
            _ = amqp_channel_open(connection, Driver.rpcChannel)
            try check(amqp_get_rpc_reply(connection), on: Driver.rpcChannel, of: connection)
            rpcChannelOpen = true
        }
        return connection
    }
}
