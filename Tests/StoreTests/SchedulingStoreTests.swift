import CertFleetCore
import Foundation
import Postgres
import Store
import TestSupport
import Testing
import X509

/// The scheduler's scans against the real schema: which certificates are due for
/// renewal and who gets them, and `expiring` once per threshold and version.
@Suite("Renewal and expiring scans")
struct SchedulingStoreTests {
    struct Fixture {
        let scratch: ScratchDatabase
        let db: PostgresClient
        let project: UUID

        static func make() async throws -> Fixture {
            let scratch = try await ScratchDatabase.create()
            let db = try await scratch.migratedClient(maxConnections: 6)
            let project = try await Projects.ensure(db, name: "p")
            return Fixture(scratch: scratch, db: db, project: project)
        }

        /// A valid certificate whose version 1 lives from NOTBEFORE to NOTAFTER (seconds from now).
        func certificate(_ name: String, source: String, notBefore: Double = -86400, notAfter: Double, renewAtPast: Bool) async throws -> UUID {
            let id = try await db.query(
                """
                INSERT INTO certificates (project_id, name, source, state, current_version, renew_at)
                VALUES (\(project), \(name), \(source), 'valid', 1,
                        CASE WHEN \(renewAtPast) THEN now() - interval '1 minute' ELSE now() + interval '30 days' END)
                RETURNING id
                """
            ).first!.decode(UUID.self, "id")
            try await db.query(
                """
                INSERT INTO certificate_versions (certificate_id, version, chain_pem, serial, not_before, not_after, state)
                VALUES (\(id), 1, 'PEM', 'ab12', now() + \(notBefore) * interval '1 second', now() + \(notAfter) * interval '1 second', 'valid')
                """)
            return id
        }

        func tearDown() async {
            await db.shutdown()
            await scratch.drop()
        }
    }

    static let backoff = BackoffPolicy(base: .seconds(600), cap: .seconds(86400))

    @Test func twoSchedulersClaimADueACMECertificateOnceAndUploadedOnesNever() async throws {
        let f = try await Fixture.make()
        let acme = try await f.certificate("acme", source: "acme", notAfter: 80 * 86400, renewAtPast: true)
        _ = try await f.certificate("uploaded", source: "uploaded", notAfter: 80 * 86400, renewAtPast: true)
        _ = try await f.certificate("later", source: "acme", notAfter: 80 * 86400, renewAtPast: false)
        let first = Maintenance(db: f.db, actor: "scheduler-1"), second = Maintenance(db: f.db, actor: "scheduler-2")
        async let a = first.claimDueRenewals(backoff: Self.backoff)
        async let b = second.claimDueRenewals(backoff: Self.backoff)
        let claimed = try await a + b
        #expect(claimed.map(\.certificateID) == [acme])
        #expect(claimed.first?.idempotencyKey == "renew:\(acme.uuidString.lowercased()):1")
        // Claimed means the next try is scheduled: nothing is due until then.
        #expect(try await first.claimDueRenewals(backoff: Self.backoff).isEmpty)
        let renewAt = try await f.db.query("SELECT renew_at FROM certificates WHERE id = \(acme)").first!.decode(Date.self, "renew_at")
        #expect(renewAt > Date())
        await f.tearDown()
    }

    @Test func aRenewBeforeLongerThanTheLifetimeMakesTheCurrentVersionDue() async throws {
        let f = try await Fixture.make()
        let acme = try await f.certificate("long", source: "acme", notAfter: 80 * 86400, renewAtPast: false)
        let scan = Maintenance(db: f.db, actor: "scheduler")
        #expect(try await scan.claimDueRenewals(backoff: Self.backoff).isEmpty)
        try await Certificates.setRenewBefore(f.db, project: f.project, reference: "long", seconds: 200 * 86400, actor: "test")
        #expect(try await scan.claimDueRenewals(backoff: Self.backoff).map(\.certificateID) == [acme])
        // Back to the default: 2/3 of the 81-day lifetime is weeks away.
        try await Certificates.setRenewBefore(f.db, project: f.project, reference: acme.uuidString, seconds: nil, actor: "test")
        let renewAt = try await f.db.query("SELECT renew_at FROM certificates WHERE id = \(acme)").first!.decode(Date.self, "renew_at")
        #expect(renewAt > Date().addingTimeInterval(40 * 86400))
        await f.tearDown()
    }

    @Test func aRetryAfterAFailedRenewalGetsItsOwnKeyAndNeverWaitsPastNotAfter() async throws {
        let f = try await Fixture.make()
        // Expires in 20 minutes; the backoff (up to 10 min, then 20 …) must stay before that.
        let acme = try await f.certificate("soon", source: "acme", notAfter: 1200, renewAtPast: true)
        let scan = Maintenance(db: f.db, actor: "scheduler")
        let key = "renew:\(acme.uuidString.lowercased()):1"
        // The first try ran and failed for good.
        let claimed = try await scan.claimDueRenewals(backoff: Self.backoff)
        #expect(claimed.first?.attempt == 1)
        try await f.db.query(
            """
            INSERT INTO jobs (project_id, certificate_id, kind, state, idempotency_key, finished_at)
            VALUES (\(f.project), \(acme), 'renew', 'failed', \(key), now())
            """)
        for attempt in 2...4 {
            try await f.db.query("UPDATE certificates SET renew_at = now() - interval '1 second' WHERE id = \(acme)")
            let retry = try #require(try await scan.claimDueRenewals(backoff: Self.backoff).first)
            #expect(retry.attempt == attempt)
            #expect(retry.idempotencyKey == "\(key):\(attempt)")
            let notAfter = try await f.db.query("SELECT not_after FROM certificate_versions WHERE certificate_id = \(acme)").first!.decode(
                Date.self, "not_after")
            #expect(retry.nextTry < notAfter)
            try await f.db.query(
                """
                INSERT INTO jobs (project_id, certificate_id, kind, state, idempotency_key, finished_at)
                VALUES (\(f.project), \(acme), 'renew', 'failed', \(retry.idempotencyKey), now())
                """)
        }
        await f.tearDown()
    }

    @Test func expiringIsAnnouncedOncePerThresholdAndVersion() async throws {
        let f = try await Fixture.make()
        let uploaded = try await f.certificate("five-days", source: "uploaded", notAfter: 5 * 86400, renewAtPast: false)
        let far = try await f.certificate("far", source: "acme", notAfter: 60 * 86400, renewAtPast: false)
        let first = Maintenance(db: f.db, actor: "scheduler-1"), second = Maintenance(db: f.db, actor: "scheduler-2")
        // Crossed 30, 14 and 7 at once: only the tightest (7) is announced.
        async let a = first.announceExpiring()
        async let b = second.announceExpiring()
        let (one, two) = try await (a, b)
        #expect(one.announced + two.announced == 1)
        #expect(try await first.announceExpiring().announced == 0)
        let notices = try await f.db.query(
            """
            SELECT threshold_days, announced FROM expiry_notices WHERE certificate_id = \(uploaded) ORDER BY threshold_days
            """
        ).map { (try $0.decode(Int.self, "threshold_days"), try $0.decode(Bool.self, "announced")) }
        #expect(notices.map(\.0) == [7, 14, 30])
        #expect(notices.map(\.1) == [true, false, false])
        // Twelve hours left: the 1-day threshold, once.
        try await f.db.query("UPDATE certificate_versions SET not_after = now() + interval '12 hours' WHERE certificate_id = \(uploaded)")
        #expect(try await first.announceExpiring().announced == 1)
        #expect(try await second.announceExpiring().announced == 0)
        // A new version starts over.
        try await f.db.query(
            """
            INSERT INTO certificate_versions (certificate_id, version, chain_pem, serial, not_before, not_after, state)
            VALUES (\(uploaded), 2, 'PEM', 'cd34', now(), now() + interval '20 days', 'valid')
            """)
        try await f.db.query("UPDATE certificates SET current_version = 2 WHERE id = \(uploaded)")
        #expect(try await first.announceExpiring().announced == 1)
        let bodies = try await f.db.query(
            """
            SELECT body::text AS body, routing_key FROM outbox WHERE exchange = 'events' ORDER BY id
            """
        ).map { (try $0.decode(String.self, "body"), try $0.decode(String.self, "routing_key")) }
        #expect(bodies.count == 3)
        #expect(bodies.allSatisfy { $0.1 == "certificate.expiring" })
        #expect(try await f.db.query("SELECT count(*) AS n FROM events WHERE certificate_id = \(far)").first!.decode(Int.self, "n") == 0)
        try await MessageSchemas.validate(bodies.map(\.0), against: "certificate-event.v1.schema.json")
        await f.tearDown()
    }

    /// 2/3 of a 90-day lifetime, 1/2 of a 6-day one (Let's Encrypt's advice for short-lived
    /// certificates), and renew_before when given.
    @Test func shortLivedCertificatesRenewAtHalfTheirLifetime() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = try await scratch.migratedClient(maxConnections: 1)
        func renewAt(_ days: Int, before: String? = nil) async throws -> Date {
            try await db.query(
                """
                SELECT certfleet_renew_at('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'::timestamptz + \(days) * interval '1 day',
                                          \(before)::interval) AS at
                """
            ).first!.decode(Date.self, "at")
        }
        let start = Date(timeIntervalSince1970: 1_767_225_600) // 2026-01-01T00:00:00Z
        #expect(try await renewAt(90) == start.addingTimeInterval(60 * 86400))
        #expect(try await renewAt(6) == start.addingTimeInterval(3 * 86400))
        #expect(try await renewAt(6, before: "1 day") == start.addingTimeInterval(5 * 86400))
        await db.shutdown()
        await scratch.drop()
    }

    /// ARI (RFC 9773) bookkeeping: a certificate is checked once per interval by one scheduler,
    /// an earlier window moves renew_at into it, a window already over makes it due now, a
    /// later one changes nothing, and a Retry-After of years is clamped to a day.
    @Test func renewalInfoChecksAreSharedAndAnEarlierWindowMovesRenewAt() async throws {
        let f = try await Fixture.make()
        do {
            let account = try await ACMEAccounts.create(
                f.db, sealer: KeySealer(keys: [AESGCM.generateKey()]), project: f.project, name: "default",
                directoryURL: "https://ca.test/dir", contact: [], accountURL: nil, status: "valid", keyPEM: "k", eabKeyID: nil)
            let acme = try await f.certificate("ari", source: "acme", notAfter: 80 * 86400, renewAtPast: false)
            _ = try await f.certificate("no-account", source: "acme", notAfter: 80 * 86400, renewAtPast: false)
            try await f.db.query("UPDATE certificates SET acme_account_id = \(account.id) WHERE id = \(acme)")
            let maintenance = Maintenance(db: f.db, actor: "scheduler-1")
            let now = Date()
            let first = try await maintenance.claimRenewalInfoChecks(now: now)
            #expect(first.map(\.certificateID) == [acme] && first.first?.directoryURL == "https://ca.test/dir")
            #expect(try await Maintenance(db: f.db, actor: "scheduler-2").claimRenewalInfoChecks(now: now).isEmpty)

            func renewAt() async throws -> Date {
                try await f.db.query("SELECT renew_at FROM certificates WHERE id = \(acme)").first!.decode(Date.self, "renew_at")
            }
            let before = try await renewAt()
            // A later window: renew_at stays.
            try await maintenance.recordRenewalInfo(
                .window(
                    start: before.addingTimeInterval(86400), end: before.addingTimeInterval(2 * 86400),
                    explanationURL: nil, retryAfter: nil), certificate: acme, now: now, fraction: 0.5, jitter: 0)
            #expect(abs(try await renewAt().timeIntervalSince(before)) < 0.001)
            // An earlier one: the moment FRACTION into it; the next check after Retry-After, clamped to a day.
            let start = now.addingTimeInterval(86400)
            try await maintenance.recordRenewalInfo(
                .window(
                    start: start, end: start.addingTimeInterval(3600), explanationURL: "https://ca.test/why",
                    retryAfter: 5 * 365 * 86400), certificate: acme, now: now, fraction: 0.5, jitter: 0)
            #expect(abs(try await renewAt().timeIntervalSince(start.addingTimeInterval(1800))) < 0.001)
            let row = try await f.db.query("SELECT ari_next_check_at, ari_explanation_url FROM certificates WHERE id = \(acme)").first!
            #expect(abs(try row.decode(Date.self, "ari_next_check_at").timeIntervalSince(now.addingTimeInterval(86400))) < 0.001)
            #expect(try row.decode(String?.self, "ari_explanation_url") == "https://ca.test/why")
            // A window already over (the CA revoked a batch): due now.
            try await maintenance.recordRenewalInfo(
                .window(
                    start: now.addingTimeInterval(-7200), end: now.addingTimeInterval(-3600),
                    explanationURL: nil, retryAfter: nil), certificate: acme, now: now, fraction: 0.5, jitter: 0)
            #expect(abs(try await renewAt().timeIntervalSince(now)) < 0.001)
            #expect(try await maintenance.claimDueRenewals(backoff: Self.backoff, now: now.addingTimeInterval(1)).map(\.certificateID) == [acme])
        } catch {
            await f.tearDown()
            throw error
        }
        await f.tearDown()
    }
}
