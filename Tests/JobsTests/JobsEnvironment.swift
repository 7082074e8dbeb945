import AMQP
import Foundation
import Jobs
import Postgres
import Store
import Testing
import TestSupport
import X509

/// An isolated world for one job-runtime test: its own migrated database, its own
/// AMQP name prefix on the broker, its own master key, and real `certfleet` processes.
final class JobsEnvironment: @unchecked Sendable {
    let databaseName: String
    let databaseURL: String
    let amqpURL: String
    let topology: CertFleetTopology
    let db: PostgresClient
    let amqp: AMQPConnection
    let sealer: KeySealer
    let directory: URL
    let project: UUID
    private var processes: [CertFleetProcess] = []
    private let admin: PostgresClient

    /// DATABASEURL/AMQPURL default to the shared local stack; fault tests pass private instances.
    static func make(databaseURL baseURL: String = TestStack.databaseURL, amqpURL: String = TestStack.amqpURL) async throws -> JobsEnvironment {
        try await JobsEnvironment(baseURL: baseURL, amqpURL: amqpURL)
    }

    private init(baseURL: String, amqpURL: String) async throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        databaseName = "jobs_\(suffix)"
        admin = PostgresClient(baseURL, maxConnections: 1)
        try await admin.query("CREATE DATABASE \(unescaped: databaseName)")
        databaseURL = PostgresConfiguration.connectionString(baseURL, replacingDatabase: databaseName)
        db = PostgresClient(databaseURL, maxConnections: 8)
        try await Migrator(db: db, migrations: try Migrator.load(from: TestStack.root.appendingPathComponent("schemas/migrations"))).migrate()
        project = try await Projects.ensure(db, name: "test")
        self.amqpURL = amqpURL
        topology = CertFleetTopology(prefix: "cftest-\(suffix)")
        amqp = try await AMQPConnection.connect(try AMQPConfiguration(urls: amqpURL, connectionName: "jobs-test"))
        try await amqp.declare(topology.topology)
        directory = TestStack.privateStackDirectory("jobs")
        let key = AESGCM.generateKey()
        try Data(key).base64EncodedString().write(to: directory.appendingPathComponent("master.key"), atomically: true, encoding: .utf8)
        sealer = KeySealer(keys: [key])
    }

    var masterKeyFile: String { directory.appendingPathComponent("master.key").path }

    /// The environment every certfleet process of this test gets.
    var processEnvironment: [String: String] {
        ["CERTFLEET_DATABASE_URL": databaseURL, "CERTFLEET_AMQP_URL": amqpURL, "CERTFLEET_AMQP_PREFIX": topology.prefix,
         "CERTFLEET_MASTER_KEY_FILE": masterKeyFile, "CERTFLEET_LOG_LEVEL": "info"]
    }

    func submitter() -> JobSubmitter {
        JobSubmitter(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: .init(label: "test.submit"))
    }

    /// Starts `certfleet worker ARGS` (or scheduler) as a real process.
    @discardableResult
    func start(_ arguments: [String], name: String) throws -> CertFleetProcess {
        let process = try CertFleetProcess(arguments: arguments, environment: processEnvironment,
                                           log: directory.appendingPathComponent("\(name)-\(processes.count).log"))
        processes.append(process)
        return process
    }

    /// Polls CONDITION until it holds or TIMEOUT passes; returns whether it held.
    func eventually(timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    func count(_ query: PostgresQuery) async throws -> Int {
        try await db.query(query).first!.decode(Int.self, at: 0)
    }

    func tearDown() async {
        for process in processes { process.kill() }
        for kind in CertFleetTopology.jobKinds { _ = try? await amqp.deleteQueue(topology.jobQueue(kind)) }
        for queue in [topology.deadLetterQueue, topology.requestsQueue] { _ = try? await amqp.deleteQueue(queue) }
        for exchange in [topology.jobsExchange, topology.eventsExchange, topology.requestsExchange, topology.deadLetterExchange] {
            try? await amqp.deleteExchange(exchange)
        }
        await amqp.close()
        await db.shutdown()
        _ = try? await admin.query("DROP DATABASE \(unescaped: databaseName) WITH (FORCE)")
        await admin.shutdown()
        // CERTFLEET_KEEP_TEST_LOGS=1 keeps the process logs for a post-mortem.
        if TestStack.env("CERTFLEET_KEEP_TEST_LOGS", default: "") != "1" { try? FileManager.default.removeItem(at: directory) }
    }
}

/// A `certfleet` subcommand running as its own process, logging to a file.
final class CertFleetProcess: Sendable {
    let child: ChildProcess
    let logFile: URL

    static var binary: String {
        TestStack.env("CERTFLEET_BINARY", default: TestStack.root.appendingPathComponent(".build/debug/certfleet").path)
    }

    init(arguments: [String], environment: [String: String], log: URL) throws {
        logFile = log
        child = try ChildProcess(Self.binary, arguments, environment: environment, output: log.path)
    }

    var pid: Int32 { child.pid }
    var isRunning: Bool { child.isRunning }
    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// SIGKILL: the crash a worker cannot prepare for.
    func kill() {
        guard child.isRunning else { return }
        child.signal(SIGKILL)
        child.waitForExit()
    }

    /// SIGTERM and wait (up to TIMEOUT) for a graceful exit; returns the exit status.
    func terminate(timeout: Duration = .seconds(30)) async -> Int32? {
        child.signal(SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while child.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return child.isRunning ? nil : child.waitForExit()
    }
}

/// The job tests' bundles (see `SelfSignedFixture`): a good self-signed server certificate with its key,
/// and one whose key belongs to another certificate.
struct UploadFixtures: Sendable {
    let goodChain: String
    let goodKey: String
    let otherKey: String

    static let shared: UploadFixtures = {
        do { return try make() } catch { fatalError("fixtures: \(error)") }
    }()

    static func make() throws -> UploadFixtures {
        let made = try SelfSignedFixture.make(subject: "/CN=jobs.example.com", sans: "DNS:jobs.example.com")
        return UploadFixtures(goodChain: made.chain, goodKey: made.key, otherKey: made.otherKey)
    }

    func upload(project: UUID, good: Bool, name: String? = nil, key idempotencyKey: String? = nil) -> UploadRequest {
        UploadRequest(projectID: project, name: name, commonName: "jobs.example.com", sans: ["jobs.example.com"],
                      chainPEM: goodChain, privateKeyPEM: good ? goodKey : otherKey, idempotencyKey: idempotencyKey, actor: "test")
    }
}
