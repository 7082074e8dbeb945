import Foundation
import Jobs
import Postgres
import Store
import Testing
import TestSupport

/// The fault run of the job runtime: three worker processes, hundreds of validate jobs,
/// a worker SIGKILLed and restarted every ~2 s, the broker and the database restarted once
/// each. Runs on a private PostgreSQL and RabbitMQ (started by the project's scripts) so the
/// restarts cannot disturb other tests.
@Suite("Fault run", .serialized)
struct FaultRunTests {
    static let jobCount = Int(TestStack.env("CERTFLEET_FAULT_RUN_JOBS", default: "500"))!

    @Test func everyJobEndsExactlyOnceThroughKillsAndRestarts() async throws {
        let stackDirectory = TestStack.privateStackDirectory("fault-run")
        let pgPort = TestStack.freePort()
        var amqpPort = TestStack.freePort()
        while !(1...2).allSatisfy({ !TestStack.isListening(port: amqpPort + $0) }) || amqpPort == pgPort { amqpPort = TestStack.freePort() }
        let stack = ["CERTFLEET_STACK_DIR": stackDirectory.path, "CERTFLEET_PG_PORT": "\(pgPort)", "CERTFLEET_AMQP_PORT": "\(amqpPort)"]
        try TestStack.ctl(["start", "postgres", "rabbitmq"], environment: stack)
        defer {
            _ = try? TestStack.ctl(["stop", "rabbitmq", "postgres"], environment: stack)
            try? FileManager.default.removeItem(at: stackDirectory)
        }
        let env = try await JobsEnvironment.make(
            databaseURL: "postgres://certfleet@127.0.0.1:\(pgPort)/certfleet", amqpURL: "amqp://guest:guest@127.0.0.1:\(amqpPort)/")

        // A mix of good and bad bundles; each job's rightful end is known in advance.
        let fixtures = UploadFixtures.shared
        let submitter = env.submitter()
        var expected: [UUID: String] = [:]
        for index in 0..<Self.jobCount {
            let good = index % 5 != 0
            let job = try await submitter.upload(fixtures.upload(project: env.project, good: good))
            expected[job.jobID] = good ? "succeeded" : "failed"
        }

        try env.start(["scheduler", "--reap-interval", "1"], name: "scheduler")
        let workerArguments = ["worker", "--concurrency", "4", "--lease", "5"]
        var workers = try (0..<3).map { try env.start(workerArguments, name: "worker-\($0)") }

        var kills = 0
        var brokerRestarted = false, databaseRestarted = false
        let started = ContinuousClock.now
        let deadline = started + .seconds(300)
        func finished() async throws -> Int {
            try await env.count("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')")
        }
        while ContinuousClock.now < deadline {
            let done = (try? await finished()) ?? 0
            // Both restarts happen even when the jobs outrun them (they finish in ~15 s).
            if done >= Self.jobCount && brokerRestarted && databaseRestarted { break }
            try await Task.sleep(for: .seconds(2))
            let victim = Int.random(in: 0..<workers.count)
            workers[victim].kill()
            kills += 1
            workers[victim] = try env.start(workerArguments, name: "worker-\(victim)-\(kills)")
            if !brokerRestarted && done >= Self.jobCount / 4 {
                brokerRestarted = true
                try TestStack.ctl(["restart", "rabbitmq"], environment: stack)
            } else if brokerRestarted && !databaseRestarted && done >= Self.jobCount / 2 {
                databaseRestarted = true
                try TestStack.ctl(["restart", "postgres"], environment: stack)
            }
        }

        let rows = try await env.db.query("SELECT id, state FROM jobs")
        var wrong = 0, stuck = 0
        for row in rows {
            let state = try row.decode(String.self, "state")
            if state == "queued" || state == "running" { stuck += 1 } else if expected[try row.decode(UUID.self, "id")] != state { wrong += 1 }
        }
        let terminalEvents = try await env.db.query("""
            SELECT job_id, count(*) AS n FROM events WHERE type IN ('issued', 'renewed', 'failed', 'deleted') GROUP BY job_id
            """)
        let duplicated = try terminalEvents.filter { try $0.decode(Int.self, "n") != 1 }.count
        let missing = Self.jobCount - terminalEvents.count
        // The test's own connection may still be reconnecting after the broker restart.
        var deadLetters = -1
        _ = try await env.eventually(timeout: .seconds(30)) {
            guard let status = try? await env.amqp.queueStatus(env.topology.deadLetterQueue) else { return false }
            deadLetters = status.messages
            return true
        }
        let elapsed = ContinuousClock.now - started
        print("""
            fault run: jobs=\(Self.jobCount) finished=\(rows.count - stuck) stuck=\(stuck) wrong_outcome=\(wrong) \
            missing_terminal_event=\(missing) duplicated_terminal_event=\(duplicated) dead_letters=\(deadLetters) \
            worker_kills=\(kills) broker_restarted=\(brokerRestarted) database_restarted=\(databaseRestarted) elapsed=\(elapsed)
            """)
        #expect(stuck == 0)
        #expect(wrong == 0)
        #expect(missing == 0)
        #expect(duplicated == 0)
        #expect(deadLetters == 0)
        #expect(kills > 0)
        #expect(brokerRestarted && databaseRestarted)
        await env.tearDown()
    }
}
