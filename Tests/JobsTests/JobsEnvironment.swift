import AMQP
import Foundation
import Jobs
import Postgres
import Store
import Testing
import ServiceTestSupport
import TestSupport
import X509

/// One job-runtime test's world (see `IsolatedServices`) with a project and helpers.
final class JobsEnvironment: Sendable {
    let services: IsolatedServices
    let project: UUID
    var databaseURL: String { services.databaseURL }
    var topology: CertFleetTopology { services.topology }
    var db: PostgresClient { services.db }
    var amqp: AMQPConnection { services.amqp }
    var sealer: KeySealer { services.sealer }

    /// DATABASEURL/AMQPURL default to the shared local stack; fault tests pass private instances.
    static func make(databaseURL baseURL: String = TestStack.databaseURL, amqpURL: String = TestStack.amqpURL) async throws -> JobsEnvironment {
        let services = try await IsolatedServices(name: "jobs", databaseURL: baseURL, amqpURL: amqpURL)
        return JobsEnvironment(services: services, project: try await Projects.ensure(services.db, name: "test"))
    }

    private init(services: IsolatedServices, project: UUID) {
        self.services = services
        self.project = project
    }

    func submitter() -> JobSubmitter {
        JobSubmitter(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: .init(label: "test.submit"))
    }

    /// Starts `certfleet worker ARGS` (or scheduler) as a real process.
    @discardableResult
    func start(_ arguments: [String], name: String) throws -> CertFleetProcess {
        let log = services.directory.appendingPathComponent("\(name)-\(services.processes.count).log")
        return CertFleetProcess(child: try services.start(arguments, log: log), logFile: log)
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
        await services.tearDown()
    }
}

/// A `certfleet` subcommand running as its own process, logging to a file.
struct CertFleetProcess: Sendable {
    let child: ChildProcess
    let logFile: URL

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
