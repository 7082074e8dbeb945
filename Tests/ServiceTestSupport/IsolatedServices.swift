import AMQP
import Foundation
import Messaging
import Postgres
import Store
import TestSupport
import X509

/// The isolated world an integration test of the service runs in: its own migrated
/// database, its own AMQP name prefix on the broker, its own master key, and the real
/// `certfleet` processes it starts. Shared by the job-runtime and API tests.
public final class IsolatedServices: @unchecked Sendable {
    // @unchecked: `processes` is only touched by the test that owns this value.
    public let databaseName: String
    public let databaseURL: String
    public let amqpURL: String
    public let topology: CertFleetTopology
    public let db: PostgresClient
    public let amqp: AMQPConnection
    public let sealer: KeySealer
    /// Logs and the master key file live here.
    public let directory: URL
    public private(set) var processes: [ChildProcess] = []
    private let admin: PostgresClient

    /// NAME prefixes the database, queues and directory; the URLs default to the shared
    /// local stack (fault tests pass private instances).
    public init(name: String, databaseURL baseURL: String = TestStack.databaseURL, amqpURL: String = TestStack.amqpURL) async throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        databaseName = "\(name)_\(suffix)"
        admin = PostgresClient(baseURL, maxConnections: 1)
        try await admin.query("CREATE DATABASE \(unescaped: databaseName)")
        databaseURL = PostgresConfiguration.connectionString(baseURL, replacingDatabase: databaseName)
        db = PostgresClient(databaseURL, maxConnections: 4)
        try await Migrator(db: db, migrations: try Migrator.load(from: TestStack.root.appendingPathComponent("schemas/migrations"))).migrate()
        self.amqpURL = amqpURL
        topology = CertFleetTopology(prefix: "cf\(name)-\(suffix)")
        amqp = try await AMQPConnection.connect(try AMQPConfiguration(urls: amqpURL, connectionName: "\(name)-test"))
        try await amqp.declare(topology.topology)
        directory = TestStack.privateStackDirectory(name)
        let key = AESGCM.generateKey()
        try Data(key).base64EncodedString().write(to: directory.appendingPathComponent("master.key"), atomically: true, encoding: .utf8)
        sealer = KeySealer(keys: [key])
    }

    /// A test that throws never reaches `tearDown`; its processes must not outlive it.
    deinit {
        for process in processes {
            process.signal(SIGKILL)
            process.waitForExit()
        }
    }

    public var masterKeyFile: String { directory.appendingPathComponent("master.key").path }

    /// The environment every certfleet process of this test gets.
    public var processEnvironment: [String: String] {
        [
            "CERTFLEET_DATABASE_URL": databaseURL, "CERTFLEET_AMQP_URL": amqpURL, "CERTFLEET_AMQP_PREFIX": topology.prefix,
            "CERTFLEET_MASTER_KEY_FILE": masterKeyFile, "CERTFLEET_LOG_LEVEL": "info",
            // Dozens of these worlds run at once against one server: keep each process's
            // pool small so their sum stays under the stack's max_connections.
            "CERTFLEET_DATABASE_POOL_SIZE": "6",
            // Tests of issuance name any host under Pebble; TenantSecurityTests cover `enforce`.
            "CERTFLEET_DOMAIN_POLICY": "off",
        ]
    }

    /// The certfleet built with these tests: `CERTFLEET_BINARY`, else the one beside the test bundle.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["CERTFLEET_BINARY"] { return path }
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("certfleet").path
        if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        return TestStack.root.appendingPathComponent(".build/debug/certfleet").path
    }

    /// Starts `certfleet ARGUMENTS` logging to LOG (a file under `directory`); ENVIRONMENT
    /// overrides `processEnvironment` (e.g. another order of the broker URLs).
    @discardableResult
    public func start(_ arguments: [String], log: URL, environment: [String: String] = [:]) throws -> ChildProcess {
        let process = try ChildProcess(
            Self.binary, arguments, environment: processEnvironment.merging(environment) { $1 }, output: log.path)
        processes.append(process)
        return process
    }

    /// Kills the processes, deletes the queues and exchanges, drops the database.
    /// CERTFLEET_KEEP_TEST_LOGS=1 keeps the directory (process logs) for a post-mortem.
    public func tearDown() async {
        for process in processes {
            process.signal(SIGKILL)
            process.waitForExit()
        }
        for kind in CertFleetTopology.jobKinds { _ = try? await amqp.deleteQueue(topology.jobQueue(kind)) }
        for queue in [topology.deadLetterQueue, topology.requestsQueue, topology.requestsDeadLetterQueue] { _ = try? await amqp.deleteQueue(queue) }
        for exchange in [topology.jobsExchange, topology.eventsExchange, topology.requestsExchange, topology.deadLetterExchange] {
            try? await amqp.deleteExchange(exchange)
        }
        await amqp.close()
        await db.shutdown()
        _ = try? await admin.query("DROP DATABASE \(unescaped: databaseName) WITH (FORCE)")
        await admin.shutdown()
        if !TestStack.keepTestLogs { try? FileManager.default.removeItem(at: directory) }
    }
}
