import Foundation
import Jobs
import Logging
import Postgres
import Store
import Testing

/// What one validate job costs the database, counted by the worker's own pool: a change that
/// adds a statement or a transaction to the job protocol fails here (issue 21). Lower the
/// bounds when a change removes one.
@Suite struct StatementCountTests {
    let fixtures = UploadFixtures.shared

    /// claim, which reads the version too (1) · commit transaction (8: BEGIN, fence and lock, both
    /// version rows, certificate, job, event, the event's outbox row, COMMIT) · the outbox mark
    /// (1; one job at a time here, so its batch holds this job's row only).
    static let statementsPerValidateJob = 10
    /// claim · commit · outbox mark, each its own transaction (under load one mark serves
    /// every row published in the same 50 ms).
    static let transactionsPerValidateJob = 3

    @Test func aValidateJobCostsNoMoreStatementsThanToday() async throws {
        let env = try await JobsEnvironment.make()
        // An in-process worker with a pool of its own, so only its statements are counted.
        let db = PostgresClient(env.databaseURL, maxConnections: 2)
        let worker = Worker(
            db: db, amqp: env.amqp, topology: env.topology, context: JobContext(db: db, sealer: env.sealer),
            configuration: WorkerConfiguration(kinds: [.validate], concurrency: 1), logger: Logger(label: "test.worker"))
        let running = Task { try await worker.run() }
        var costs: [PostgresCounts] = []
        for _ in 0..<2 {
            let before = db.statementCounts
            let job = try await env.submitter().upload(fixtures.upload(project: env.project, good: true))
            // Finished, everything it wrote to the outbox published (the worker's last database
            // step before the ack), and the worker's count no longer moving.
            var last = PostgresCounts(statements: -1)
            #expect(
                try await env.eventually {
                    let done = try await env.count(
                        """
                        SELECT count(*) FROM jobs WHERE id = \(job.jobID) AND state = 'succeeded'
                          AND NOT EXISTS (SELECT 1 FROM outbox WHERE published_at IS NULL)
                        """)
                    // Read after the database said done: statements are counted before they are sent.
                    let now = db.statementCounts
                    defer { last = now }
                    return done == 1 && now == last
                })
            costs.append(db.statementCounts - before)
        }
        worker.stopConsuming()
        _ = try? await running.value
        await db.shutdown()
        await env.tearDown()
        // The same for the first job and the second (nothing per process hides in the first).
        #expect(costs[0] == costs[1], "\(costs)")
        #expect(costs[1].statements <= Self.statementsPerValidateJob, "statements per validate job: \(costs[1].statements)")
        #expect(costs[1].transactions <= Self.transactionsPerValidateJob, "transactions per validate job: \(costs[1].transactions)")
        // A bound that could never fail would prove nothing: the job did run statements.
        #expect(costs[1].statements > 0)
    }
}
