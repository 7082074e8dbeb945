import AMQP
import Foundation
import Jobs
import Messaging
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing
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

    func submitter() -> Submissions {
        .publishing(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: .init(label: "test.submit"))
    }

    /// Starts `certfleet worker ARGS` (or scheduler) as a real process.
    @discardableResult
    func start(_ arguments: [String], name: String, environment: [String: String] = [:]) throws -> CertFleetProcess {
        let log = services.directory.appendingPathComponent("\(name)-\(services.processes.count).log")
        return CertFleetProcess(child: try services.start(arguments, log: log, environment: environment), logFile: log)
    }

    /// Submits COUNT validate jobs, every fifth with a key that does not match (so it must
    /// fail); returns each job's rightful end state. Eight submissions run at a time.
    /// PUBLISH false leaves every job message in the outbox, for the scheduler's relay.
    func submitMixed(count: Int, publish: Bool = true) async throws -> [UUID: String] {
        let fixtures = UploadFixtures.shared
        let submitter = submitter()
        let unpublished = Submissions(db: db, sealer: sealer)
        let project = project
        return try await withThrowingTaskGroup(of: [UUID: String].self) { group in
            for lane in 0..<8 {
                group.addTask {
                    var expected: [UUID: String] = [:]
                    for index in stride(from: lane, to: count, by: 8) {
                        let good = index % 5 != 0
                        let request = fixtures.upload(project: project, good: good)
                        let job = publish ? try await submitter.upload(request) : try await unpublished.upload(request)
                        expected[job.jobID] = good ? "succeeded" : "failed"
                    }
                    return expected
                }
            }
            return try await group.reduce(into: [:]) { $0.merge($1) { first, _ in first } }
        }
    }

    /// Jobs in a terminal state.
    func finishedJobs() async throws -> Int {
        try await count("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')")
    }

    /// How the run ended against EXPECTED (job id → rightful end state; jobs not listed
    /// must have succeeded): stuck jobs, wrong outcomes, and terminal events per job.
    func audit(expected: [UUID: String]) async throws -> JobAudit {
        let rows = try await db.query("SELECT id, state FROM jobs")
        var audit = JobAudit(jobs: rows.count)
        for row in rows {
            let state = try row.decode(String.self, "state")
            if state == "queued" || state == "running" {
                audit.stuck += 1
            } else if expected[try row.decode(UUID.self, "id")] ?? "succeeded" != state {
                audit.wrongOutcome += 1
            }
        }
        let terminalEvents = try await db.query(
            """
            SELECT job_id, count(*) AS n FROM events WHERE type IN ('issued', 'renewed', 'failed', 'deleted') GROUP BY job_id
            """)
        audit.duplicatedTerminalEvent = try terminalEvents.filter { try $0.decode(Int.self, "n") != 1 }.count
        audit.missingTerminalEvent = rows.count - terminalEvents.count
        // The test's own connection may still be reconnecting after a broker fault.
        _ = try await eventually(timeout: .seconds(30)) {
            guard let status = try? await amqp.queueStatus(topology.deadLetterQueue) else { return false }
            audit.deadLetters = status.messages
            return true
        }
        return audit
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

/// The counts a fault run prints and asserts: all zero except `jobs`.
struct JobAudit: CustomStringConvertible {
    var jobs: Int
    var stuck = 0
    var wrongOutcome = 0
    var missingTerminalEvent = 0
    var duplicatedTerminalEvent = 0
    /// -1 when the dead-letter queue could not be read.
    var deadLetters = -1

    var description: String {
        "jobs=\(jobs) finished=\(jobs - stuck) stuck=\(stuck) wrong_outcome=\(wrongOutcome) "
            + "missing_terminal_event=\(missingTerminalEvent) duplicated_terminal_event=\(duplicatedTerminalEvent) dead_letters=\(deadLetters)"
    }

    /// Every job ended once, as it deserved; nothing dead-lettered.
    func expectClean(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(stuck == 0, sourceLocation: sourceLocation)
        #expect(wrongOutcome == 0, sourceLocation: sourceLocation)
        #expect(missingTerminalEvent == 0, sourceLocation: sourceLocation)
        #expect(duplicatedTerminalEvent == 0, sourceLocation: sourceLocation)
        #expect(deadLetters == 0, sourceLocation: sourceLocation)
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
        UploadRequest(
            projectID: project, name: name, commonName: "jobs.example.com", sans: ["jobs.example.com"],
            chainPEM: goodChain, privateKeyPEM: good ? goodKey : otherKey, idempotencyKey: idempotencyKey, actor: "test")
    }
}
