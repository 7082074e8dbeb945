import Foundation
import Jobs
import Postgres
import Store
import TestSupport
import Testing

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
        try await TestStack.ctl(["start", "postgres", "rabbitmq"], environment: stack)
        try await TestStack.using(
            stack,
            tearDown: { stack in
                _ = try? await TestStack.ctl(["stop", "rabbitmq", "postgres"], environment: stack)
                try? FileManager.default.removeItem(at: stackDirectory)
            }
        ) { stack in
            let env = try await JobsEnvironment.make(
                databaseURL: "postgres://certfleet@127.0.0.1:\(pgPort)/certfleet", amqpURL: "amqp://guest:guest@127.0.0.1:\(amqpPort)/")

            // A mix of good and bad bundles; each job's rightful end is known in advance.
            let expected = try await env.submitMixed(count: Self.jobCount)

            try env.start(["scheduler", "--reap-interval", "1"], name: "scheduler")
            let workerArguments = ["worker", "--concurrency", "4", "--lease", "5"]
            var workers = try (0..<3).map { try env.start(workerArguments, name: "worker-\($0)") }

            var kills = 0
            var brokerRestarted = false, databaseRestarted = false
            let started = ContinuousClock.now
            let deadline = started + .seconds(300)
            while ContinuousClock.now < deadline {
                let done = (try? await env.finishedJobs()) ?? 0
                // Both restarts happen even when the jobs outrun them (they finish in ~15 s).
                if done >= Self.jobCount && brokerRestarted && databaseRestarted { break }
                try await Task.sleep(for: .seconds(2))
                let victim = Int.random(in: 0..<workers.count)
                workers[victim].kill()
                kills += 1
                workers[victim] = try env.start(workerArguments, name: "worker-\(victim)-\(kills)")
                if !brokerRestarted && done >= Self.jobCount / 4 {
                    brokerRestarted = true
                    try await TestStack.ctl(["restart", "rabbitmq"], environment: stack)
                } else if brokerRestarted && !databaseRestarted && done >= Self.jobCount / 2 {
                    databaseRestarted = true
                    try await TestStack.ctl(["restart", "postgres"], environment: stack)
                }
            }

            let audit = try await env.audit(expected: expected)
            let elapsed = ContinuousClock.now - started
            print(
                """
                fault run: \(audit) worker_kills=\(kills) broker_restarted=\(brokerRestarted) \
                database_restarted=\(databaseRestarted) elapsed=\(elapsed)
                """)
            #expect(audit.jobs == Self.jobCount)
            audit.expectClean()
            #expect(kills > 0)
            #expect(brokerRestarted && databaseRestarted)
            await env.tearDown()
        }
    }
}
