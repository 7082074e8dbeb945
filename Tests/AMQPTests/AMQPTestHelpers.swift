import AMQP
import Foundation
import Logging
import Messaging
import TestSupport

/// Shared set-up for the integration tests: every test works under its own
/// topology prefix so the tests can run in parallel on the shared broker.
enum AMQPTest {
    static func configuration(url: String = TestStack.amqpURL, name: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(urls: url, connectionName: "test-\(name)")
        configuration.heartbeatSeconds = 10
        configuration.reconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1))
        return configuration
    }

    static func connect(_ name: String, url: String = TestStack.amqpURL) async throws -> AMQPConnection {
        var logger = Logger(label: "test.\(name)", factory: { StreamLogHandler.standardError(label: $0) })
        // CERTFLEET_TEST_LOG=debug shows the connection's reconnects while a test runs.
        logger.logLevel = ProcessInfo.processInfo.environment["CERTFLEET_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return try await AMQPConnection.connect(configuration(url: url, name: name), logger: logger)
    }

    static func uniqueTopology(_ name: String) -> CertFleetTopology {
        CertFleetTopology(prefix: "test.\(name).\(UUID().uuidString.prefix(8).lowercased())")
    }

    /// Deletes everything `names` declares, so the shared broker does not fill up with test queues.
    static func cleanUp(_ names: CertFleetTopology, on connection: AMQPConnection) async {
        for queue in names.topology.queues { _ = try? await connection.deleteQueue(queue.name) }
        for exchange in names.topology.exchanges { try? await connection.deleteExchange(exchange.name) }
    }

    static func message(_ text: String, id: String? = nil) -> AMQPMessage {
        AMQPMessage(text, properties: AMQPProperties(contentType: "application/json", messageID: id))
    }

    /// Waits up to `timeout` for `condition`.
    static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}

/// A RabbitMQ of its own (own directory, ports, epmd) that a test may stop and
/// start without disturbing the other tests on the shared broker.
struct PrivateBroker {
    let environment: [String: String]
    let url: String
    let directory: URL
    /// `amqps://…` when started with a TLS directory.
    let tlsURL: String?

    /// With `tlsDirectory` (ca.pem, server.pem, server.key) the broker also listens with TLS.
    init(tlsDirectory: String? = nil) {
        directory = TestStack.privateStackDirectory("rabbitmq")
        var ports: Set<Int> = []
        while ports.count < 4 { ports.insert(TestStack.freePort()) }
        let sorted = Array(ports)
        var environment = [
            "CERTFLEET_STACK_DIR": directory.path,
            "CERTFLEET_AMQP_PORT": "\(sorted[0])",
            "CERTFLEET_AMQP_DIST_PORT": "\(sorted[1])",
            "CERTFLEET_AMQP_EPMD_PORT": "\(sorted[2])",
        ]
        if let tlsDirectory {
            environment["CERTFLEET_AMQPS_PORT"] = "\(sorted[3])"
            environment["CERTFLEET_AMQP_TLS_DIR"] = tlsDirectory
            tlsURL = "amqps://guest:guest@localhost:\(sorted[3])/"
        } else {
            tlsURL = nil
        }
        self.environment = environment
        url = "amqp://guest:guest@127.0.0.1:\(sorted[0])/"
    }

    func start() async throws { try await ctl("start") }
    /// Stops the broker; with `removingData` its directory (data, logs, cookie) goes too.
    func stop(removingData: Bool = false) async throws {
        try await ctl("stop")
        if removingData { try? FileManager.default.removeItem(at: directory) }
    }

    /// `deploy/local/ctl ACTION rabbitmq` for this instance.
    private func ctl(_ action: String) async throws {
        try await TestStack.ctl([action, "rabbitmq"], environment: environment)
    }
}

/// Collects consumed message ids from another task.
actor IDCollector {
    private(set) var ids: Set<String> = []
    private(set) var redeliveries = 0
    func add(_ id: String?, redelivered: Bool) {
        if let id { ids.insert(id) }
        if redelivered { redeliveries += 1 }
    }
}
