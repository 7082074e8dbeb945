import AMQP
import CertFleetCore
import Foundation
import Jobs
import Postgres
import Store
import TestSupport
import Testing

/// The job protocol end to end: real `certfleet worker` and `certfleet scheduler`
/// processes, the real broker and database.
@Suite("Job protocol", .serialized)
struct JobProtocolTests {
    let fixtures = UploadFixtures.shared

    private func jobState(_ env: JobsEnvironment, _ job: UUID) async throws -> String {
        try await env.db.query("SELECT state FROM jobs WHERE id = \(job)").first!.decode(String.self, "state")
    }

    private func terminalEvents(_ env: JobsEnvironment, job: UUID) async throws -> Int {
        try await env.count("SELECT count(*) FROM events WHERE job_id = \(job) AND type IN ('issued', 'renewed', 'failed', 'deleted')")
    }

    @Test func aGoodUploadBecomesValidAndAnnouncesIssued() async throws {
        let env = try await JobsEnvironment.make()
        let events = try await EventTap(env)
        try env.start(["worker", "--queues", "validate,delete"], name: "worker")
        let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: true))
        #expect(job.certificateName.hasPrefix("jobs.example.com-"))
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        let row = try #require(
            try await env.db.query(
                """
                SELECT state, current_version, common_name, renew_at FROM certificates WHERE id = \(job.certificateID)
                """
            ).first)
        #expect(try row.decode(String.self, "state") == "valid")
        #expect(try row.decode(Int?.self, "current_version") == 1)
        #expect(try row.decode(String.self, "common_name") == "jobs.example.com")
        #expect(try row.decode(Date?.self, "renew_at") != nil)
        #expect(try await terminalEvents(env, job: job.jobID) == 1)
        let event = try await events.next(timeout: .seconds(20))
        #expect(event?.type == "io.certfleet.certificate.issued")
        #expect(event?.data.certificateID == job.certificateID)
        await events.close()
        await env.tearDown()
    }

    @Test func aKeyThatDoesNotMatchEndsInErrorWithItsReason() async throws {
        let env = try await JobsEnvironment.make()
        try env.start(["worker"], name: "worker")
        let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: false))
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "failed" })
        let row = try #require(try await env.db.query("SELECT state, last_error_code FROM certificates WHERE id = \(job.certificateID)").first)
        #expect(try row.decode(String.self, "state") == "error")
        #expect(try row.decode(String?.self, "last_error_code") == "key_mismatch")
        #expect(try await terminalEvents(env, job: job.jobID) == 1)
        await env.tearDown()
    }

    @Test func duplicateDeliveryCommitsOnce() async throws {
        let env = try await JobsEnvironment.make()
        let worker = try env.start(["worker", "--concurrency", "4"], name: "worker")
        let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: true))
        // The same message again, as a broker redelivery or a relay repeat would send it.
        let duplicate = JobMessage(jobID: job.jobID, certificateID: job.certificateID, projectID: env.project, kind: .validate)
        let body = try JSONEncoder().encode(duplicate)
        try await env.amqp.publish(AMQPMessage(body: body), exchange: env.topology.jobsExchange, routingKey: "validate")
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        #expect(try await env.eventually { worker.log.contains("duplicate or stale delivery dropped") })
        #expect(try await terminalEvents(env, job: job.jobID) == 1)
        #expect(try await env.count("SELECT attempt FROM jobs WHERE id = \(job.jobID)") == 1)
        await env.tearDown()
    }

    @Test func anAbandonedClaimIsReapedAndFinishedByAnotherWorker() async throws {
        let env = try await JobsEnvironment.make()
        let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: true))
        // A worker claimed the job and died before committing (its lease is 1 s).
        let claimed = try await JobLedger(db: env.db).claim(jobID: job.jobID, owner: "crashed-worker", lease: .seconds(1))
        #expect(claimed != nil)
        try env.start(["scheduler", "--reap-interval", "1"], name: "scheduler")
        try env.start(["worker"], name: "worker")
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        #expect(try await env.count("SELECT attempt FROM jobs WHERE id = \(job.jobID)") == 2)
        #expect(try await env.count("SELECT count(*) FROM events WHERE job_id = \(job.jobID) AND reason = 'lease_expired'") == 1)
        #expect(try await terminalEvents(env, job: job.jobID) == 1)
        await env.tearDown()
    }

    @Test func theRelayPublishesWhatASubmitterCommittedButNeverSent() async throws {
        let env = try await JobsEnvironment.make()
        // Committed, never published: the API died between commit and publish.
        let job = try await Submissions(db: env.db, sealer: env.sealer).upload(fixtures.upload(project: env.project, good: true))
        try env.start(["worker"], name: "worker")
        try await Task.sleep(for: .seconds(1))
        #expect(try await jobState(env, job.jobID) == "queued")
        try env.start(["scheduler"], name: "scheduler")
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        #expect(try await env.count("SELECT count(*) FROM outbox WHERE published_at IS NULL AND routing_key = 'validate'") == 0)
        await env.tearDown()
    }

    @Test func twoSchedulersPublishEachOutboxRowOnce() async throws {
        let env = try await JobsEnvironment.make()
        let submissions = Submissions(db: env.db, sealer: env.sealer)
        var jobs = Set<UUID>()
        for _ in 0..<60 { jobs.insert(try await submissions.upload(fixtures.upload(project: env.project, good: true)).jobID) }
        // No worker: the test itself consumes the job queue and counts.
        let consumer = try await env.amqp.consume(queue: env.topology.jobQueue("validate"), prefetch: 100)
        try env.start(["scheduler"], name: "scheduler-a")
        try env.start(["scheduler"], name: "scheduler-b")
        let received = Collected()
        let expected = jobs.count
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await delivery in consumer {
                    await received.add(try JobMessage.decode(delivery.body).jobID)
                    try await consumer.ack(delivery)
                }
            }
            group.addTask {
                // Until everything arrived, then a quiet period in which a duplicate would show up.
                let deadline = ContinuousClock.now + .seconds(40)
                while await received.count < expected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
                try await Task.sleep(for: .seconds(3))
                try await consumer.cancel()
            }
            try await group.next()
            group.cancelAll()
        }
        let all = await received.ids
        #expect(Set(all) == jobs)
        #expect(all.count == jobs.count, "each outbox row published once")
        await env.tearDown()
    }

    @Test func deleteIsRefusedWhileBoundAndErasesTheKeyAfter() async throws {
        let env = try await JobsEnvironment.make()
        try env.start(["worker"], name: "worker")
        let submitter = env.submitter()
        let job = try await submitter.upload(fixtures.upload(project: env.project, good: true, name: "bound-cert"))
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        try await env.db.query("INSERT INTO bindings (certificate_id, consumer) VALUES (\(job.certificateID), 'ingress-a')")
        await #expect(throws: StoreError.certificateInUse(consumers: ["ingress-a"])) {
            try await submitter.delete(project: env.project, reference: "bound-cert", actor: "test")
        }
        try await env.db.query("DELETE FROM bindings WHERE certificate_id = \(job.certificateID)")
        let deletion = try await submitter.delete(project: env.project, reference: "bound-cert", actor: "test")
        #expect(try await env.eventually { try await jobState(env, deletion.jobID) == "succeeded" })
        let row = try #require(try await env.db.query("SELECT state, deleted_at FROM certificates WHERE id = \(job.certificateID)").first)
        #expect(try row.decode(String.self, "state") == "deleted")
        #expect(try row.decode(Date?.self, "deleted_at") != nil)
        #expect(
            try await env.count(
                "SELECT count(*) FROM certificate_versions WHERE certificate_id = \(job.certificateID) AND private_key_sealed IS NOT NULL") == 0)
        // The name is free again.
        let again = try await submitter.upload(fixtures.upload(project: env.project, good: true, name: "bound-cert"))
        #expect(again.certificateID != job.certificateID)
        await env.tearDown()
    }

    @Test func anUnparseableMessageIsDeadLetteredNotRequeued() async throws {
        let env = try await JobsEnvironment.make()
        let worker = try env.start(["worker"], name: "worker")
        try await env.amqp.publish(AMQPMessage("{not json"), exchange: env.topology.jobsExchange, routingKey: "validate")
        #expect(
            try await env.eventually(timeout: .seconds(30)) {
                try await env.amqp.queueStatus(env.topology.deadLetterQueue).messages == 1
            })
        #expect(worker.log.contains("unparseable job message dead-lettered"))
        await env.tearDown()
    }

    @Test func sigtermDrainsAndExitsZero() async throws {
        let env = try await JobsEnvironment.make()
        let worker = try env.start(["worker"], name: "worker")
        #expect(try await env.eventually(timeout: .seconds(30)) { worker.log.contains("worker started") })
        let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: true))
        #expect(try await env.eventually { try await jobState(env, job.jobID) == "succeeded" })
        let status = await worker.terminate()
        #expect(status == 0)
        #expect(worker.log.contains("worker drained"))
        // The scheduler's loops sleep up to a minute; shutdown must not wait for them.
        let scheduler = try env.start(["scheduler"], name: "scheduler")
        #expect(try await env.eventually(timeout: .seconds(30)) { scheduler.log.contains("scheduler started") })
        #expect(await scheduler.terminate(timeout: .seconds(10)) == 0)
        #expect(scheduler.log.contains("scheduler stopped"))
        await env.tearDown()
    }

    @Test func theSameIdempotencyKeyReturnsTheSameJob() async throws {
        let env = try await JobsEnvironment.make()
        let submitter = env.submitter()
        let first = try await submitter.upload(fixtures.upload(project: env.project, good: true, key: "req-1"))
        let second = try await submitter.upload(fixtures.upload(project: env.project, good: true, key: "req-1"))
        #expect(second.jobID == first.jobID)
        #expect(second.isReplay)
        #expect(try await env.count("SELECT count(*) FROM certificates") == 1)
        await env.tearDown()
    }

    @Test func aSecondActiveJobOfTheSameKindIsRefusedNamingTheFirst() async throws {
        let env = try await JobsEnvironment.make()
        let submitter = env.submitter()
        let first = try await submitter.upload(fixtures.upload(project: env.project, good: true, name: "busy"))
        // Make it valid by hand, then re-import twice without a worker running.
        try await env.db.query("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = \(first.jobID)")
        try await env.db.query("UPDATE certificates SET state = 'valid', current_version = 1 WHERE id = \(first.certificateID)")
        let reimport = try await submitter.reimport(fixtures.upload(project: env.project, good: true), reference: "busy")
        let error = await #expect(throws: StoreError.self) {
            try await submitter.reimport(fixtures.upload(project: env.project, good: true), reference: first.certificateID.uuidString)
        }
        // The certificate is `renewing` now, so the state machine refuses first.
        #expect(error?.code == "job_in_progress")
        #expect(reimport.kind == .validate)
        await env.tearDown()
    }
}

/// Consumes `certificate.#` events of one test's prefix.
struct EventTap {
    let consumer: AMQPConsumer
    let queue: String
    let amqp: AMQPConnection

    init(_ env: JobsEnvironment) async throws {
        queue = "\(env.topology.prefix).test-events"
        amqp = env.amqp
        try await env.amqp.declare(
            Topology(
                queues: [.init(name: queue, durable: false, exclusive: false, autoDelete: false)],
                bindings: [.init(queue: queue, exchange: env.topology.eventsExchange, routingKey: "certificate.#")]))
        consumer = try await env.amqp.consume(queue: queue, prefetch: 50)
    }

    func next(timeout: Duration) async throws -> CertificateEventMessage? {
        let consumer = self.consumer
        return try await withThrowingTaskGroup(of: CertificateEventMessage?.self) { group in
            group.addTask {
                for try await delivery in consumer {
                    try await consumer.ack(delivery)
                    let decoder = JSONDecoder()
                    decoder.dateDecodingStrategy = .iso8601
                    return try decoder.decode(CertificateEventMessage.self, from: Data(delivery.body))
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout); return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    func close() async {
        try? await consumer.cancel()
        _ = try? await amqp.deleteQueue(queue)
    }
}

actor Collected {
    private(set) var ids: [UUID] = []
    var count: Int { ids.count }
    func add(_ id: UUID) { ids.append(id) }
}
