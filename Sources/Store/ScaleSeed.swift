import Foundation
import Postgres

/// Fills a database with certificates as a year of operation would leave them, fast
/// (server-side `INSERT … SELECT generate_series`, no round trip per row): for the plan test
/// and `certfleet bench scale`. Certificate `i` is the same row in every run (ids are
/// derived from `i`), so a seeded database can be grown from N to M by seeding N..<M.
public struct ScaleSeed: Sendable {
    /// The content every seeded version shares (a real chain and a sealed key in the bench).
    public struct Template: Sendable {
        public var chainPEM: String
        public var sealedKey: [UInt8]
        public var masterKeyID: String
        public var detailsJSON: String

        public init(chainPEM: String, sealedKey: [UInt8], masterKeyID: String, detailsJSON: String) {
            self.chainPEM = chainPEM
            self.sealedKey = sealedKey
            self.masterKeyID = masterKeyID
            self.detailsJSON = detailsJSON
        }
    }

    let db: PostgresClient
    let projects: [UUID]
    let template: Template

    public init(db: PostgresClient, projects: [UUID], template: Template) {
        precondition(!projects.isEmpty)
        self.db = db
        self.projects = projects
        self.template = template
    }

    public static func name(_ i: Int) -> String { "cert-\(i)" }
    public static func commonName(_ i: Int) -> String { "h\(i).z\(i % 100).example.net" }

    /// Certificates FROM..<TO with their rows in every table; returns the rows written.
    /// Per certificate: 2 versions (one superseded a year ago), 2 finished jobs, 3 events,
    /// 2 published outbox rows, a binding for one in four. One in three is uploaded, the
    /// rest ACME; one in 200 is in `error`, one in 500 `pending`; `not_after` spreads over
    /// 31–90 days ahead and `renew_at` over the next 30, so nothing is due, expiring or expired.
    /// Triggers (the /metrics counts, `valid_until`: written here as version 2's `not_after`,
    /// both statements run in one transaction so `now()` is the same) and foreign-key checks are off for the load (a session in
    /// `replica` role, which needs a superuser); `rebuildCounts` afterwards sets the counts right.
    @discardableResult
    public func seed(from: Int, to: Int) async throws -> Int {
        try await db.withConnection { db in
            // A bulk load fills the GIN index on `sans` through its pending list (several times
            // faster), then empties it into the index, which serves without one (migration 0013).
            try await db.simpleQuery("SET session_replication_role = replica; ALTER INDEX certificates_sans SET (fastupdate = on)")
            do {
                try await db.simpleQuery("BEGIN")
                let rows = try await insert(db, from: from, to: to)
                try await db.simpleQuery(
                    """
                    COMMIT; SET session_replication_role = DEFAULT; ALTER INDEX certificates_sans SET (fastupdate = off);
                    SELECT gin_clean_pending_list('certificates_sans'::regclass);
                    """)
                return rows
            } catch {
                _ = try? await db.simpleQuery(
                    "ROLLBACK; SET session_replication_role = DEFAULT; ALTER INDEX certificates_sans SET (fastupdate = off)")
                throw error
            }
        }
    }

    private func insert(_ db: PostgresTransaction, from: Int, to: Int) async throws -> Int {
        let projects = projects.map { $0.uuidString.lowercased() }
        // One ACME account per project, as `default` accounts are made on first use.
        var accounts: [String] = []
        for project in self.projects {
            try await db.query(
                """
                INSERT INTO acme_accounts (project_id, name, directory_url, account_url, key_sealed, master_key_id, status)
                VALUES (\(project), 'default', 'https://acme.invalid/directory', 'https://acme.invalid/acct/' || \(project),
                        \(PostgresBytes(template.sealedKey)), \(template.masterKeyID), 'valid')
                ON CONFLICT (project_id, name) DO NOTHING
                """)
            accounts.append(
                try await db.query("SELECT id FROM acme_accounts WHERE project_id = \(project) AND name = 'default'")
                    .first!.decode(UUID.self, "id").uuidString.lowercased())
        }
        let range = "generate_series(\(from), \(to - 1)) AS i"
        var rows = 0
        rows += try await db.query(
            """
            INSERT INTO certificates (id, project_id, name, common_name, sans, source, state, key_type, challenge, acme_account_id,
                                      current_version, valid_until, renew_at, ari_next_check_at, expiring_check_at, validation_attempt,
                                      created_at, updated_at)
            SELECT md5('c' || i)::uuid, (\(projects)::uuid[])[1 + i % \(projects.count)], 'cert-' || i,
                   'h' || i || '.z' || (i % 100) || '.example.net',
                   CASE WHEN i % 10 = 0 THEN ARRAY['h' || i || '.z' || (i % 100) || '.example.net', '*.w' || i || '.example.net']
                        ELSE ARRAY['h' || i || '.z' || (i % 100) || '.example.net', 'www.h' || i || '.z' || (i % 100) || '.example.net'] END,
                   CASE WHEN i % 3 = 0 THEN 'uploaded' ELSE 'acme' END,
                   CASE WHEN i % 200 = 7 THEN 'error' WHEN i % 500 = 11 THEN 'pending' ELSE 'valid' END,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE 'ec-p256' END, CASE WHEN i % 3 = 0 THEN NULL ELSE 'dns-01' END,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE (\(accounts)::uuid[])[1 + i % \(projects.count)] END,
                   CASE WHEN i % 500 = 11 THEN NULL ELSE 2 END,
                   CASE WHEN i % 500 = 11 THEN NULL ELSE now() + interval '31 days' + (i % 59) * interval '1 day' END,
                   now() + interval '1 hour' + (i % 997) * interval '1 hour' * 0.72,
                   CASE WHEN i % 3 = 0 THEN NULL ELSE now() + interval '1 hour' + (i % 360) * interval '1 minute' END,
                   now() + interval '1 day' + (i % 59) * interval '1 day',
                   1, now() - (i % 365) * interval '1 day', now() - (i % 30) * interval '1 day'
            FROM \(unescaped: range)
            """
        ).affectedRows
        rows += try await db.query(
            """
            INSERT INTO certificate_versions (certificate_id, version, chain_pem, private_key_sealed, master_key_id, serial,
                                              not_before, not_after, fingerprint_sha256, issuer, subject, details, state, created_at)
            SELECT md5('c' || i)::uuid, v, \(template.chainPEM), \(PostgresBytes(template.sealedKey)), \(template.masterKeyID),
                   md5('s' || i || ':' || v), now() - interval '400 days' + (v - 1) * interval '300 days',
                   CASE WHEN v = 1 THEN now() - interval '310 days' ELSE now() + interval '31 days' + (i % 59) * interval '1 day' END,
                   md5('f' || i || ':' || v), 'CN=Seed CA', 'CN=h' || i || '.z' || (i % 100) || '.example.net',
                   \(template.detailsJSON)::jsonb,
                   CASE WHEN v = 1 THEN 'superseded' ELSE 'valid' END,
                   now() - interval '400 days' + (v - 1) * interval '330 days'
            FROM \(unescaped: range), generate_series(1, 2) AS v
            WHERE i % 500 <> 11 OR v = 1
            """
        ).affectedRows
        rows += try await db.query(
            """
            INSERT INTO bindings (certificate_id, consumer) SELECT md5('c' || i)::uuid, 'svc-' || (i % 50)
            FROM \(unescaped: range) WHERE i % 4 = 0
            """
        ).affectedRows
        rows += try await db.query(
            """
            INSERT INTO jobs (id, project_id, certificate_id, certificate_version, kind, state, attempt, idempotency_key,
                              created_at, updated_at, started_at, finished_at)
            SELECT md5('j' || i || ':' || k)::uuid, (\(projects)::uuid[])[1 + i % \(projects.count)], md5('c' || i)::uuid, k,
                   CASE WHEN k = 1 THEN (CASE WHEN i % 3 = 0 THEN 'validate' ELSE 'issue' END) ELSE 'renew' END, 'succeeded', 1,
                   CASE WHEN k = 2 THEN 'renew:' || md5('c' || i)::uuid || ':1' ELSE 'seed-' || i END,
                   t, t, t, t + interval '5 seconds'
            FROM \(unescaped: range), generate_series(1, 2) AS k,
                 LATERAL (SELECT now() - interval '400 days' + (k - 1) * interval '330 days' + (i % 1000) * interval '1 minute' AS t) AS at
            WHERE i % 500 <> 11 OR k = 1
            """
        ).affectedRows
        rows += try await db.query(
            """
            INSERT INTO events (project_id, certificate_id, job_id, type, from_state, to_state, attempt, actor, created_at)
            SELECT (\(projects)::uuid[])[1 + i % \(projects.count)], md5('c' || i)::uuid,
                   CASE WHEN e < 3 THEN md5('j' || i || ':' || e)::uuid END,
                   (ARRAY['issued', 'renewed', 'bound'])[e], 'pending', 'valid', 1, 'seed',
                   now() - interval '400 days' + (e - 1) * interval '150 days' + (i % 1000) * interval '1 minute'
            FROM \(unescaped: range), generate_series(1, 3) AS e
            WHERE i % 500 <> 11
            """
        ).affectedRows
        rows += try await db.query(
            """
            INSERT INTO outbox (exchange, routing_key, body, ordering_key, deliver_after, created_at, published_at, attempts)
            SELECT 'events', 'certificate.' || (ARRAY['issued', 'renewed'])[k],
                   jsonb_build_object('schema', 'certfleet.event.v1', 'subject', md5('c' || i)::uuid),
                   'events:' || md5('c' || i)::uuid, t, t, t + interval '1 second', 1
            FROM \(unescaped: range), generate_series(1, 2) AS k,
                 LATERAL (SELECT now() - interval '400 days' + (k - 1) * interval '330 days' + (i % 1000) * interval '1 minute' AS t) AS at
            """
        ).affectedRows
        return rows
    }

    /// Recomputes the maintained /metrics counts after a bulk load (one scan; for seeding only:
    /// rows inserted before their versions existed could not find their expiry hour).
    public static func rebuildCounts(_ db: PostgresClient) async throws {
        try await db.transaction { tx in
            try await tx.simpleQuery(
                """
                LOCK TABLE certificates, jobs IN SHARE MODE;
                DELETE FROM state_count_deltas; DELETE FROM state_counts; DELETE FROM expiry_bucket_deltas; DELETE FROM expiry_buckets;
                INSERT INTO state_counts (subject, kind, state, n)
                    SELECT 'certificates', '', state, count(*) FROM certificates WHERE deleted_at IS NULL GROUP BY state;
                INSERT INTO state_counts (subject, kind, state, n) SELECT 'jobs', kind, state, count(*) FROM jobs GROUP BY kind, state;
                INSERT INTO expiry_buckets (hour, n)
                    SELECT date_trunc('hour', valid_until), count(*) FROM certificates
                    WHERE deleted_at IS NULL AND state <> 'revoked' AND valid_until IS NOT NULL GROUP BY 1;
                """)
        }
    }
}
