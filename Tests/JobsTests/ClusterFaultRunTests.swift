import AMQP
import Foundation
import Store
import TestSupport
import Testing

/// The scale-out fault runs: CertFleet on a 3-node RabbitMQ cluster (quorum queues) and a
/// PostgreSQL primary with a streaming standby, with many `certfleet` processes. Each test
/// starts a private cluster (`ClusterStack`); `deploy/local/test --cluster` runs them.
/// They print their counts; nothing here depends on how fast the machine is.
@Suite("Cluster fault runs", .serialized, .enabled(if: ClusterStack.enabled))
struct ClusterFaultRunTests {
    static let jobCount = Int(TestStack.env("CERTFLEET_CLUSTER_RUN_JOBS", default: "1000"))!
    static let workerArguments = ["worker", "--concurrency", "4", "--lease", "5"]
    static let deadline = Duration.seconds(600)

    /// 4 workers spread over the 3 nodes; the node leading the job queue is SIGKILLed when a
    /// quarter of the jobs are done. The others elect a new leader; clients fail over.
    @Test func killingTheQueueLeaderLosesAndRepeatsNoJob() async throws {
        try await ClusterStack.run(["postgres", "rabbitmq_cluster"], name: "broker-failover") { cluster in
            let env = try await JobsEnvironment.make(databaseURL: cluster.databaseURL, amqpURL: cluster.amqpURL)
            let expected = try await env.submitMixed(count: Self.jobCount)
            // Looked up first: rabbitmqctl takes seconds, and the kill must come mid-run.
            let leader = try await cluster.leader(of: env.topology.jobQueue("validate"))
            try env.start(["scheduler", "--reap-interval", "1"], name: "scheduler")
            let workers = try (0..<4).map {
                try env.start(Self.workerArguments, name: "worker-\($0)", environment: ["CERTFLEET_AMQP_URL": cluster.amqpURL(startingAt: $0)])
            }

            var samples = ThroughputSamples()
            try await Self.sample(env, into: &samples) { $0 >= Self.jobCount / 4 }
            kill(leader.pid, SIGKILL)
            let killed = ContinuousClock.now
            let finished = try await Self.sample(env, into: &samples) { $0 >= Self.jobCount }

            let audit = try await env.audit(expected: expected)
            // Workers whose first node was the one killed moved to another node.
            let failedOver = workers.filter { $0.log.contains("AMQP connection re-established") }.count
            print(
                """
                cluster fault run (queue leader node \(leader.node) SIGKILLed): \(audit) \
                workers_reconnected=\(failedOver) \(samples.recovery(after: killed))
                """)
            #expect(finished)
            #expect(audit.jobs == Self.jobCount)
            audit.expectClean()
            await env.tearDown()
        }
    }

    /// The same load on a primary + standby; the primary is SIGKILLed and the standby promoted.
    /// Workers, the scheduler and the API keep running (their pools find the new primary
    /// through the multi-host connection string); the API takes new jobs afterwards.
    @Test func promotingTheStandbyLosesAndRepeatsNoJob() async throws {
        try await ClusterStack.run(["postgres", "postgres_standby"], name: "database-failover") { cluster in
            let env = try await JobsEnvironment.make(databaseURL: cluster.databaseURL, amqpURL: cluster.amqpURL)
            let expected = try await env.submitMixed(count: Self.jobCount)
            let apiPort = TestStack.freePort()
            let api = try env.start(["api"], name: "api", environment: ["CERTFLEET_API_PORT": "\(apiPort)"])
            let apiKey = try await APIKeys.create(env.db, project: env.project, name: "failover", scopes: ["certificates:write"]).secret
            try env.start(["scheduler", "--reap-interval", "1"], name: "scheduler")
            let workers = try (0..<4).map { try env.start(Self.workerArguments, name: "worker-\($0)") }

            var samples = ThroughputSamples()
            try await Self.sample(env, into: &samples) { $0 >= Self.jobCount / 4 }
            kill(try cluster.primaryPid(), SIGKILL)
            let killed = ContinuousClock.now
            try await cluster.promoteStandby()

            // The API (never restarted) is ready again and accepts jobs on the new primary.
            let apiJobs = 20
            var accepted = 0
            for index in 0..<apiJobs {
                if (200..<300).contains(try await Self.upload(port: apiPort, key: apiKey, name: "after-failover-\(index)")) { accepted += 1 }
            }
            let finished = try await Self.sample(env, into: &samples) { $0 >= Self.jobCount + accepted }

            let audit = try await env.audit(expected: expected)
            let restarted = ([api] + workers).filter { !$0.isRunning }.count
            print(
                """
                cluster fault run (primary SIGKILLed, standby promoted): \(audit) api_jobs_accepted_after=\(accepted)/\(apiJobs) \
                processes_exited=\(restarted) \(samples.recovery(after: killed))
                """)
            #expect(finished)
            #expect(accepted == apiJobs)
            #expect(restarted == 0)
            #expect(audit.jobs == Self.jobCount + apiJobs)
            audit.expectClean()
            await env.tearDown()
        }
    }

    /// 8 workers and 2 schedulers on the full cluster. Job messages are left in the outbox
    /// so both schedulers' relays race for every row. Tap queues receive a copy of every
    /// message published: as many as outbox rows means no row went out twice.
    @Test func eightWorkersAndTwoSchedulersNeverDoubleClaimOrDoublePublish() async throws {
        try await ClusterStack.run(["postgres", "postgres_standby", "rabbitmq_cluster"], name: "cluster-scale") { cluster in
            let env = try await JobsEnvironment.make(databaseURL: cluster.databaseURL, amqpURL: cluster.amqpURL)
            let jobTap = "\(env.topology.prefix).tap.jobs", eventTap = "\(env.topology.prefix).tap.events"
            try await env.amqp.declare(
                Topology(
                    queues: [.init(name: jobTap), .init(name: eventTap)],
                    bindings: [
                        .init(queue: jobTap, exchange: env.topology.jobsExchange, routingKey: "validate"),
                        .init(queue: eventTap, exchange: env.topology.eventsExchange, routingKey: "#"),
                    ]))
            let expected = try await env.submitMixed(count: Self.jobCount, publish: false)
            for index in 0..<2 {
                try env.start(
                    ["scheduler", "--reap-interval", "1"], name: "scheduler-\(index)",
                    environment: ["CERTFLEET_AMQP_URL": cluster.amqpURL(startingAt: index)])
            }
            let workers = try (0..<8).map {
                try env.start(Self.workerArguments, name: "worker-\($0)", environment: ["CERTFLEET_AMQP_URL": cluster.amqpURL(startingAt: $0)])
            }

            var samples = ThroughputSamples()
            let finished = try await Self.sample(env, into: &samples) { $0 >= Self.jobCount }
            // The last events may still be on their way out of the outbox.
            _ = try await env.eventually(timeout: .seconds(60)) {
                try await env.count("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
            }
            let claimedTwice = try await env.count("SELECT count(*) FROM jobs WHERE attempt <> 1")
            let publishedJobs = try await env.count("SELECT count(*) FROM outbox WHERE exchange = 'jobs' AND published_at IS NOT NULL")
            let publishedEvents = try await env.count("SELECT count(*) FROM outbox WHERE exchange = 'events' AND published_at IS NOT NULL")
            var tappedJobs = -1, tappedEvents = -1
            _ = try await env.eventually(timeout: .seconds(30)) {
                tappedJobs = try await env.amqp.queueStatus(jobTap).messages
                tappedEvents = try await env.amqp.queueStatus(eventTap).messages
                return tappedJobs >= publishedJobs && tappedEvents >= publishedEvents
            }
            let duplicateDeliveries = workers.map { $0.log.components(separatedBy: "duplicate or stale delivery dropped").count - 1 }.reduce(0, +)
            let audit = try await env.audit(expected: expected)
            print(
                """
                cluster scale run (8 workers, 2 schedulers): \(audit) claimed_twice=\(claimedTwice) \
                job_messages/outbox_rows=\(tappedJobs)/\(publishedJobs) event_messages/outbox_rows=\(tappedEvents)/\(publishedEvents) \
                published_twice=\(tappedJobs - publishedJobs + tappedEvents - publishedEvents) duplicate_deliveries=\(duplicateDeliveries)
                """)
            #expect(finished)
            #expect(audit.jobs == Self.jobCount)
            audit.expectClean()
            #expect(claimedTwice == 0)
            #expect(publishedJobs == Self.jobCount)
            #expect(tappedJobs == publishedJobs)
            #expect(tappedEvents == publishedEvents)
            #expect(duplicateDeliveries == 0)
            _ = try? await env.amqp.deleteQueue(jobTap)
            _ = try? await env.amqp.deleteQueue(eventTap)
            await env.tearDown()
        }
    }

    /// Samples the finished-job count every 100 ms until DONE holds for it; false at the
    /// (generous) deadline. Counting may fail for a moment during a database failover.
    @discardableResult
    static func sample(_ env: JobsEnvironment, into samples: inout ThroughputSamples, until done: (Int) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + Self.deadline
        while ContinuousClock.now < deadline {
            if let finished = try? await env.finishedJobs() {
                samples.record(finished)
                if done(finished) { return true }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// POST /v1/certificates through the API process with a good bundle; the HTTP status.
    static func upload(port: Int, key: String, name: String) async throws -> Int {
        let fixtures = UploadFixtures.shared
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "chain": fixtures.goodChain, "pkey": fixtures.goodKey])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cf-upload-\(UUID().uuidString).json")
        try body.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Retried while the API does not answer or answers 5xx (its pool may still be finding
        // the new primary); the Idempotency-Key makes a retry of a committed upload return
        // the same job instead of a second one.
        var code = 0
        for _ in 0..<120 {
            let status = try? await TestStack.run(
                "/usr/bin/curl",
                [
                    "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", "-X", "POST",
                    "-H", "Authorization: Bearer \(key)", "-H", "Content-Type: application/json", "-H", "Idempotency-Key: \(name)",
                    "--data-binary", "@\(file.path)", "http://127.0.0.1:\(port)/v1/certificates",
                ])
            code = status.flatMap { Int($0) } ?? 0
            if code != 0 && code < 500 { return code }
            try await Task.sleep(for: .milliseconds(500))
        }
        return code
    }
}
