import CertFleetCore
import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// The rate-limit budget against the real schema: sliding windows, deferral dates,
/// per-CA limits, and a resumed job that does not spend twice.
@Suite("Issuance budget")
struct IssuanceBudgetTests {
    static let ca = "https://acme.example/directory"
    /// Small limits so the tests reach them: 3 orders/account/hour, 2 certificates per
    /// registered domain per day, 1 duplicate per day.
    static let small = IssuanceLimits(
        ordersPerAccount: .init(3, per: 3600), certificatesPerRegisteredDomain: .init(2, per: 86400),
        duplicateCertificates: .init(1, per: 86400))

    func withBudget(_ body: (IssuanceBudget, PostgresClient) async throws -> Void) async throws {
        let scratch = try await ScratchDatabase.create()
        let db = PostgresClient(scratch.url, maxConnections: 4)
        do {
            try await Migrator(db: db, migrations: try Migrator.load(from: MigratorTests.directory)).migrate()
            try await body(IssuanceBudget(db: db, limitsByCA: [Self.ca: Self.small]), db)
        } catch {
            await db.shutdown()
            await scratch.drop()
            throw error
        }
        await db.shutdown()
        await scratch.drop()
    }

    @Test func ordersPerAccountDeferUntilTheOldestLeavesTheWindow() async throws {
        try await withBudget { budget, _ in
            let start = Date(timeIntervalSince1970: 1_900_000_000)
            for minute in 0..<3 {
                let deferral = try await budget.reserve(
                    ca: Self.ca, account: "acct-1", domains: ["d\(minute).example-\(minute).com"],
                    job: UUID(), now: start.addingTimeInterval(Double(minute) * 60))
                #expect(deferral == nil)
            }
            let fourth = try await budget.reserve(
                ca: Self.ca, account: "acct-1", domains: ["other.example.net"], job: UUID(),
                now: start.addingTimeInterval(600))
            #expect(fourth?.limit == .ordersPerAccount)
            #expect(fourth?.until == start.addingTimeInterval(3600))
            // Another account has its own order budget.
            #expect(
                try await budget.reserve(
                    ca: Self.ca, account: "acct-2", domains: ["other.example.net"], job: UUID(),
                    now: start.addingTimeInterval(600)) == nil)
            // Once the first order left the window, there is room again.
            #expect(
                try await budget.reserve(
                    ca: Self.ca, account: "acct-1", domains: ["later.example.org"], job: UUID(),
                    now: start.addingTimeInterval(3601)) == nil)
        }
    }

    @Test func certificatesPerRegisteredDomainCountAcrossAccountsAndSubdomains() async throws {
        try await withBudget { budget, _ in
            let now = Date(timeIntervalSince1970: 1_900_000_000)
            #expect(try await budget.reserve(ca: Self.ca, account: "a", domains: ["www.shop.co.uk"], job: UUID(), now: now) == nil)
            #expect(
                try await budget.reserve(ca: Self.ca, account: "b", domains: ["api.shop.co.uk"], job: UUID(), now: now.addingTimeInterval(1)) == nil)
            let third = try await budget.reserve(
                ca: Self.ca, account: "c", domains: ["mail.shop.co.uk", "x.other.com"], job: UUID(),
                now: now.addingTimeInterval(2))
            #expect(third?.limit == .certificatesPerRegisteredDomain)
            #expect(third?.until == now.addingTimeInterval(86400))
            // A different registered domain under the same public suffix is not affected.
            #expect(
                try await budget.reserve(ca: Self.ca, account: "c", domains: ["www.bakery.co.uk"], job: UUID(), now: now.addingTimeInterval(3)) == nil
            )
        }
    }

    @Test func duplicateCertificatesAreTheSameNameSetInAnyOrder() async throws {
        try await withBudget { budget, _ in
            let now = Date(timeIntervalSince1970: 1_900_000_000)
            #expect(try await budget.reserve(ca: Self.ca, account: "a", domains: ["b.dup.test", "a.dup.test"], job: UUID(), now: now) == nil)
            let again = try await budget.reserve(
                ca: Self.ca, account: "a", domains: ["A.dup.test", "b.dup.test"], job: UUID(), now: now.addingTimeInterval(5))
            #expect(again?.limit == .duplicateCertificates)
            #expect(again?.until == now.addingTimeInterval(86400))
            #expect(again.map { $0.message.contains("duplicate_certificates") } == true)
        }
    }

    @Test func aResumedJobReservesOnceAndOtherCAsHaveTheirOwnLimits() async throws {
        try await withBudget { budget, db in
            let now = Date(timeIntervalSince1970: 1_900_000_000)
            let job = UUID()
            for _ in 0..<5 {
                #expect(try await budget.reserve(ca: Self.ca, account: "a", domains: ["once.example.com"], job: job, now: now) == nil)
            }
            let rows = try await db.query("SELECT count(*) AS n FROM issuance_ledger WHERE job_id = \(job)").first!.decode(Int.self, "n")
            #expect(rows == 2) // one order, one registered domain
            // The default (Let's Encrypt) limits apply to a CA without its own entry: 5 duplicates.
            let other = "https://other-ca.example/dir"
            for second in 0..<5 {
                #expect(
                    try await budget.reserve(
                        ca: other, account: "a", domains: ["dup.example.com"], job: UUID(),
                        now: now.addingTimeInterval(Double(second))) == nil)
            }
            let sixth = try await budget.reserve(ca: other, account: "a", domains: ["dup.example.com"], job: UUID(), now: now.addingTimeInterval(10))
            #expect(sixth?.limit == .duplicateCertificates)
        }
    }

    @Test func limitsPerCAComeFromJSON() async throws {
        // Never queried: parsing needs no database.
        let db = PostgresClient(TestStack.databaseURL, maxConnections: 1)
        let budget = try IssuanceBudget(
            db: db,
            limitsJSON: """
                {"\(Self.ca)": {"orders_per_account": {"count": 3, "seconds": 3600},
                                "certificates_per_registered_domain": {"count": 2, "seconds": 86400},
                                "duplicate_certificates": {"count": 1, "seconds": 86400}},
                 "*": {"orders_per_account": {"count": 10, "seconds": 60},
                       "certificates_per_registered_domain": {"count": 10, "seconds": 60},
                       "duplicate_certificates": {"count": 10, "seconds": 60}}}
                """)
        #expect(budget.limits(for: Self.ca) == Self.small)
        #expect(budget.limits(for: "https://elsewhere/dir").ordersPerAccount == .init(10, per: 60))
        #expect(try IssuanceBudget(db: db, limitsJSON: nil).limits(for: Self.ca) == .letsEncrypt)
        #expect(throws: DecodingError.self) { try IssuanceBudget(db: db, limitsJSON: #"{"x": {"orders_per_account": 3}}"#) }
        await db.shutdown()
    }

    @Test func concurrentReservationsNeverExceedALimit() async throws {
        try await withBudget { budget, db in
            let now = Date()
            let granted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        try await budget.reserve(ca: Self.ca, account: "race", domains: ["n\(index).race-\(index).test"], job: UUID(), now: now)
                            == nil
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(granted == 3)
            #expect(try await db.query("SELECT count(*) AS n FROM issuance_ledger WHERE kind = 'order'").first!.decode(Int.self, "n") == 3)
        }
    }

    /// An issue job in STATE (with its project and certificate rows) for the ledger to refer to.
    static func job(_ db: PostgresClient, state: String, project: UUID? = nil) async throws -> (job: UUID, project: UUID) {
        var owner = project
        if owner == nil { owner = try await Projects.ensure(db, name: "budget-\(UUID().uuidString.prefix(8))") }
        let project = owner!
        let certificate = UUID(), job = UUID()
        try await db.query(
            """
            INSERT INTO certificates (id, project_id, name, common_name, sans, source, state, usage)
            VALUES (\(certificate), \(project), \(certificate.uuidString.lowercased()), 'x.test', ARRAY['x.test'], 'acme', 'pending', 'server')
            """)
        let finished: Date? = state == "queued" ? nil : Date()
        try await db.query(
            """
            INSERT INTO jobs (id, project_id, certificate_id, kind, state, finished_at)
                VALUES (\(job), \(project), \(certificate), 'issue', \(state), \(finished))
            """)
        return (job, project)
    }

    @Test func failedOrdersReleaseTheirCertificatesButStillCountAsOrders() async throws {
        try await withBudget { budget, db in
            let now = Date()
            // Two certificates per registered domain: two failed issuances do not spend them.
            for _ in 0..<2 {
                let failed = try await Self.job(db, state: "failed")
                #expect(try await budget.reserve(ca: Self.ca, account: "acct", domains: ["www.released.test"], job: failed.job, now: now) == nil)
            }
            let cancelled = try await Self.job(db, state: "cancelled")
            #expect(try await budget.reserve(ca: Self.ca, account: "other", domains: ["api.released.test"], job: cancelled.job, now: now) == nil)
            for name in ["a", "b"] {
                let running = try await Self.job(db, state: "queued")
                #expect(
                    try await budget.reserve(ca: Self.ca, account: "other", domains: ["\(name).released.test"], job: running.job, now: now) == nil)
            }
            let third = try await Self.job(db, state: "queued")
            let refused = try await budget.reserve(ca: Self.ca, account: "other", domains: ["c.released.test"], job: third.job, now: now)
            #expect(refused?.limit == .certificatesPerRegisteredDomain)
            // The account's orders count every order, failed or not: 2 failed + 1 more = 3, the limit.
            let fourth = try await Self.job(db, state: "queued")
            let orders = try await budget.reserve(ca: Self.ca, account: "acct", domains: ["x.elsewhere.test"], job: fourth.job, now: now)
            #expect(orders == nil)
            let fifth = try await Self.job(db, state: "queued")
            #expect(
                try await budget.reserve(ca: Self.ca, account: "acct", domains: ["y.elsewhere2.test"], job: fifth.job, now: now)?.limit
                    == .ordersPerAccount)
        }
    }

    @Test func oneProjectCannotSpendAnotherProjectsShareOfARegisteredDomain() async throws {
        try await withBudget { _, db in
            var budget = IssuanceBudget(
                db: db,
                limitsByCA: [
                    Self.ca: IssuanceLimits(
                        ordersPerAccount: .init(100, per: 3600), certificatesPerRegisteredDomain: .init(4, per: 86400),
                        duplicateCertificates: .init(10, per: 86400))
                ])
            budget.projectShare = 0.5
            let now = Date()
            let attacker = try await Projects.ensure(db, name: "attacker"), victim = try await Projects.ensure(db, name: "victim")
            var granted = 0
            var deferral: IssuanceDeferral?
            for index in 0..<5 {
                let job = try await Self.job(db, state: "queued", project: attacker)
                deferral = try await budget.reserve(
                    ca: Self.ca, account: "a", domains: ["n\(index).victim.test"], job: job.job,
                    project: attacker, now: now)
                if deferral == nil { granted += 1 }
            }
            #expect(granted == 2)
            #expect(deferral?.projectShare == true && deferral?.message.contains("this project's share") == true)
            let renewal = try await Self.job(db, state: "queued", project: victim)
            #expect(
                try await budget.reserve(
                    ca: Self.ca, account: "v", domains: ["www.victim.test"], job: renewal.job,
                    project: victim, now: now) == nil)
            let rows = try await db.query("SELECT count(*)::int8 AS n FROM issuance_ledger WHERE project_id = \(victim)").first!.decode(Int.self, "n")
            #expect(rows == 2)
        }
    }

    @Test func fiveFailedValidationsOfAHostDeferNewOrdersNamingItForAnHour() async throws {
        try await withBudget { budget, _ in
            let start = Date()
            for minute in 0..<5 {
                try await budget.recordFailedValidations(
                    ca: Self.ca, account: "acct", hostnames: ["*.Fails.test"], project: nil,
                    now: start.addingTimeInterval(Double(minute) * 60))
            }
            let deferred = try await budget.reserve(
                ca: Self.ca, account: "acct", domains: ["fails.test", "ok.test"], job: UUID(),
                now: start.addingTimeInterval(600))
            #expect(deferred?.limit == .failedValidationsPerHostname)
            // PostgreSQL keeps microseconds: the deferral ends when the first failure leaves the hour.
            #expect(abs((deferred?.until ?? .distantPast).timeIntervalSince(start.addingTimeInterval(3600))) < 0.001)
            // Per account and per host; and over once the hour has passed.
            #expect(
                try await budget.reserve(ca: Self.ca, account: "other", domains: ["fails.test"], job: UUID(), now: start.addingTimeInterval(600))
                    == nil)
            #expect(
                try await budget.reserve(ca: Self.ca, account: "acct", domains: ["ok.test"], job: UUID(), now: start.addingTimeInterval(600)) == nil)
            // (Another name set: "fails.test" alone is a duplicate of the other account's certificate.)
            #expect(
                try await budget.reserve(
                    ca: Self.ca, account: "acct", domains: ["fails.test", "later.test"], job: UUID(),
                    now: start.addingTimeInterval(3601)) == nil)
        }
    }

    @Test func tenNewAccountsPerThreeHoursThenTheRegistrationWaits() async throws {
        try await withBudget { budget, _ in
            let start = Date()
            for minute in 0..<10 {
                #expect(try await budget.reserveAccount(ca: Self.ca, project: nil, now: start.addingTimeInterval(Double(minute) * 60)) == nil)
            }
            let eleventh = try await budget.reserveAccount(ca: Self.ca, project: nil, now: start.addingTimeInterval(700))
            #expect(eleventh?.limit == .accountsPerIP)
            #expect(abs((eleventh?.until ?? .distantPast).timeIntervalSince(start.addingTimeInterval(3 * 3600))) < 0.001)
            // Another CA counts its own registrations.
            #expect(try await budget.reserveAccount(ca: "https://other-ca.example/dir", project: nil, now: start.addingTimeInterval(700)) == nil)
        }
    }
}
