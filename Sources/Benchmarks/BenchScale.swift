import AMQP
import ArgumentParser
import CertFleetOptions
import Foundation
import Logging
import Messaging
import Scheduler
import Store

/// `certfleet bench scale` (issue 20): one private database grown to each size in turn
/// (default 1k, 100k, 1M certificates, seeded as a year of operation leaves them), and at
/// each size the paced-`wrk` latency of the reads, `/metrics`, every scheduler tick with
/// nothing due and with `--due` made due, storage per certificate, RSS and start-up time of
/// the API, a worker and a scheduler. Then a retention pass over the simulated year.
struct BenchScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Reads, scans, storage, memory and start-up at 1k / 100k / 1M certificates (issue 20's table).")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Fleet sizes, ascending, comma-separated.")
    var sizes: String = "1000,100000,1000000"

    @Option(help: "Offered rate for GET and match (req/s).")
    var rate: Int = 1000

    @Option(help: "Offered rate for the list requests (req/s).")
    var listRate: Int = 200

    @Option(help: "Seconds per wrk measurement.")
    var duration: Int = 5

    @Option(help: "Rows made due for the scheduler's 'with work' measurement.")
    var due: Int = 10_000

    @Option(help: "Projects the certificates are spread over (the measured one holds 1/N).")
    var projects: Int = 4

    @Option(help: "First of the ports used by the benchmarked processes (API, worker probe, scheduler probe).")
    var port: Int = 18093

    @Option(help: "The private database (dropped and recreated): another name lets two runs share a server.")
    var benchDatabase: String = "certfleet_bench_scale"

    func run() async throws {
        let sizes = try self.sizes.split(separator: ",").map { text -> Int in
            guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= projects * 20 else {
                throw ValidationError("--sizes takes whole numbers of at least \(projects * 20), e.g. 1000,100000,1000000")
            }
            return n
        }
        guard sizes == sizes.sorted() else { throw ValidationError("--sizes must be ascending (the database grows)") }
        guard benchDatabase.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw ValidationError("--bench-database takes a lower-case SQL name (letters, digits, _), e.g. certfleet_bench_scale_2")
        }
        let logger = Logger(label: "certfleet.bench")
        let bench = try await BenchEnvironment.make(database: database, broker: broker, name: benchDatabase, poolSize: 8, logger: logger)
        do {
            try await measure(bench: bench, sizes: sizes, logger: logger)
        } catch {
            await bench.tearDown()
            throw error
        }
        await bench.tearDown()
    }

    private func measure(bench: BenchEnvironment, sizes: [Int], logger: Logger) async throws {
        var projectIDs = [bench.project]
        for n in 1..<projects { projectIDs.append(try await Projects.ensure(bench.db, name: "bench-\(n)")) }
        let (_, secret) = try await APIKeys.create(bench.db, project: bench.project, name: "bench", scopes: ["certificates:read"])
        var seeder = try ScaleSeeder(db: bench.db, projects: projectIDs, sealer: bench.sealer)
        let probe = ScaleProbe(db: bench.db)
        emit("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; wrk \(duration) s per row, paced at the offered rate")
        var table = ScaleTable(sizes: sizes)
        for size in sizes {
            let (rows, seconds) = try await seeder.grow(to: size)
            try await probe.analyze()
            let rowsPerSecond = Int(Double(rows) / max(seconds, 0.001))
            emit("seeded \(size) certificates: \(rows) rows in \(String(format: "%.1f", seconds)) s (\(rowsPerSecond) rows/s)")
            table.set("seed rows/s (this step)", size, String(rowsPerSecond))
            let run = ScaleRun(
                bench: bench, secret: secret, size: size, projects: projects, rate: rate, listRate: listRate,
                duration: duration, due: due, port: port, logger: logger)
            try await run.measure(into: &table, probe: probe)
            try await probe.settle()
            // The job messages the measured ticks queued (10,000 renewals, requeued leases) would
            // keep the next size's "idle" worker busy failing them (there is no CA here) and grow
            // its RSS with the backlog, not with the fleet.
            for kind in CertFleetTopology.jobKinds { _ = try await bench.amqp.deleteQueue(bench.topology.jobQueue(kind)) }
            emit(table.render())
        }
        emit("\n## Retention over the simulated year (defaults: outbox 1 d after publishing, jobs 90 d, events 365 d, versions 90 d)")
        let before = try await probe.sizes()
        let start = ContinuousClock.now
        let report = try await Retention(db: bench.db, policy: .defaults).run(maxBatches: .max)
        let elapsed = durationSeconds(ContinuousClock.now - start)
        let after = try await probe.sizes()
        emit("table | rows before | MB before | rows after | MB after (before VACUUM)")
        for (b, a) in zip(before, after) {
            emit("\(b.table) | \(b.rows) | \(b.bytes / 1_000_000) | \(a.rows) | \(a.bytes / 1_000_000)")
        }
        emit(
            String(
                format: "deleted %d outbox, %d jobs, %d events, %d versions in %.1f s", report.outbox, report.jobs, report.events,
                report.versions, elapsed))
        emit("\n" + table.render())
    }
}

/// The result table: one row per measurement, one column per size.
struct ScaleTable {
    let sizes: [Int]
    private(set) var order: [String] = []
    private var cells: [String: [Int: String]] = [:]

    init(sizes: [Int]) { self.sizes = sizes }

    mutating func set(_ row: String, _ size: Int, _ value: String) {
        if cells[row] == nil { order.append(row) }
        cells[row, default: [:]][size] = value
    }

    func render() -> String {
        var text = "| measurement | " + sizes.map { "\($0)" }.joined(separator: " | ") + " |\n"
        text += "|---|" + sizes.map { _ in "---|" }.joined() + "\n"
        for row in order {
            text += "| \(row) | " + sizes.map { cells[row]?[$0] ?? "" }.joined(separator: " | ") + " |\n"
        }
        return text
    }
}

/// Written at once (unbuffered), so each size's table is out as soon as it is measured,
/// also when the output goes to a file.
func emit(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
