import AMQP
import Foundation
import TestSupport
import Testing

/// Integration tests against the shared local broker (`deploy/local/ctl start rabbitmq`).
@Suite struct BrokerTests {
    @Test func roundTripCarriesHeadersAndProperties() async throws {
        let connection = try await AMQPTest.connect("roundtrip")
        let names = AMQPTest.uniqueTopology("roundtrip")
        try await connection.declare(names.topology)
        var properties = AMQPProperties(
            contentType: "application/json", headers: ["attempt": 2, "tenant": "acme"], correlationID: "corr-1",
            replyTo: "reply.queue", messageID: "job-1")
        properties.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try await connection.publish(
            AMQPMessage(#"{"schema":"job.v1"}"#, properties: properties), exchange: names.jobsExchange, routingKey: "issue")

        let consumer = try await connection.consume(queue: names.jobQueue("issue"), prefetch: 5)
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(delivery.text == #"{"schema":"job.v1"}"#)
        #expect(delivery.messageID == "job-1")
        #expect(delivery.properties.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(delivery.headers["attempt"] == 2)
        #expect(delivery.headers["tenant"] == "acme")
        #expect(delivery.replyTo == "reply.queue")
        #expect(delivery.correlationID == "corr-1")
        #expect(delivery.properties.persistent)
        #expect(delivery.properties.contentType == "application/json")
        #expect(delivery.routingKey == "issue")
        #expect(delivery.exchange == names.jobsExchange)
        #expect(!delivery.redelivered)
        try await consumer.ack(delivery)

        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func publishReturnsAfterConfirmForRoutedMessages() async throws {
        let connection = try await AMQPTest.connect("confirm")
        let names = AMQPTest.uniqueTopology("confirm")
        try await connection.declare(names.topology)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await connection.publish(AMQPTest.message("\(index)"), exchange: names.jobsExchange, routingKey: "renew")
                }
            }
            try await group.waitForAll()
        }
        // Confirmed means enqueued: all 200 are in the queue now.
        #expect(try await connection.queueStatus(names.jobQueue("renew")).messages == 200)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func unroutableMandatoryMessageIsATypedError() async throws {
        let connection = try await AMQPTest.connect("unroutable")
        let names = AMQPTest.uniqueTopology("unroutable")
        try await connection.declare(names.topology)
        await #expect(throws: AMQPError.unroutable(BrokerReply(code: 312, text: "NO_ROUTE", scope: .returned))) {
            try await connection.publish(AMQPTest.message("x"), exchange: names.jobsExchange, routingKey: "no-such-kind")
        }
        // Routed messages around it still confirm.
        try await connection.publish(AMQPTest.message("y"), exchange: names.jobsExchange, routingKey: "issue")
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func rejectWithoutRequeueDeadLetters() async throws {
        let connection = try await AMQPTest.connect("deadletter")
        let names = AMQPTest.uniqueTopology("deadletter")
        try await connection.declare(names.topology)
        try await connection.publish(AMQPTest.message("bad", id: "poison"), exchange: names.jobsExchange, routingKey: "validate")
        let consumer = try await connection.consume(queue: names.jobQueue("validate"))
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        try await consumer.reject(delivery, requeue: false)

        let dead = try await connection.consume(queue: names.deadLetterQueue)
        var deadIterator = dead.makeAsyncIterator()
        let deadLettered = try #require(try await deadIterator.next())
        #expect(deadLettered.messageID == "poison")
        #expect(deadLettered.text == "bad")
        // RabbitMQ records why and from where in x-death.
        guard case .array(let deaths)? = deadLettered.headers["x-death"], case .table(let death)? = deaths.first else {
            Issue.record("no x-death header: \(deadLettered.headers)")
            return
        }
        #expect(death["reason"] == "rejected")
        #expect(death["queue"] == .string(names.jobQueue("validate")))
        try await dead.ack(deadLettered)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func prefetchBoundsUnackedDeliveries() async throws {
        let connection = try await AMQPTest.connect("prefetch")
        let names = AMQPTest.uniqueTopology("prefetch")
        try await connection.declare(names.topology)
        for index in 0..<10 {
            try await connection.publish(AMQPTest.message("\(index)"), exchange: names.jobsExchange, routingKey: "issue")
        }
        let consumer = try await connection.consume(queue: names.jobQueue("issue"), prefetch: 3)
        let received = Received()
        let reader = Task {
            for try await delivery in consumer { await received.append(delivery) }
        }
        #expect(await AMQPTest.eventually { await received.count == 3 })
        try await Task.sleep(for: .milliseconds(500))
        #expect(await received.count == 3, "the broker must not send more than the prefetch count unacked")
        try await consumer.ack(await received.first!)
        #expect(await AMQPTest.eventually { await received.count == 4 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(await received.count == 4)
        try await consumer.cancel()
        _ = try await reader.value
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func unackedMessageIsRedeliveredAfterConsumerCloses() async throws {
        let names = AMQPTest.uniqueTopology("redeliver")
        let first = try await AMQPTest.connect("redeliver-1")
        try await first.declare(names.topology)
        try await first.publish(AMQPTest.message("again", id: "m-1"), exchange: names.jobsExchange, routingKey: "delete")
        let consumer = try await first.consume(queue: names.jobQueue("delete"))
        var iterator = consumer.makeAsyncIterator()
        let delivery = try #require(try await iterator.next())
        #expect(!delivery.redelivered)
        await first.close() // without ack

        let second = try await AMQPTest.connect("redeliver-2")
        let again = try await second.consume(queue: names.jobQueue("delete"))
        var againIterator = again.makeAsyncIterator()
        let redelivery = try #require(try await againIterator.next())
        #expect(redelivery.messageID == "m-1")
        #expect(redelivery.redelivered)
        try await again.ack(redelivery)
        await AMQPTest.cleanUp(names, on: second)
        await second.close()
    }

    @Test func declaringTheTopologyTwiceIsANoOp() async throws {
        let connection = try await AMQPTest.connect("twice")
        let names = AMQPTest.uniqueTopology("twice")
        try await connection.declare(names.topology)
        try await connection.publish(AMQPTest.message("kept"), exchange: names.jobsExchange, routingKey: "revoke")
        try await connection.declare(names.topology)
        #expect(try await connection.queueStatus(names.jobQueue("revoke")).messages == 1)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func conflictingDeclareIsPreconditionFailedAndTheConnectionRecovers() async throws {
        let connection = try await AMQPTest.connect("conflict")
        let names = AMQPTest.uniqueTopology("conflict")
        try await connection.declare(names.topology)
        let classic = Topology(queues: [Topology.Queue(name: names.jobQueue("issue"))]) // no x-queue-type
        do {
            try await connection.declare(classic)
            Issue.record("declare with other arguments succeeded")
        } catch let error as AMQPError {
            #expect(error.replyCode == BrokerReply.preconditionFailed)
            guard case .broker(let reply) = error else { throw error }
            #expect(reply.scope == .channel)
            #expect(reply.text.contains("PRECONDITION_FAILED"))
        }
        // Same connection, same RPC channel (reopened): still works.
        #expect(connection.isConnected)
        try await connection.publish(AMQPTest.message("after"), exchange: names.jobsExchange, routingKey: "issue")
        #expect(try await connection.queueStatus(names.jobQueue("issue")).messages == 1)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }

    @Test func missingQueueIsNotFound() async throws {
        let connection = try await AMQPTest.connect("notfound")
        await #expect(throws: AMQPError.self) { _ = try await connection.consume(queue: "test.no-such-queue-\(UUID())") }
        do {
            _ = try await connection.queueStatus("test.no-such-queue-\(UUID())")
        } catch let error as AMQPError {
            #expect(error.replyCode == BrokerReply.notFound)
        }
        #expect(connection.isConnected)
        await connection.close()
    }

    @Test func wrongPasswordIsAccessRefused() async throws {
        let url = TestStack.amqpURL.replacingOccurrences(of: "guest:guest@", with: "guest:wrong@")
        do {
            _ = try await AMQPTest.connect("refused", url: url)
            Issue.record("login with a wrong password succeeded")
        } catch let error as AMQPError {
            #expect(error.replyCode == BrokerReply.accessRefused)
        }
    }
}

actor Received {
    private(set) var deliveries: [AMQPDelivery] = []
    var count: Int { deliveries.count }
    var first: AMQPDelivery? { deliveries.first }
    func append(_ delivery: AMQPDelivery) { deliveries.append(delivery) }
}

@Suite struct ShutdownTests {
    @Test func cancelEndsDeliveriesButInFlightAcksStillCount() async throws {
        let connection = try await AMQPTest.connect("cancel")
        let names = AMQPTest.uniqueTopology("cancel")
        try await connection.declare(names.topology)
        for index in 0..<3 {
            try await connection.publish(AMQPTest.message("\(index)"), exchange: names.jobsExchange, routingKey: "issue")
        }
        let consumer = try await connection.consume(queue: names.jobQueue("issue"), prefetch: 1)
        var iterator = consumer.makeAsyncIterator()
        let inFlight = try #require(try await iterator.next())
        try await consumer.cancel()
        // The sequence ends (the prefetch window held only the one in hand)…
        #expect(try await iterator.next() == nil)
        // …and the delivery being worked on can still be acked before shutdown.
        try await consumer.ack(inFlight)
        #expect(await AMQPTest.eventually { (try? await connection.queueStatus(names.jobQueue("issue")).messages) == 2 })
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
        #expect(!connection.isConnected)
        await #expect(throws: AMQPError.closed) {
            try await connection.publish(AMQPTest.message("late"), exchange: names.jobsExchange, routingKey: "issue")
        }
    }

    @Test func closeWaitsForOutstandingConfirms() async throws {
        let connection = try await AMQPTest.connect("drain")
        let names = AMQPTest.uniqueTopology("drain")
        try await connection.declare(names.topology)
        let cleaner = try await AMQPTest.connect("drain-check")
        // Submitted before close: the inbox is FIFO, so each is sent and then confirmed before the connection closes.
        let publishes = (0..<100).map { index in
            Task { try await connection.publish(AMQPTest.message("\(index)"), exchange: names.jobsExchange, routingKey: "renew") }
        }
        try await Task.sleep(for: .milliseconds(50))
        await connection.close()
        var confirmed = 0
        for publish in publishes where (try? await publish.value) != nil { confirmed += 1 }
        #expect(confirmed == 100)
        #expect(try await cleaner.queueStatus(names.jobQueue("renew")).messages == confirmed)
        await AMQPTest.cleanUp(names, on: cleaner)
        await cleaner.close()
    }
}

@Suite struct BatchPublishTests {
    @Test func batchReportsEachMessageInOrder() async throws {
        let connection = try await AMQPTest.connect("batch")
        let names = AMQPTest.uniqueTopology("batch")
        try await connection.declare(names.topology)
        let batch = (0..<50).map { index in
            AMQPPublish(
                AMQPTest.message("\(index)"), exchange: names.jobsExchange,
                routingKey: index == 7 ? "no-such-kind" : "issue")
        }
        let results = await connection.publish(batch: batch)
        #expect(results.count == 50)
        for (index, result) in results.enumerated() {
            if index == 7 {
                #expect(throws: AMQPError.self) { try result.get() }
            } else {
                #expect(throws: Never.self) { try result.get() }
            }
        }
        #expect(try await connection.queueStatus(names.jobQueue("issue")).messages == 49)
        await AMQPTest.cleanUp(names, on: connection)
        await connection.close()
    }
}
