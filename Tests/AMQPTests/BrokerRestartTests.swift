import AMQP
import Foundation
import Messaging
import TestSupport
import Testing

/// Restarts a private broker while a publisher and a consumer are busy.
@Suite struct BrokerRestartTests {
    @Test(.timeLimit(.minutes(3)))
    func confirmedMessagesSurviveABrokerRestartAndTheConsumerResumes() async throws {
        let broker = PrivateBroker()
        try await broker.start()
        do {
            try await run(broker)
        } catch {
            try? await broker.stop(removingData: true)
            throw error
        }
        try await broker.stop(removingData: true)
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
        var restart: Task<Void, any Error>?
        let restarted = RestartFlag()
        var confirmedAfterRestart = 0
        var index = 0
        let started = ContinuousClock.now
        // Publish continuously; the restart runs beside the loop so publishes meet the outage.
        // Until the broker is back and 200 more publishes went through the new connection.
        while confirmedAfterRestart < 200 {
            index += 1
            let id = "m-\(index)"
            do {
                try await publisher.publish(AMQPTest.message("\(index)", id: id), exchange: names.jobsExchange, routingKey: "issue")
                confirmed.insert(id)
                if await restarted.done { confirmedAfterRestart += 1 }
            } catch let error as AMQPError {
                failed += 1
                switch error {
                case .connectionLost, .unconfirmed, .broker: try await Task.sleep(for: .milliseconds(20))
                default: throw error
                }
            }
            if restart == nil && confirmed.count == 200 {
                restart = Task {
                    try await broker.stop()
                    try await broker.start()
                    await restarted.set()
                }
            }
            guard ContinuousClock.now - started < .seconds(120) else {
                Issue.record("publishing did not recover within 120 s")
                break
            }
        }
        try await restart?.value
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

actor RestartFlag {
    private(set) var done = false
    func set() { done = true }
}
