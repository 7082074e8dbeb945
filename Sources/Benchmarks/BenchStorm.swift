import ArgumentParser
import CertFleetOptions
import Foundation
import Logging
import Store
import Synchronization

/// `certfleet bench storm` (issue 20's renewal storm): N ACME certificates made due at once,
/// renewed against a private Pebble by `certfleet scheduler` and W `certfleet worker`
/// processes, with the issuance budget limiting new orders per account. While the storm runs:
/// paced GETs through `certfleet api` (p99 per 10 s round), and one worker killed with
/// SIGKILL part-way and replaced. At the end: every certificate renewed exactly once (Pebble's
/// own count of new orders, and renew jobs per certificate), renewals/min, the longest wait,
/// and the most new orders Pebble saw in any budget window.
struct BenchStorm: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storm", abstract: "A renewal storm against a private Pebble: exactly-once, GET p99, budget spreading, kill -9.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions

    @Option(help: "Certificates made due at once.")
    var certificates: Int = 10_000

    @Option(help: "Worker processes.")
    var workers: Int = 2

    // Debian's Pebble 2.4 stops answering with 16 orders in flight (README, "Renewal storm"); 6 finish.
    @Option(help: "Concurrency of each worker process.")
    var concurrency: Int = 3

    @Option(help: "New orders per account the budget allows per window (default: a third of --certificates).")
    var budgetOrders: Int?

    @Option(help: "The budget's window, seconds.")
    var budgetWindow: Int = 120

    @Option(help: "Offered rate of the GETs measured while the storm runs (req/s).")
    var getRate: Int = 200

    @Option(help: "Fraction of the certificates renewed when one worker is killed with SIGKILL (0: no kill).")
    var killAt: Double = 0.3

    @Option(help: "Give up after this many seconds.")
    var timeout: Int = 3600

    // Pebble stands in for a CA on other machines; here it took 37 % of the two cores in a
    // default storm, time a real CA never takes from the API. 0 runs it beside everything else.
    @Option(help: "Nice value of the private Pebble and its DNS/HTTP test server (0-19).")
    var caNice: Int32 = 10

    @Option(help: "First of 6 consecutive free ports (API = Pebble's http-01 port, Pebble, its management, challtestsrv, DNS, TLS).")
    var port: Int = 18193

    func validate() throws {
        guard certificates >= 1, workers >= 1, concurrency >= 1 else {
            throw ValidationError("--certificates, --workers and --concurrency must be at least 1")
        }
        guard (0...1).contains(killAt) else { throw ValidationError("--kill-at is a fraction between 0 and 1") }
        guard (0...19).contains(caNice) else { throw ValidationError("--ca-nice is a nice value between 0 and 19") }
        if let budgetOrders, budgetOrders < 1 { throw ValidationError("--budget-orders must be at least 1") }
    }

    func run() async throws {
        try await BenchEnvironment.interruptible { try await self.runStorm() }
    }

    private func runStorm() async throws {
        let logger = Logger(label: "certfleet.bench")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-storm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // Defers run last first: Pebble stops (its pid files are in WORK) before WORK goes.
        var keepLogs = false
        defer { if !keepLogs { try? FileManager.default.removeItem(at: work) } }
        let pebble = StormPebble(directory: work.appendingPathComponent("stack"), port: port, nice: caNice)
        try pebble.start()
        defer { pebble.stop() }
        let bench = try await BenchEnvironment.make(
            database: database, broker: broker, name: "certfleet_bench_storm", poolSize: concurrency + 4, logger: logger)
        do {
            try await storm(bench: bench, pebble: pebble, work: work)
        } catch {
            await bench.tearDown()
            keepLogs = true
            emit("logs kept in \(work.path)")
            throw error
        }
        await bench.tearDown()
    }

    private func storm(bench: BenchEnvironment, pebble: StormPebble, work: URL) async throws {
        let orders = budgetOrders ?? max(1, certificates / 3)
        let seed = StormSeed(db: bench.db, project: bench.project)
        try await seed.seed(count: certificates, template: try ScaleSeeder.template(sealer: bench.sealer))
        let (_, secret) = try await APIKeys.create(bench.db, project: bench.project, name: "bench", scopes: ["certificates:read"])
        let limits = """
            {"\(pebble.directoryURL)": {"orders_per_account": {"count": \(orders), "seconds": \(budgetWindow)},
             "certificates_per_registered_domain": {"count": \(certificates), "seconds": 604800},
             "duplicate_certificates": {"count": 5, "seconds": 604800}}}
            """
        let environment = pebble.certfleetEnvironment.merging([
            "CERTFLEET_ACME_RATE_LIMITS": limits, "CERTFLEET_API_PORT": "\(port)",
            "CERTFLEET_API_READ_RATE": "0", "CERTFLEET_API_WRITE_RATE": "0",
            "CERTFLEET_RETENTION_OUTBOX_DAYS": "off", "CERTFLEET_RETENTION_JOBS_DAYS": "off",
            "CERTFLEET_RETENTION_EVENTS_DAYS": "off", "CERTFLEET_RETENTION_VERSIONS_DAYS": "off",
        ]) { $1 }
        emit(
            "storm: \(certificates) certificates, \(workers) workers × \(concurrency), budget \(orders) new orders / \(budgetWindow) s, "
                + "GETs at \(getRate)/s, Pebble at \(pebble.directoryURL) (nice \(caNice))")
        let api = try bench.start(["api"], environment: environment, log: work.appendingPathComponent("api.log"))
        let scheduler = try bench.start(["scheduler"], environment: environment, log: work.appendingPathComponent("scheduler.log"))
        func startWorker(_ n: Int) throws -> Process {
            try bench.start(
                ["worker", "--concurrency", "\(concurrency)"], environment: environment, log: work.appendingPathComponent("worker-\(n).log"))
        }
        var fleet = try (0..<workers).map(startWorker)
        defer { for process in fleet + [api, scheduler] where process.isRunning { process.stop() } }
        try await BenchEnvironment.waitUntilReady("http://127.0.0.1:\(port)")

        let uuid = try await seed.certificateID(certificates / 2)
        let ordersBefore = try pebble.orderTimes().count
        let issuedBefore = try PebbleOrderLog.certificatesIssued(pebble.logFile)
        let dueAt = Date()
        try await seed.makeDue()
        let reads = PacedReads(url: "http://127.0.0.1:\(port)/v1/certificates/\(uuid)", secret: secret, rate: getRate, scratch: work)
        reads.start()
        var killed: Date?
        var progress = try await seed.progress()
        var mostDeferred = 0
        var unfinished = false
        var stalled: String?
        var lastRenewal = (renewed: progress.renewed, at: Date())
        while progress.renewed < certificates {
            // Out of time: report what happened so far.
            guard Date().timeIntervalSince(dueAt) < Double(timeout) else {
                unfinished = true
                break
            }
            try await Task.sleep(for: .seconds(1))
            progress = try await seed.progress()
            // No renewal for longer than the budget could hold them back: the CA stopped answering
            // (Debian's Pebble 2.4 can deadlock); its goroutine dump says where. From the database's
            // count only: reading Pebble's log every second would load the machine being measured.
            if progress.renewed != lastRenewal.renewed {
                lastRenewal = (progress.renewed, Date())
            } else if Date().timeIntervalSince(lastRenewal.at) > Double(2 * budgetWindow + 60) {
                stalled = pebble.dumpGoroutines(to: work.appendingPathComponent("pebble-goroutines.log"))
                unfinished = true
                break
            }
            mostDeferred = max(mostDeferred, progress.deferred)
            if killed == nil, killAt > 0, Double(progress.renewed) >= killAt * Double(certificates), let victim = fleet.first {
                kill(victim.processIdentifier, SIGKILL)
                victim.waitUntilExit()
                killed = Date()
                fleet.append(try startWorker(fleet.count))
                emit("killed worker pid \(victim.processIdentifier) with SIGKILL at \(progress.renewed) renewed; a new worker started")
            }
        }
        let finished = Date()
        let rounds = reads.stop()
        try await Task.sleep(for: .seconds(2)) // Pebble's log catches up
        let times = try pebble.orderTimes()
        let newOrders = times.count - ordersBefore
        let issued = try PebbleOrderLog.certificatesIssued(pebble.logFile) - issuedBefore
        // A kill between the CA creating an order and its URL being saved leaves that order unused.
        let orphansAllowed = killed == nil ? 0 : 1
        let jobs = try await seed.renewJobs()
        let longest = (progress.lastFinished ?? finished).timeIntervalSince(dueAt)
        let span = (progress.lastFinished ?? finished).timeIntervalSince(progress.firstJob ?? dueAt)
        let busiest = PebbleOrderLog.mostInAnyWindow(Array(times.dropFirst(ordersBefore)), seconds: budgetWindow)
        let reserved = try await seed.orderReservations()
        let busiestReserved = PebbleOrderLog.mostInAnyWindow(reserved, seconds: budgetWindow)
        let p99s = rounds.map(\.p99).sorted()
        if let stalled {
            emit(
                "NOT FINISHED: Pebble stopped answering (no renewal for \(2 * budgetWindow + 60) s) after "
                    + "\(times.count - ordersBefore) orders; \(progress.renewed) of \(certificates) renewed. \(stalled)")
        } else if unfinished {
            emit("NOT FINISHED within \(timeout) s: \(progress.renewed) of \(certificates) renewed; the figures below are so far")
        }
        emit("| measurement | result |\n|---|---|")
        emit("| certificates made due at once | \(certificates) |")
        emit("| renewed (current version 2) / renewed twice / in error | \(progress.renewed) / \(progress.renewedTwice) / \(progress.failed) |")
        emit("| certificates Pebble issued during the storm | \(issued)\(issued == certificates ? " ✓ (one per certificate)" : " ✗") |")
        emit(
            "| new orders in Pebble's log during the storm (one left unused per kill allowed) | \(newOrders)"
                + "\((certificates...certificates + orphansAllowed).contains(newOrders) ? " ✓" : " ✗") |")
        emit("| renew jobs succeeded / most for one certificate | \(jobs.succeeded) / \(jobs.mostPerCertificate) |")
        emit(String(format: "| renewals/min (first renew job → last renewal) | %.0f |", Double(certificates) / max(span, 0.001) * 60))
        emit(String(format: "| longest wait (made due → renewed), s | %.0f |", longest))
        emit(
            "| most new orders reserved in any \(budgetWindow) s window, the budget's ledger (limit \(orders)) | "
                + "\(busiestReserved) of \(reserved.count)\(busiestReserved <= orders ? " ✓" : " ✗") |")
        emit("| most new orders in any \(budgetWindow) s window of Pebble's log (to the second) | \(busiest) |")
        emit("| certificates deferred by the budget at once (most seen) | \(mostDeferred) |")
        if !p99s.isEmpty {
            let median = p99s.percentile(0.5), worst = p99s.last!
            emit(
                String(
                    format: "| GET /v1/certificates/{uuid} at %d/s during the storm: p99 median / worst of %d rounds of 10 s, ms | %.2f / %.2f%@ |",
                    getRate, p99s.count, median, worst, worst < 20 ? " ✓" : " ✗ (target 20)"))
            // How the rounds spread: one slow round reads differently from a slow storm.
            let over = p99s.filter { $0 >= 20 }.count
            emit(
                String(
                    format: "| GET p99 of the rounds: 90th percentile, ms / rounds at or over 20 ms | %.2f / %d of %d |",
                    p99s.percentile(0.9), over, p99s.count))
        }
        // In time order, to place a slow round against the kill and the budget's windows.
        emit("GET p99 per round, ms, in order: " + rounds.map { String(format: "%.1f", $0.p99) }.joined(separator: " "))
        emit("| default account registrations reserved (one per worker process at most) | \(try await seed.accountRegistrations()) |")
        emit("| worker killed with SIGKILL | \(killed.map { String(format: "at %.0f s", $0.timeIntervalSince(dueAt)) } ?? "no") |")
        if unfinished {
            throw BenchFailure(
                "the storm did not finish\(stalled == nil ? " in \(timeout) s" : ": the CA stopped answering"): "
                    + "\(progress.renewed) of \(certificates) renewed")
        }
    }
}

/// GETs paced by `wrk` in rounds of 10 s on a thread of their own until stopped.
final class PacedReads: Sendable {
    let url: String
    let secret: String
    let rate: Int
    let scratch: URL
    private let state = Mutex<(stop: Bool, rounds: [Wrk.Result])>((false, []))
    private let done = DispatchSemaphore(value: 0)

    init(url: String, secret: String, rate: Int, scratch: URL) {
        self.url = url
        self.secret = secret
        self.rate = rate
        self.scratch = scratch
    }

    func start() {
        Thread.detachNewThread { [self] in
            let wrk = Wrk(scratch: scratch, secret: secret, duration: 10)
            while !state.withLock({ $0.stop }) {
                if let result = try? wrk.run(url: url, connections: 10, rate: rate) { state.withLock { $0.rounds.append(result) } }
            }
            done.signal()
        }
    }

    /// Stops after the round under way and returns every round's figures.
    @discardableResult
    func stop() -> [Wrk.Result] {
        let first = state.withLock { state -> Bool in
            defer { state.stop = true }
            return !state.stop
        }
        if first { done.wait() }
        return state.withLock { $0.rounds }
    }
}

/// A Pebble of the benchmark's own (own stack directory and ports, through `deploy/local/ctl`),
/// so its log counts only this run's orders. It validates http-01 on the API's port.
struct StormPebble {
    let directory: URL
    let port: Int
    /// Pebble's and challtestsrv's nice value.
    let nice: Int32

    var environment: [String: String] {
        [
            "CERTFLEET_STACK_DIR": directory.path, "CERTFLEET_PEBBLE_NICE": "\(nice)",
            "CERTFLEET_ACME_HTTP_PORT": "\(port)", "CERTFLEET_PEBBLE_PORT": "\(port + 1)",
            "CERTFLEET_PEBBLE_MANAGEMENT_PORT": "\(port + 2)", "CERTFLEET_CHALLTESTSRV_PORT": "\(port + 3)",
            "CERTFLEET_CHALLTESTSRV_DNS_PORT": "\(port + 4)", "CERTFLEET_ACME_TLS_PORT": "\(port + 5)",
        ]
    }
    var directoryURL: String { "https://127.0.0.1:\(port + 1)/dir" }
    var logFile: String { directory.appendingPathComponent("pebble/pebble.log").path }

    var certfleetEnvironment: [String: String] {
        [
            "CERTFLEET_ACME_DIRECTORY_URL": directoryURL, "CERTFLEET_ACME_CA_FILE": directory.appendingPathComponent("pebble/tls/ca.pem").path,
            "CERTFLEET_ACME_DNS_SERVER": "127.0.0.1:\(port + 4)",
        ]
    }

    func start() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try runTool("deploy/local/ctl", ["start", "pebble"], environment: environment)
    }

    func stop() {
        _ = try? runTool("deploy/local/ctl", ["stop", "pebble"], environment: environment)
    }

    /// When Pebble added each order.
    func orderTimes() throws -> [Date] {
        try PebbleOrderLog.orderTimes(logFile)
    }

    /// Has Pebble print every goroutine's stack (SIGQUIT; it exits), copies its log to FILE and
    /// says where it is and what its locks wait on.
    func dumpGoroutines(to file: URL) -> String {
        let pidFile = directory.appendingPathComponent("pebble/pebble.pid").path
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return "(no Pebble pid to dump)" }
        kill(pid, SIGQUIT)
        Thread.sleep(forTimeInterval: 2)
        try? FileManager.default.removeItem(at: file)
        guard (try? FileManager.default.copyItem(atPath: logFile, toPath: file.path)) != nil,
            let dump = try? String(contentsOf: file, encoding: .utf8)
        else { return "(Pebble's log could not be copied)" }
        let waiting = dump.split(separator: "\n").count { $0.hasPrefix("sync.(*RWMutex).") }
        return "Its goroutine dump: \(file.path) (\(waiting) goroutines waiting on a lock)."
    }
}

/// Parsed once, then only read: safe to hand to the task `BenchEnvironment.interruptible` runs.
extension BenchStorm: @unchecked Sendable {}
