import Foundation
import Postgres
import Store
import Testing

/// The renewal scan's backpressure (`--renewal-queue-limit`): a storm of due certificates is
/// submitted no faster than workers take the jobs, so it never becomes one burst of
/// submissions, and nothing due is dropped on the way.
@Suite struct RenewalQueueLimitTests {
    @Test func theScanKeepsAtMostTheLimitQueuedAndSubmitsMoreAsJobsAreTaken() async throws {
        try await APIEnvironment.with { env in
            let storm = StormSeed(db: env.db, project: env.project)
            let template = ScaleSeed.Template(chainPEM: "not a certificate", sealedKey: [1, 2, 3], masterKeyID: "k", detailsJSON: "{}")
            try await storm.seed(count: 20, template: template)
            // No worker: only the test takes jobs, by marking them running as a worker's claim does.
            try env.start(["scheduler", "--renewal-interval", "1", "--renewal-queue-limit", "5"])
            #expect(try await storm.makeDue() == 20)

            func renewJobs() async throws -> (queued: Int, all: Int) {
                let row = try await env.db.query(
                    """
                    SELECT count(*) FILTER (WHERE state = 'queued') AS queued, count(*) AS all_jobs FROM jobs WHERE kind = 'renew'
                    """
                ).first
                return (try row?.decode(Int.self, "queued") ?? 0, try row?.decode(Int.self, "all_jobs") ?? 0)
            }
            #expect(await ObservabilityTests.eventually(seconds: 60) { try await renewJobs().queued == 5 }, "\(env.processStatus)")
            // Several scans later (one a second while held back), still no more than the limit.
            try await Task.sleep(for: .seconds(3))
            #expect(try await renewJobs() == (5, 5))

            try await env.db.query(
                """
                UPDATE jobs SET state = 'running', lease_owner = 'test', lease_expires_at = now() + interval '1 hour'
                WHERE id IN (SELECT id FROM jobs WHERE kind = 'renew' AND state = 'queued' LIMIT 3)
                """)
            // Three taken: three more submitted, the limit held again, none submitted twice.
            let refilled = await ObservabilityTests.eventually(seconds: 30) { try await renewJobs() == (5, 8) }
            let after = try await renewJobs()
            #expect(refilled, "renew jobs (queued, all): \(after)")
            let certificates = try await env.db.query("SELECT count(DISTINCT certificate_id) AS n FROM jobs WHERE kind = 'renew'")
            #expect(try certificates.first?.decode(Int.self, "n") == 8)
        }
    }
}
