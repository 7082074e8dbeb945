import ArgumentParser
import CertFleetOptions
import Foundation
import Postgres

/// `certfleet bench postgres`: single-connection round trips of the wrapper next to
/// `pgbench -S -M prepared -c 1` against the same server, in the same run.
struct BenchPostgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "Round trips/s of the libpq wrapper vs pgbench -S -M prepared -c 1 (target ratio >= 0.8).")

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Seconds each side runs.")
    var seconds: Int = 10

    @Option(help: "Database created for the benchmark (pgbench tables live there).")
    var benchDatabase: String = "certfleet_bench"

    func run() async throws {
        let admin = database.makeClient(applicationName: "certfleet-bench")
        let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(benchDatabase)").count > 0
        if !exists { try await admin.query("CREATE DATABASE \(unescaped: "\"\(benchDatabase)\"")") }
        await admin.shutdown()
        let url = PostgresConfiguration.connectionString(database.resolvedURL, replacingDatabase: benchDatabase)

        print("initialising pgbench tables (scale 1) in \(benchDatabase)…")
        try runTool("pgbench", ["-i", "-s", "1", "-q", url])

        let baseline = try pgbenchSelectOnly(url: url)
        let held = try await wrapperSelectOnly(url: url, holdingConnection: true)
        let single = try await wrapperSelectOnly(url: url, holdingConnection: false)
        print(String(format: "pgbench -S -M prepared -c 1: %.0f tps", baseline))
        print(String(format: "certfleet Postgres wrapper:   %.0f round trips/s (1 connection, statements inside withConnection)", held))
        print(String(format: "                              %.0f round trips/s (db.query per statement: a checkout each)", single))
        print(
            String(
                format: "ratio: %.2f (target >= 0.80: %@); db.query alone: %.2f", held / baseline, held / baseline >= 0.8 ? "met" : "not met",
                single / baseline))
    }

    private func pgbenchSelectOnly(url: String) throws -> Double {
        // A transaction count, not -T: pgbench's -T timer relies on SIGALRM, which a child
        // of this (multi-threaded) process may inherit blocked, so -T would never end.
        try pgbenchTPS(try runTool("pgbench", ["-S", "-M", "prepared", "-c", "1", "-t", String(seconds * 10_000), "-n", url]))
    }

    /// The same statement pgbench -S runs, with a random account each time. HOLDINGCONNECTION:
    /// all of them inside one `withConnection` (as pgbench holds its connection, and as a
    /// transaction's statements run); otherwise each is a `db.query` with its own checkout.
    private func wrapperSelectOnly(url: String, holdingConnection: Bool) async throws -> Double {
        let db = PostgresClient(url, maxConnections: 1)
        let accounts = try await db.query("SELECT count(*) AS n FROM pgbench_accounts").first!.decode(Int.self, "n")
        let seconds = seconds
        @Sendable func loop(_ run: (PostgresQuery) async throws -> PostgresRows) async throws -> Double {
            let clock = ContinuousClock()
            let end = clock.now + .seconds(seconds)
            var count = 0
            let start = clock.now
            while clock.now < end {
                let rows = try await run("SELECT abalance FROM pgbench_accounts WHERE aid = \(Int32.random(in: 1...Int32(accounts)))")
                precondition(rows.count == 1)
                count += 1
            }
            let elapsed = clock.now - start
            return Double(count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let rate =
            holdingConnection
            ? try await db.withConnection { connection in try await loop { try await connection.query($0) } }
            : try await loop { try await db.query($0) }
        await db.shutdown()
        return rate
    }
}

/// The `tps = …` figure of pgbench's OUTPUT.
func pgbenchTPS(_ output: String) throws -> Double {
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
        let value = Double(line.dropFirst(6).prefix { $0 == "." || $0.isNumber })
    else { throw BenchFailure("cannot read tps from pgbench output:\n\(output)") }
    return value
}

extension Array where Element == Double {
    /// The value at quantile P (0…1) of this array, which must be sorted ascending and not empty.
    func percentile(_ p: Double) -> Double { self[Swift.min(count - 1, Int(Double(count) * p))] }
}

/// Runs an external tool and returns its standard output; throws with its output on failure.
@discardableResult
func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [tool] + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-\(UUID().uuidString).out")
    FileManager.default.createFile(atPath: output.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: output) }
    let handle = try FileHandle(forWritingTo: output)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    process.waitUntilExit()
    let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    guard process.terminationStatus == 0 else {
        throw BenchFailure("\(tool) exited \(process.terminationStatus):\n\(text)")
    }
    return text
}
