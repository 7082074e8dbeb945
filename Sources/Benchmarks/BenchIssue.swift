import ArgumentParser
import CertFleetOptions
import Foundation
import Logging
import Postgres
import Store

/// `certfleet bench issue`: certificates per minute issued end to end — `POST
/// /v1/certificates {"domains":[…]}` to a `certfleet api` process, issue jobs run by 1,
/// 2, 4 … `certfleet worker` processes, until every certificate is `valid` — against
/// Pebble, next to 4 parallel `lego` processes in the same run (http-01 throughout; the
/// API answers the challenges on the port Pebble validates).
struct BenchIssue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue", abstract: "Certificates/min through the API and workers vs 4 lego processes (target >= 1.5 x lego).")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Worker process counts to measure, comma-separated.")
    var workers: String = "1,2,4"

    @Option(help: "Certificates per round.")
    var certificates: Int = 24

    @Option(help: "Certificates lego issues across 4 processes.")
    var legoCertificates: Int = 20

    @Option(help: "Concurrency of each worker process.")
    var concurrency: Int = 8

    func run() async throws {
        let directory = Environment.string("CERTFLEET_ACME_DIRECTORY_URL") ?? "https://127.0.0.1:14000/dir"
        let ca = Environment.string("CERTFLEET_ACME_CA_FILE") ?? ".stack/pebble/tls/ca.pem"
        let port = Environment.int("CERTFLEET_ACME_HTTP_PORT") ?? 5002
        let counts = workers.split(separator: ",").compactMap { Int($0) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-issue-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let bench = try await BenchEnvironment.make(
            database: database, broker: broker, name: "certfleet_bench_issue",
            poolSize: concurrency + 2, logger: Logger(label: "certfleet.bench"))
        let db = bench.db
        let apiKey = try await APIKeys.create(db, project: bench.project, name: "bench", scopes: ["certificates:read", "certificates:write"]).secret
        let environment = [
            "CERTFLEET_ACME_DIRECTORY_URL": directory, "CERTFLEET_ACME_CA_FILE": ca,
            // Pebble has no rate limits; Let's Encrypt's budget would defer the rounds after 50 certificates.
            "CERTFLEET_ACME_BUDGET": "off",
            "CERTFLEET_API_PORT": "\(port)", "CERTFLEET_API_WRITE_RATE": "0", "CERTFLEET_API_READ_RATE": "0",
        ]
        print("issue benchmark against \(directory): \(certificates) certificates per round, http-01 answered by certfleet api on :\(port)")
        print("workers | certificates/min | p50 s | p99 s (submit → valid)")
        let api = try bench.start(["api"], environment: environment, log: work.appendingPathComponent("api.log"))
        // The API and the scheduler (relay of delayed retries) serve every round.
        let scheduler = try bench.start(["scheduler"], environment: environment, log: work.appendingPathComponent("scheduler.log"))
        var best = 0.0
        do {
            try await BenchEnvironment.waitUntilReady("http://127.0.0.1:\(port)")
            for (round, count) in counts.enumerated() {
                let processes = try (0..<count).map {
                    try bench.start(
                        ["worker", "--concurrency", "\(concurrency)", "--queues", "issue"], environment: environment,
                        log: work.appendingPathComponent("worker-\(round)-\($0).log"))
                }
                let tag = UUID().uuidString.prefix(6).lowercased()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<certificates {
                        group.addTask {
                            let body = #"{"name":"r\#(round)-\#(index)","domains":["bench-\#(tag)-\#(index).certfleet-test.com"]}"#
                            try runTool(
                                "curl",
                                [
                                    "-sf", "-X", "POST", "-H", "Authorization: Bearer \(apiKey)", "-H", "Content-Type: application/json",
                                    "--data", body, "http://127.0.0.1:\(port)/v1/certificates",
                                ])
                        }
                    }
                    try await group.waitForAll()
                }
                let row = try await waitUntilIssued(db, round: round)
                for process in processes { process.stop() }
                let rate = Double(certificates) / row.seconds * 60
                best = max(best, rate)
                print(String(format: "%7d | %16.1f | %5.1f | %5.1f", count, rate, row.p50, row.p99))
            }
        } catch {
            api.stop()
            scheduler.stop()
            await bench.tearDown()
            throw error
        }
        api.stop()
        scheduler.stop()
        await bench.tearDown()
        // The port is free again for lego's webroot responder.
        let lego = try await LegoBaseline.parallelRate(directory: directory, ca: ca, port: port, work: work, certificates: legoCertificates)
        print(String(format: "lego, 4 processes: %.1f certificates/min (%d certificates)", lego, legoCertificates))
        let ratio = best / lego
        print(String(format: "ratio best certfleet / lego 4 processes: %.2f (target >= 1.5: %@)", ratio, ratio >= 1.5 ? "met" : "NOT met"))
    }

    struct Round { var seconds: Double; var p50: Double; var p99: Double }

    /// Waits until the round's certificates are all valid (fails on any error state);
    /// the span runs from the first acceptance to the last commit.
    private func waitUntilIssued(_ db: PostgresClient, round: Int) async throws -> Round {
        let pattern = "r\(round)-%"
        let deadline = Date().addingTimeInterval(900)
        while Date() < deadline {
            let row = try await db.query(
                """
                SELECT count(*) FILTER (WHERE state = 'valid') AS valid, count(*) FILTER (WHERE state = 'error') AS failed
                FROM certificates WHERE name LIKE \(pattern)
                """
            ).first!
            if try row.decode(Int.self, "failed") > 0 {
                let reason = try await db.query("SELECT last_error_message FROM certificates WHERE name LIKE \(pattern) AND state = 'error' LIMIT 1")
                    .first?.decode(String?.self, "last_error_message")
                throw BenchFailure("an issuance failed: \(reason ?? "?")")
            }
            if try row.decode(Int.self, "valid") == certificates { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let stats = try await db.query(
            """
            SELECT extract(epoch FROM max(j.finished_at) - min(j.created_at))::float8 AS span,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - j.created_at)) AS p50,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM j.finished_at - j.created_at)) AS p99
            FROM jobs j JOIN certificates c ON c.id = j.certificate_id WHERE c.name LIKE \(pattern) AND j.state = 'succeeded'
            """
        ).first!
        return Round(
            seconds: try stats.decode(Double.self, "span"), p50: try stats.decode(Double.self, "p50"), p99: try stats.decode(Double.self, "p99"))
    }
}
