import API
import Foundation
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// The web console (issue 19) in a real browser: a `certfleet api` process and a worker, and
/// Tests/Fixtures/console/browser.py driving Debian's headless chromium through Selenium and
/// chromedriver. Every check the script makes must hold; its screenshots of each page land in
/// the git-ignored `.screenshots/console/` (the README shows copies from docs/console/).
@Suite(.serialized) struct ConsoleBrowserTests {
    @Test(.timeLimit(.minutes(10))) func theConsoleWorksInABrowserAndRefusesWhatTheKeyMayNotDo() async throws {
        try await APIEnvironment.with { env in
            try env.start(["worker"])
            let port = TestStack.freePort()
            try env.start(["api", "--port", "\(port)"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let reader = try await env.key(["certificates:read"])
            let exporter = try await env.key(["certificates:read", "keys:export"])
            let admin = try await env.key(["admin"])
            let system = try await env.key(["system"])
            let web = try SelfSignedFixture.make(
                subject: "/CN=api.example.com/O=CertFleet Console Test",
                sans: "DNS:api.example.com,DNS:*.api.example.com")
            let xss = try SelfSignedFixture.make(
                subject: "/CN=<script>document.title='pwned';alert(1)<\\/script>",
                sans: "DNS:xss.example.test")
            // Another project's certificate, which the console must not show by URL.
            let other = try await env.key(["certificates:read", "certificates:write"], project: env.otherProject)
            let base = "http://127.0.0.1:\(port)"
            for _ in 0..<300 where (try? await TestStack.run("/usr/bin/curl", ["-sf", "\(base)/healthz"])) == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            let body = try JSONSerialization.data(withJSONObject: ["name": "foreign", "chain": web.chain, "pkey": web.key])
            let answer = try await TestStack.run(
                "/usr/bin/curl",
                [
                    "-s", "-X", "POST", "-H", "Authorization: Bearer \(other)", "-H", "Content-Type: application/json",
                    "--data-binary", String(decoding: body, as: UTF8.self), "\(base)/v1/certificates",
                ])
            let foreign = try #require(answer.firstMatch(of: /"uuid":"([0-9a-f-]{36})"/)?.1, "\(answer)")

            let checks = try await Self.runBrowser(
                env,
                [
                    "base": base, "keys": ["writer": writer, "reader": reader, "exporter": exporter, "admin": admin, "system": system],
                    "bundles": ["web": ["chain": web.chain, "key": web.key], "xss": ["chain": xss.chain, "key": xss.key]],
                    "other_certificate": String(foreign),
                ])
            #expect(checks >= 40)

            // The timeline against known rows: 120 certificates spread over the next 90 days.
            let expected = try await Self.seedTimeline(env)
            let timelineChecks = try await Self.runBrowser(
                env,
                [
                    "mode": "timeline", "base": base, "keys": ["writer": writer], "expected": expected,
                ])
            #expect(timelineChecks >= 4)
        }
    }

    /// 120 certificates (SQL copies) expiring one to 90 days from now, a third of them renewing
    /// within the window; every 10th failing, every 15th deferred by the budget, every 12th
    /// ACME one overdue. Returns the counts the timeline must show.
    static func seedTimeline(_ env: APIEnvironment) async throws -> [String: Int] {
        _ = try await env.db.query(
            """
            INSERT INTO certificates (project_id, name, common_name, sans, source, state, current_version, renew_at,
                                      last_error_code, last_error_message)
            SELECT \(env.project), 'fleet-' || lpad(i::text, 3, '0'), 'svc' || i || '.fleet.test', ARRAY['svc' || i || '.fleet.test'],
                   CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'uploaded' END,
                   CASE WHEN i % 10 = 0 THEN 'error' ELSE 'valid' END, 1,
                   CASE WHEN i % 12 = 0 THEN now() - interval '1 day' ELSE now() + (i % 90) * interval '1 day' - interval '20 days' END,
                   CASE WHEN i % 15 = 0 THEN 'rate_limit_budget' END, CASE WHEN i % 15 = 0 THEN 'deferred' END
            FROM generate_series(1, 120) i
            """)
        _ = try await env.db.query(
            """
            INSERT INTO certificate_versions (certificate_id, version, chain_pem, serial, not_before, not_after, subject, issuer, state)
            SELECT id, 1, 'seeded', md5(name), now() - interval '60 days',
                   now() + (substring(name from 7)::int % 90) * interval '1 day' + interval '1 hour', 'CN=' || common_name, 'CN=Fleet CA', 'valid'
            FROM certificates WHERE project_id = \(env.project) AND name LIKE 'fleet-%'
            """)
        let counts = try #require(
            try await env.db.query(
                """
                SELECT count(*) FILTER (WHERE source = 'acme' AND state IN ('valid', 'expired') AND renew_at < now())::int8 AS overdue,
                       count(*) FILTER (WHERE state = 'error')::int8 AS failing,
                       count(*) FILTER (WHERE last_error_code = 'rate_limit_budget')::int8 AS deferred
                FROM certificates WHERE project_id = \(env.project) AND deleted_at IS NULL
                """
            ).first)
        return [
            "overdue": try counts.decode(Int.self, "overdue"), "failing": try counts.decode(Int.self, "failing"),
            "deferred": try counts.decode(Int.self, "deferred"),
        ]
    }

    /// The issue page through a private Pebble: a worker orders, an API process answers http-01
    /// on Pebble's port, and the job page shows the job moving until the certificate is valid.
    @Test(.timeLimit(.minutes(10))) func issuingThroughTheConsoleShowsTheJobLiveUntilValid() async throws {
        try await ACMEIssuanceTests.World.with("console") { world in
            try world.startWorker()
            let port = TestStack.freePort()
            try world.env.services.start(
                ["api", "--port", String(port), "--acme-http-port", String(world.pebble.httpPort)],
                log: world.env.directory.appendingPathComponent("api-console.log"),
                environment: world.workerEnvironment.merging([
                    "CERTFLEET_DOMAIN_POLICY": "off",
                    "CERTFLEET_ACME_BUDGET": "off",
                ]) { $1 })
            let base = "http://127.0.0.1:\(port)"
            for _ in 0..<300 where (try? await TestStack.run("/usr/bin/curl", ["-sf", "\(base)/healthz"])) == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            let checks = try await Self.runBrowser(
                world.env,
                [
                    "mode": "issue", "base": base, "keys": ["writer": world.key], "domain": "console-issue.example.test",
                ])
            #expect(checks >= 5)
        }
    }

    /// Runs browser.py with CONFIGURATION (plus where screenshots and scratch files go); every
    /// check it reports must hold. Returns how many checks ran.
    static func runBrowser(_ env: APIEnvironment, _ configuration: [String: Any]) async throws -> Int {
        let screenshots = TestStack.root.appendingPathComponent(".screenshots/console")
        let work = env.directory.appendingPathComponent("browser")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let file = env.directory.appendingPathComponent("console.json")
        let document = configuration.merging(["screenshots": screenshots.path, "work": work.path]) { $1 }
        try JSONSerialization.data(withJSONObject: document).write(to: file)
        let script = TestStack.root.appendingPathComponent("Tests/Fixtures/console/browser.py").path
        let started = ContinuousClock.now
        let output = try await TestStack.run(try await TestStack.toolsPython(), [script, file.path])
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
        let checks = try #require(summary["checks"] as? [[String: Any]])
        for check in checks {
            #expect(check["ok"] as? Bool == true, "\(check["name"] ?? ""): \(check["detail"] ?? "")")
        }
        let passed = checks.filter { $0["ok"] as? Bool == true }.count
        print(
            "console browser test (\(configuration["mode"] ?? "console")): \(passed)/\(checks.count) checks passed in "
                + "\(ContinuousClock.now - started), \((summary["screenshots"] as? [String])?.count ?? 0) screenshots in \(screenshots.path)")
        return checks.count
    }
}
