import Foundation
import Postgres

/// `certfleet bench storm`'s fleet: ACME certificates that a real CA can renew, made due all
/// at once, and what the storm left behind. Rows go in through the normal triggers (counts,
/// `valid_until`), a few thousand at a time.
public struct StormSeed: Sendable {
    let db: PostgresClient
    let project: UUID

    public init(db: PostgresClient, project: UUID) {
        self.db = db
        self.project = project
    }

    /// The host name of certificate I: 200 registered domains (`storm-K.com`), so the budget's
    /// per-registered-domain limit is not what spreads the storm, orders per account are.
    public static func host(_ i: Int) -> String { "s\(i).storm-\(i % 200).com" }

    /// COUNT valid ACME certificates (http-01, EC P-256, the project's default account, made on
    /// first use), each with a served version 1 holding TEMPLATE, not due for 30 days. The
    /// template's chain is not one the CA issued, so a renewal names no certificate it replaces.
    public func seed(count: Int, template: ScaleSeed.Template) async throws {
        try await db.transaction { tx in
            try await tx.query(
                """
                INSERT INTO certificates (id, project_id, name, common_name, sans, source, state, key_type, challenge,
                                          renew_at, ari_next_check_at, expiring_check_at, validation_attempt)
                SELECT md5('storm' || i)::uuid, \(project), 'storm-' || i, 's' || i || '.storm-' || (i % 200) || '.com',
                       ARRAY['s' || i || '.storm-' || (i % 200) || '.com'], 'acme', 'valid', 'ec-p256', 'http-01',
                       now() + interval '30 days', now() + interval '30 days', now() + interval '30 days', 1
                FROM generate_series(0, \(count - 1)) AS i
                """)
            try await tx.query(
                """
                INSERT INTO certificate_versions (certificate_id, version, chain_pem, private_key_sealed, master_key_id, serial,
                                                  not_before, not_after, fingerprint_sha256, issuer, subject, details, state)
                SELECT md5('storm' || i)::uuid, 1, \(template.chainPEM), \(PostgresBytes(template.sealedKey)), \(template.masterKeyID),
                       md5('storm-serial' || i), now() - interval '30 days', now() + interval '60 days', md5('storm-f' || i),
                       'CN=Seed CA', 'CN=s' || i || '.storm-' || (i % 200) || '.com', \(template.detailsJSON)::jsonb, 'valid'
                FROM generate_series(0, \(count - 1)) AS i
                """)
            try await tx.query("UPDATE certificates SET current_version = 1 WHERE project_id = \(project) AND name LIKE 'storm-%'")
        }
    }

    /// Makes every storm certificate due now (a CA revoking a batch); returns how many.
    @discardableResult
    public func makeDue() async throws -> Int {
        try await db.query(
            "UPDATE certificates SET renew_at = now() - interval '1 second' WHERE project_id = \(project) AND name LIKE 'storm-%'"
        ).affectedRows
    }

    /// Where the storm stands.
    public struct Progress: Sendable {
        /// Certificates whose current version is a renewal (version 2 or later).
        public var renewed: Int
        /// Certificates with more than one renewal (never, if renewals are exactly-once).
        public var renewedTwice: Int
        public var failed: Int
        /// Renew jobs waiting because the issuance budget deferred them.
        public var deferred: Int
        public var jobs: Int
        public var firstJob: Date?
        public var lastFinished: Date?
    }

    public func progress() async throws -> Progress {
        let row = try await db.query(
            """
            SELECT count(*) FILTER (WHERE c.current_version >= 2)::int8 AS renewed,
                   count(*) FILTER (WHERE c.current_version >= 3)::int8 AS twice,
                   count(*) FILTER (WHERE c.state = 'error')::int8 AS failed,
                   count(*) FILTER (WHERE c.last_error_code = 'rate_limit_budget')::int8 AS deferred,
                   (SELECT count(*) FROM jobs j WHERE j.project_id = \(project) AND j.kind = 'renew')::int8 AS jobs,
                   (SELECT min(created_at) FROM jobs j WHERE j.project_id = \(project) AND j.kind = 'renew') AS first_job,
                   (SELECT max(finished_at) FROM jobs j WHERE j.project_id = \(project) AND j.kind = 'renew' AND j.state = 'succeeded')
                       AS last_finished
            FROM certificates c WHERE c.project_id = \(project) AND c.name LIKE 'storm-%'
            """
        ).first!
        return Progress(
            renewed: try row.decode(Int.self, "renewed"), renewedTwice: try row.decode(Int.self, "twice"),
            failed: try row.decode(Int.self, "failed"), deferred: try row.decode(Int.self, "deferred"),
            jobs: try row.decode(Int.self, "jobs"), firstJob: try row.decode(Date?.self, "first_job"),
            lastFinished: try row.decode(Date?.self, "last_finished"))
    }

    /// Renew jobs that succeeded, and the most any one certificate had (1: exactly once).
    public func renewJobs() async throws -> (succeeded: Int, mostPerCertificate: Int) {
        let row = try await db.query(
            """
            SELECT coalesce(sum(per), 0)::int8 AS n, coalesce(max(per), 0)::int8 AS most FROM (
                SELECT count(*) AS per FROM jobs WHERE project_id = \(project) AND kind = 'renew' AND state = 'succeeded'
                GROUP BY certificate_id) AS each
            """
        ).first!
        return (try row.decode(Int.self, "n"), try row.decode(Int.self, "most"))
    }

    /// When the budget reserved each new order of this project (the issuance ledger's times).
    public func orderReservations() async throws -> [Date] {
        try await db.query("SELECT created_at FROM issuance_ledger WHERE kind = 'order' AND project_id = \(project) ORDER BY created_at")
            .map { try $0.decode(Date.self, "created_at") }
    }

    /// Account registrations the budget reserved for this project (the default account is
    /// registered once per worker process at most, however many jobs want it at once).
    public func accountRegistrations() async throws -> Int {
        try await db.query("SELECT count(*)::int8 AS n FROM issuance_ledger WHERE kind = 'account' AND project_id = \(project)")
            .first!.decode(Int.self, "n")
    }

    /// A storm certificate's uuid (the one the bench reads while the storm runs).
    public func certificateID(_ i: Int) async throws -> UUID {
        try await db.query("SELECT id FROM certificates WHERE project_id = \(project) AND name = \("storm-\(i)")").first!
            .decode(UUID.self, "id")
    }
}
