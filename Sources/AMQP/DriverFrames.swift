import CRabbitMQ

#if canImport(Glibc)
    import Glibc
#endif

/// A message whose content frames are still arriving on one channel.
struct Assembly {
    enum Kind {
        case delivery(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case returned(BrokerReply, exchange: String, routingKey: String)
    }

    var kind: Kind
    var properties = AMQPProperties(persistent: false)
    var expected: Int = -1
    var body: [UInt8] = []
}

/// Reading frames: deliveries, returns, confirms and the broker's closes.
/// Everything is copied out of rabbitmq-c's buffers before they are recycled.
extension Driver {
    /// Handles every frame that can be read without blocking.
    func pumpFrames() {
        var timeout = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        // Bounded so queued work (acks, publishes) is not starved by a busy socket.
        var budget = 4096
        moreToRead = false
        while let connection = conn {
            if budget == 0 {
                moreToRead = true
                return
            }
            budget -= 1
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
            if status == AMQP_STATUS_TIMEOUT.rawValue { return }
            guard status == AMQP_STATUS_OK.rawValue else {
                connectionLost(.connectionLost(amqpErrorString(status)))
                return
            }
            handle(frame, connection)
            if let connection = conn, amqp_frames_enqueued(connection) == 0 {
                amqp_maybe_release_buffers(connection)
            }
        }
    }

    /// Lets rabbitmq-c send a due heartbeat and notice a silent broker; a zero
    /// timeout would skip its missed-heartbeat check, hence one microsecond.
    func checkHeartbeat() {
        guard let connection = conn else { return }
        var timeout = timeval(tv_sec: 0, tv_usec: 1)
        var frame = amqp_frame_t()
        let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
        if status == AMQP_STATUS_OK.rawValue {
            handle(frame, connection)
        } else if status != AMQP_STATUS_TIMEOUT.rawValue {
            connectionLost(.connectionLost(amqpErrorString(status)))
        }
    }

    private func handle(_ frame: amqp_frame_t, _ connection: amqp_connection_state_t) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            handleMethod(frame.payload.method, channel: frame.channel, connection)
        case AMQP_FRAME_HEADER:
            guard var assembly = assemblies[frame.channel] else { return }
            let properties = frame.payload.properties
            if let decoded = properties.decoded {
                assembly.properties = CDecode.properties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            assembly.expected = Int(properties.body_size)
            assembly.body.reserveCapacity(assembly.expected)
            completeOrStore(assembly, channel: frame.channel)
        case AMQP_FRAME_BODY:
            guard var assembly = assemblies[frame.channel] else { return }
            let fragment = frame.payload.body_fragment
            if fragment.len > 0, let base = fragment.bytes {
                assembly.body.append(contentsOf: UnsafeRawBufferPointer(start: base, count: fragment.len))
            }
            completeOrStore(assembly, channel: frame.channel)
        default:
            break
        }
    }

    private func completeOrStore(_ assembly: Assembly, channel: amqp_channel_t) {
        guard assembly.expected >= 0, assembly.body.count >= assembly.expected else {
            assemblies[channel] = assembly
            return
        }
        assemblies[channel] = nil
        switch assembly.kind {
        case .delivery(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            guard let record = consumers[consumerTag] else { return }
            let delivery = AMQPDelivery(
                body: assembly.body, properties: assembly.properties, exchange: exchange, routingKey: routingKey,
                redelivered: redelivered, deliveryTag: deliveryTag, consumerTag: consumerTag,
                generation: record.incarnation, channel: channel)
            record.continuation.yield(delivery)
        case .returned(let reply, _, _):
            confirms.markReturned(messageID: assembly.properties.messageID, reply: reply)
        }
    }

    private func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t, _ connection: amqp_connection_state_t) {
        switch method.id {
        case cf_method_basic_deliver:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            assemblies[channel] = Assembly(
                kind: .delivery(
                    consumerTag: String(amqp: deliver.consumer_tag), deliveryTag: deliver.delivery_tag,
                    redelivered: deliver.redelivered != 0, exchange: String(amqp: deliver.exchange),
                    routingKey: String(amqp: deliver.routing_key)))
        case cf_method_basic_return:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let reply = BrokerReply(code: returned.reply_code, text: String(amqp: returned.reply_text), scope: .returned)
            assemblies[channel] = Assembly(
                kind: .returned(
                    reply, exchange: String(amqp: returned.exchange), routingKey: String(amqp: returned.routing_key)))
        case cf_method_basic_ack where channel == Driver.publishChannel:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirms.settle(upTo: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
            flushWaitingPublishes()
        case cf_method_basic_nack where channel == Driver.publishChannel:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirms.settle(upTo: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
            flushWaitingPublishes()
        case cf_method_basic_cancel:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let tag = String(amqp: cancel.consumer_tag)
            if let record = consumers[tag] {
                logger.warning("AMQP broker cancelled consumer", metadata: ["queue": "\(record.queue)"])
                record.cancelled = true
                record.continuation.finish(throwing: AMQPError.consumerCancelled(queue: record.queue))
            }
        case cf_method_channel_close:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let reply = BrokerReply(
                code: close.reply_code, text: String(amqp: close.reply_text), scope: .channel,
                classID: close.class_id, methodID: close.method_id)
            var ok = amqp_channel_close_ok_t()
            _ = amqp_send_method(connection, channel, cf_method_channel_close_ok, &ok)
            assemblies[channel] = nil
            channelClosedUnexpectedly(channel, reply)
        case cf_method_connection_close:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(connection, 0, cf_method_connection_close_ok, &ok)
            connectionLost(
                .broker(
                    BrokerReply(
                        code: close.reply_code, text: String(amqp: close.reply_text), scope: .connection,
                        classID: close.class_id, methodID: close.method_id)))
        case cf_method_connection_blocked:
            logger.warning("AMQP broker blocked publishing (resource alarm)")
        case cf_method_connection_unblocked:
            logger.info("AMQP broker unblocked publishing")
        default:
            break
        }
    }

    /// A close the application did not ask for, outside any RPC.
    private func channelClosedUnexpectedly(_ channel: amqp_channel_t, _ reply: BrokerReply) {
        logger.error("AMQP broker closed channel", metadata: ["channel": "\(channel)", "error": "\(reply)"])
        if channel == Driver.publishChannel {
            // Confirms for everything in flight are gone with the channel; start clean.
            connectionLost(.broker(reply))
        } else if let record = consumerByChannel[channel] {
            // Typically an ack for an unknown delivery tag (406); its unacked
            // messages are requeued, so resume on a fresh channel.
            record.incarnation = 0
            guard !record.cancelled else { return }
            do {
                try startConsumer(record)
            } catch .broker(let reply) where reply.scope == .channel {
                record.continuation.finish(throwing: AMQPError.broker(reply))
                consumers[record.tag] = nil
                consumerByChannel[channel] = nil
            } catch {
                // Connection-level: connectionLost already ran; restore() resumes the consumer.
            }
        } else {
            channelClosed(channel)
        }
    }
}
