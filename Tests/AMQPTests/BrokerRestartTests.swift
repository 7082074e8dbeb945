import AMQP
import Foundation
import Messaging
import TestSupport
import Testing

/// Restarts a private broker while a publisher and a consumer are busy.
@Suite struct BrokerRestartTests {
    @Test(.timeLimit(.minutes(6)))
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
        // The clock for recovery starts once the broker is back: a stop and start under load
        // may itself take minutes on a busy 2-core machine, and that is not the client's doing.
        var backSince: ContinuousClock.Instant?
        // Publish continuously; the restart runs beside the loop so publishes meet the outage.
        // Until the broker is back and 200 more publishes went through the new connection.
        while confirmedAfterRestart < 200 {
            index += 1
            let id = "m-\(index)"
            do {
                try await publisher.publish(AMQPTest.message("\(index)", id: id), exchange: names.jobsExchange, routingKey: "issue")
                confirmed.insert(id)
                if backSince != nil { confirmedAfterRestart += 1 }
            } catch let error as AMQPError {
                failed += 1
                switch error {
                case .connectionLost, .unconfirmed, .broker: try await Task.sleep(for: .milliseconds(20))
                default: throw error
                }
            }
            if restart == nil && confirmed.count == 200 {
                restart = Task {
                    // Marked done when it fails too: the loop then ends and the error is thrown below.
                    do {
                        try await broker.stop()
                        try await broker.start()
                    } catch {
                        await restarted.set()
                        throw error
                    }
                    await restarted.set()
                }
            }
            if backSince == nil, await restarted.done { backSince = .now }
            if let backSince, ContinuousClock.now - backSince > .seconds(120) {
                Issue.record("publishing did not recover within 120 s of the broker being back")
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
