import AMQP
import ArgumentParser
import CertFleetOptions
import Foundation
import Jobs
import Logging
import Postgres
import Store
import X509

/// `certfleet bench jobs`: end-to-end validate jobs/s and submit→commit latency with
/// 1, 2, 4 … worker processes, next to `pgbench -N` with as many clients as jobs in flight
/// (workers × concurrency) on the same server in the same run.
struct BenchJobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract:
            "Validate jobs/s and p50/p99 latency per worker count vs pgbench -N with as many clients as jobs in flight (target: >= 0.25 x pgbench).")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Worker process counts to measure, comma-separated.")
    var workers: String = "1,2,4"

    @Option(help: "Jobs per round.")
    var jobs: Int = 2000

    @Option(help: "Jobs submitted one by one (at --latency-rate per second) to measure latency.")
    var latencyJobs: Int = 200

    @Option(help: "Submissions per second in the latency phase.")
    var latencyRate: Int = 50

    @Option(help: "Concurrency of each worker process.")
    var concurrency: Int = 8

    func run() async throws {
        let counts = workers.split(separator: ",").compactMap { Int($0) }
        let logger = Logger(label: "certfleet.bench")
        let bench = try await BenchEnvironment.make(
            database: database, broker: broker, name: "certfleet_bench_jobs",
            poolSize: concurrency + 2, logger: logger)
        let db = bench.db
        let submitter = Submissions.publishing(db: db, sealer: bench.sealer, amqp: bench.amqp, topology: bench.topology, logger: logger)
        let bundle = try Self.bundle()

        print(
            "jobs per round: \(jobs) (throughput: all submitted first, then drained, timed from the first claim to the last commit); "
                + "latency: \(latencyJobs) jobs at \(latencyRate)/s")
        print("workers | drain jobs/s | machine CPU busy % | submit→commit p50 ms | p99 ms | pgbench -N tps (clients = jobs in flight) | ratio")
        var perWorkerCount: [Int: Double] = [:]
        var busyPerWorkerCount: [Int: Double] = [:]
        var startUps: [(workers: Int, seconds: Double)] = []
        let project = bench.project, chain = bundle.chain, key = bundle.key, jobs = jobs
        let upload: @Sendable (Int, Int) async throws -> Void = { index, round in
            _ = try await submitter.upload(
                UploadRequest(
                    projectID: project, name: "bench-\(round)-\(index)", commonName: "bench.example.com", sans: ["bench.example.com"],
                    chainPEM: chain, privateKeyPEM: key, actor: "bench"))
        }
        func waitUntilFinished() async throws {
            while try await db.query("SELECT count(*) AS n FROM jobs WHERE finished_at IS NULL").first!.decode(Int.self, "n") > 0 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        for (round, count) in counts.enumerated() {
            try await db.query("TRUNCATE events, outbox, jobs, certificate_versions, bindings, certificates CASCADE")
            // Throughput: a backlog of JOBS messages, drained by COUNT worker processes.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask { for index in stride(from: lane, to: jobs, by: 8) { try await upload(index, round) } }
                }
                try await group.waitForAll()
            }
            let drainStart = Date(), cpuAtStart = MachineCPU.now()
            let processes = try (0..<count).map { _ in try bench.start(["worker", "--concurrency", "\(concurrency)"]) }
            try await waitUntilFinished()
            let busy = MachineCPU.now().busyPercent(since: cpuAtStart)
            // Drained from the first claim to the last commit: the worker processes' start-up
            // (exec, connections, topology) is a one-time cost, printed on its own below.
            let span = try await db.query("SELECT min(started_at) AS first, max(finished_at) AS last FROM jobs").first!
            let firstClaim = try span.decode(Date.self, "first"), lastFinish = try span.decode(Date.self, "last")
            let drainSeconds = lastFinish.timeIntervalSince(firstClaim)
            let rate = Double(jobs) / drainSeconds
            startUps.append((count, firstClaim.timeIntervalSince(drainStart)))
            // Latency: a steady trickle with the workers idle and ready.
            try await db.query("TRUNCATE events, outbox, jobs, certificate_versions, bindings, certificates CASCADE")
            for index in 0..<latencyJobs {
                try await upload(index, round + 100)
                try await Task.sleep(for: .milliseconds(1000 / latencyRate))
            }
            try await waitUntilFinished()
            let stats = try await db.query(
                """
                SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) * 1000 AS p50,
                       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) * 1000 AS p99
                FROM jobs WHERE state = 'succeeded'
                """
            ).first!
            for process in processes { process.stop() }
            perWorkerCount[count] = rate
            busyPerWorkerCount[count] = busy
            let pgbench = try pgbenchWrites(url: bench.databaseURL, clients: count * concurrency)
            print(
                String(
                    format: "%7d | %12.0f | %18.0f | %20.1f | %6.1f | %42.0f | %.2f (target >= 0.25: %@)",
                    count, rate, busy, try stats.decode(Double.self, "p50"), try stats.decode(Double.self, "p99"), pgbench, rate / pgbench,
                    rate / pgbench >= 0.25 ? "met" : "not met"))
        }
        print(
            "worker start-up (processes started → first claim), not counted in the drain: "
                + startUps.map { String(format: "%.2f s with %d", $0.seconds, $0.workers) }.joined(separator: ", "))
        if let one = perWorkerCount[1], let two = perWorkerCount[2] {
            print(String(format: "scaling 2 workers / 1 worker: %.2f (target >= 1.7 until PostgreSQL is the bound)", two / one))
            if let busy = busyPerWorkerCount[1], busy >= 90 {
                print(String(format: "bound: the machine's CPU (%.0f %% busy already with 1 worker); more workers cannot add throughput here", busy))
            }
        }
        await bench.tearDown()
    }

    /// TPC-B-like writes without branch updates, as many clients as jobs in flight.
    private func pgbenchWrites(url: String, clients: Int) throws -> Double {
        try runTool("pgbench", ["-i", "-s", "1", "-q", url])
        let threads = min(clients, 2)
        return try pgbenchTPS(
            try runTool("pgbench", ["-N", "-c", "\(clients)", "-j", "\(threads)", "-t", "\(max(250, 4000 / clients))", "-n", url]))
    }

    /// A fresh self-signed server certificate and its key, made by the X509 module's caller: openssl.
    static func bundle() throws -> (chain: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key.pem").path, cert = directory.appendingPathComponent("cert.pem").path
        try runTool(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", cert, "-subj", "/CN=bench.example.com", "-days", "30", "-addext", "subjectAltName=DNS:bench.example.com",
            ])
        return (try String(contentsOfFile: cert, encoding: .utf8), try String(contentsOfFile: key, encoding: .utf8))
    }
}
