import AMQP
import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `certfleet bench amqp`: persistent, confirmed publishes/s and consume+ack/s
/// on a quorum queue through the AMQP module, next to a pika baseline measured
/// in the same run against the same broker (deploy/bench/amqp_baseline.py, run from
/// the git-ignored `.venv-tools` of deploy/local/python-tools).
struct BenchAMQP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "amqp", abstract: "Benchmark the AMQP module.")

    @Option(help: "Broker URL (default: CERTFLEET_AMQP_URL or the local stack).")
    var url = ProcessInfo.processInfo.environment["CERTFLEET_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:55672/"
    @Option(help: "Messages per phase.") var messages = 20_000
    @Option(help: "Body size in bytes.") var size = 256
    @Option(help: "Unconfirmed publishes in flight.") var window = 1_000
    @Option(help: "Consumer prefetch.") var prefetch: UInt16 = 1_000
    @Flag(help: "Skip the pika baseline.") var skipBaseline = false

    func run() async throws {
        print("AMQP bench: \(messages) persistent messages of \(size) B, quorum queue, window \(window), prefetch \(prefetch)")
        let swift = try await measure()
        print(
            String(
                format: "certfleet (rabbitmq-c): publish+confirm %8.0f msg/s   consume+ack %8.0f msg/s",
                swift.publish, swift.consume))
        guard !skipBaseline else { return }
        let baseline = try await Baseline(root: Self.root).run(
            url: url, messages: messages, size: size, window: window, prefetch: Int(prefetch))
        print(
            String(
                format: "pika baseline:          publish+confirm %8.0f msg/s   consume+ack %8.0f msg/s",
                baseline.publish, baseline.consume))
        print(
            String(
                format: "ratio (certfleet / pika): publish %.2f   consume %.2f   (target >= 1.0)",
                swift.publish / baseline.publish, swift.consume / baseline.consume))
    }

    /// The checkout this binary was built from (for the baseline script and venv).
    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() } // Sources/certfleet/BenchAMQP.swift
        return url
    }

    private func measure() async throws -> (publish: Double, consume: Double) {
        var configuration = try AMQPConfiguration(urls: url, connectionName: "certfleet-bench-publisher")
        configuration.publishWindow = window
        let publisher = try await AMQPConnection.connect(configuration)
        configuration.connectionName = "certfleet-bench-consumer"
        let consumerConnection = try await AMQPConnection.connect(configuration)
        let queue = "certfleet.bench.swift.\(UUID().uuidString.prefix(8).lowercased())"
        try await publisher.declare(Topology(queues: [.quorum(queue)]))

        let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let count = messages
        let window = window
        let publishStart = ContinuousClock.now
        // Batches hand many messages to the connection's thread at once; the
        // connection keeps at most `window` unconfirmed on the wire.
        let batchSize = max(1, min(100, window / 4))
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            for start in stride(from: 0, to: count, by: batchSize) {
                if inFlight >= max(1, window / batchSize) {
                    try await group.next()
                    inFlight -= 1
                }
                let batch = (start..<min(start + batchSize, count)).map { index in
                    AMQPPublish(
                        AMQPMessage(
                            body: body,
                            properties: AMQPProperties(
                                contentType: "application/json", messageID: "bench-\(index)")),
                        exchange: "", routingKey: queue, mandatory: false)
                }
                group.addTask {
                    for result in await publisher.publish(batch: batch) { try result.get() }
                }
                inFlight += 1
            }
            try await group.waitForAll()
        }
        let publishSeconds = (ContinuousClock.now - publishStart).benchSeconds

        let consumeStart = ContinuousClock.now
        let consumer = try await consumerConnection.consume(queue: queue, prefetch: prefetch)
        var received = 0
        for try await delivery in consumer {
            try await consumer.ack(delivery)
            received += 1
            if received == count { break }
        }
        let consumeSeconds = (ContinuousClock.now - consumeStart).benchSeconds
        try await consumer.cancel()
        _ = try? await publisher.deleteQueue(queue)
        await consumerConnection.close()
        await publisher.close()
        return (Double(count) / publishSeconds, Double(count) / consumeSeconds)
    }
}

/// Runs deploy/bench/amqp_baseline.py with pika, from the `.venv-tools` that
/// deploy/local/python-tools prepares (once; later runs find it ready).
struct Baseline {
    let root: URL

    func run(url: String, messages: Int, size: Int, window: Int, prefetch: Int) async throws -> (publish: Double, consume: Double) {
        let tools = try await spawn([root.appendingPathComponent("deploy/local/python-tools").path])
        let python = tools.trimmingCharacters(in: .whitespacesAndNewlines)
        let output = try await spawn([
            python, root.appendingPathComponent("deploy/bench/amqp_baseline.py").path, "--url", url,
            "--messages", "\(messages)", "--size", "\(size)", "--window", "\(window)", "--prefetch", "\(prefetch)",
        ])
        struct Figures: Decodable {
            let publish_per_s: Double
            let consume_per_s: Double
        }
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let figures = try? JSONDecoder().decode(Figures.self, from: Data(line.utf8))
        else { throw BenchFailure("baseline printed no figures: \(output)") }
        return (figures.publish_per_s, figures.consume_per_s)
    }

    /// posix_spawn + waitpid on a thread of its own: Foundation's
    /// `Process.waitUntilExit` can hang when awaited from Swift concurrency here.
    @discardableResult
    private func spawn(_ arguments: [String]) async throws -> String {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("cf-bench-\(UUID().uuidString).out").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
                let argv = arguments.map { strdup($0) } + [nil]
                var pid: pid_t = 0
                var status: Int32 = -1
                if posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 {
                    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                }
                posix_spawn_file_actions_destroy(&actions)
                argv.forEach { free($0) }
                continuation.resume(returning: status)
            }
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0 else { throw BenchFailure("\(arguments.joined(separator: " ")) failed (\(status)): \(output)") }
        return output
    }
}

extension Duration {
    fileprivate var benchSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
