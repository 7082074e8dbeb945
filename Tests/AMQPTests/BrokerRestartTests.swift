import AMQP
import Foundation
import Testing
import TestSupport

/// Restarts a private broker while a publisher and a consumer are busy.
@Suite struct BrokerRestartTests {
    @Test(.timeLimit(.minutes(3)))
    func confirmedMessagesSurviveABrokerRestartAndTheConsumerResumes() async throws {
        let broker = PrivateBroker()
        try await broker.start()
        do {
            try await run(broker)
        } catch {
            try? await broker.stop()
            throw error
        }
        try await broker.stop()
    }

    private func run(_ broker: PrivateBroker) async throws {
        let names = CertFleetTopology()
        let publisher = try await AMQPTest.connect("restart-pub", url: broker.url)
        let consumerConnection = try await AMQPTest.connect("restart-con", url: broker.url)
        try await publisher.declare(names.topology)
        try await consumerConnection.declare(names.topology)

        let consumed = IDCollector()
        let consumer = try await consumerConnection.consume(queue: names.jobQueue("issue"), prefetch: 20)
        let reader = Task {
            for try await delivery in consumer {
                await consumed.add(delivery.messageID, redelivered: delivery.redelivered)
                // A stale ack after the reconnect is expected; the broker redelivers.
                try? await consumer.ack(delivery)
            }
        }

        var confirmed: Set<String> = []
        var failed = 0
        var restarted = false
        var index = 0
        let started = ContinuousClock.now
        while confirmed.count < 400 || !restarted {
            index += 1
            let id = "m-\(index)"
            do {
                try await publisher.publish(AMQPTest.message("\(index)", id: id), exchange: names.jobsExchange, routingKey: "issue")
                confirmed.insert(id)
            } catch let error as AMQPError {
                failed += 1
                switch error {
                case .connectionLost, .unconfirmed, .broker: try await Task.sleep(for: .milliseconds(20))
                default: throw error
                }
            }
            if !restarted && confirmed.count == 200 {
                try await broker.stop()
                try await broker.start()
                restarted = true
            }
            #expect(ContinuousClock.now - started < .seconds(120))
        }
        #expect(failed > 0, "the publisher saw the broker go away")
        #expect(publisher.connectionCount >= 2)

        let allConsumed = await AMQPTest.eventually(timeout: .seconds(30)) {
            confirmed.isSubset(of: await consumed.ids)
        }
        let missing = confirmed.subtracting(await consumed.ids)
        #expect(allConsumed, "lost \(missing.count) confirmed messages, e.g. \(missing.prefix(5))")
        #expect(consumerConnection.connectionCount >= 2, "the consumer reconnected by itself")

        try await consumer.cancel()
        _ = try? await reader.value
        await publisher.close()
        await consumerConnection.close()
    }
}
