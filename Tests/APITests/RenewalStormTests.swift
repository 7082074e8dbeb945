import Benchmarks
import Foundation
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// Issue 20's renewal storm, small enough for CI (`certfleet bench storm` runs it at 2,000+):
/// 80 ACME certificates made due at once, renewed against a private Pebble by a scheduler
/// and two workers under an issuance budget of 30 new orders per 10 s, one worker killed with
/// SIGKILL part-way. Every certificate is renewed exactly once — Pebble's own log shows 80
/// certificates issued and 80 new orders (81 when the kill lands between an order's creation and
/// its saved URL) — and no budget window held more new orders than it allows. (Kept
/// small: at 200 certificates × 8 in flight its CPU burst starved the DNS tests beside it.)
@Suite(.serialized) struct RenewalStormTests {
    static let certificates = 80
    static let budget = (orders: 30, seconds: 10)

    @Test(.timeLimit(.minutes(10))) func aStormIsRenewedExactlyOnceWithinTheBudgetThroughAKilledWorker() async throws {
        let env = try await APIEnvironment()
        try await TestStack.using(
            try await PrivatePebble.start("storm", httpPort: TestStack.freePort(), environment: [:]), tearDown: { await $0.stop() }
        ) { pebble in
            do {
                let storm = StormSeed(db: env.db, project: env.project)
                let template = ScaleSeed.Template(chainPEM: "not a certificate", sealedKey: [1, 2, 3], masterKeyID: "k", detailsJSON: "{}")
                try await storm.seed(count: Self.certificates, template: template)
                let limits = """
                    {"\(pebble.directoryURL)": {"orders_per_account": {"count": \(Self.budget.orders), "seconds": \(Self.budget.seconds)},
                     "certificates_per_registered_domain": {"count": 1000, "seconds": 604800},
                     "duplicate_certificates": {"count": 5, "seconds": 604800}}}
                    """
                let environment = pebble.certfleetEnvironment.merging(["CERTFLEET_ACME_RATE_LIMITS": limits]) { $1 }
                func start(_ arguments: [String], _ name: String) throws -> ChildProcess {
                    try env.services.start(arguments, log: env.directory.appendingPathComponent("\(name).log"), environment: environment)
                }
                // The API answers Pebble's http-01 checks.
                try start(["api", "--port", "\(TestStack.freePort())", "--acme-http-port", "\(pebble.httpPort)"], "api")
                let worker = ["worker", "--concurrency", "4", "--lease", "5"]
                let victim = try start(worker, "worker-0")
                try start(worker, "worker-1")
                try start(["scheduler", "--renewal-interval", "1", "--reap-interval", "1"], "scheduler")
                let ordersBefore = try pebble.ordersCreated()

                #expect(try await storm.makeDue() == Self.certificates)
                var progress = try await storm.progress()
                var killedAt: Int?
                let deadline = ContinuousClock.now + .seconds(400)
                while progress.renewed < Self.certificates && progress.failed == 0 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                    progress = try await storm.progress()
                    if killedAt == nil, progress.renewed >= Self.certificates / 4 {
                        victim.signal(SIGKILL)
                        victim.waitForExit()
                        killedAt = progress.renewed
                        try start(worker, "worker-2")
                    }
                }
                #expect(progress.renewed == Self.certificates, "\(progress); \(env.processStatus)")
                #expect(progress.failed == 0)
                #expect(progress.renewedTwice == 0)
                // Killed while renewals were still to come, so the kill could have doubled one.
                #expect(killedAt.map { $0 < Self.certificates } == true)
                // The 16 jobs that start at once share one registration of the new default account per
                // worker process (each registering spent the CA's accounts-per-IP limit: 10 per 3 h).
                #expect(try await storm.accountRegistrations() <= 2)
                let jobs = try await storm.renewJobs()
                #expect(jobs.succeeded == Self.certificates)
                #expect(jobs.mostPerCertificate == 1)
                // Pebble's count: one certificate per certificate, whatever the kill interrupted, and
                // one new order each, but for the kill: killed after the CA created an order and
                // before its URL was saved, a job leaves that order unused (a CA that reuses a pending
                // order for the same names, as Let's Encrypt does, hands it back instead).
                #expect(try PebbleOrderLog.certificatesIssued(pebble.logFile) == Self.certificates)
                let times = try PebbleOrderLog.orderTimes(pebble.logFile)
                #expect((Self.certificates...Self.certificates + 1).contains(times.count - ordersBefore), "\(times.count - ordersBefore) new orders")
                // Spread by the budget: no window held more reservations of a new order than it allows
                // (the ledger's own times; Pebble's log is to the second and an order reaches Pebble a
                // moment after its reservation), one per order Pebble saw, and 80 under 30 per 10 s
                // cannot all have been reserved inside one window.
                let reserved = try await storm.orderReservations()
                #expect(reserved.count == Self.certificates)
                #expect(PebbleOrderLog.mostInAnyWindow(reserved, seconds: Self.budget.seconds) <= Self.budget.orders)
                if let first = reserved.min(), let last = reserved.max() { #expect(last.timeIntervalSince(first) >= Double(Self.budget.seconds)) }
            } catch {
                await env.tearDown()
                throw error
            }
            await env.tearDown()
        }
    }
}
