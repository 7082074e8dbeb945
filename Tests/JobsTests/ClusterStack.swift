import Foundation
import TestSupport

/// A private cluster for one test, started by `deploy/local/ctl` in cluster mode on free
/// ports under the git-ignored stack directory: any of `postgres` (the primary),
/// `postgres_standby` and `rabbitmq_cluster` (3 nodes). Without `rabbitmq_cluster` the
/// test uses the shared single-node broker (with its own queue prefix).
final class ClusterStack: Sendable {
    /// `deploy/local/test --cluster` (and CI) turn the cluster fault runs on.
    static var enabled: Bool { TestStack.env("CERTFLEET_CLUSTER_TESTS", default: "") == "1" }

    let directory: URL
    let environment: [String: String]
    let databaseURL: String
    /// Every node, comma-separated (or the shared broker).
    let amqpURL: String

    private init(directory: URL, environment: [String: String], databaseURL: String, amqpURL: String) {
        self.directory = directory
        self.environment = environment
        self.databaseURL = databaseURL
        self.amqpURL = amqpURL
    }

    static func start(_ services: [String], name: String) async throws -> ClusterStack {
        let directory = TestStack.privateStackDirectory(name)
        let pgPort = freeRange([0, 1])
        let amqpPort = freeRange([0, 1, 2, 10, 11, 12, 20], avoiding: pgPort...(pgPort + 1))
        let environment = [
            "CERTFLEET_CLUSTER": "1", "CERTFLEET_CLUSTER_STACK_DIR": directory.path,
            "CERTFLEET_CLUSTER_PG_PORT": "\(pgPort)", "CERTFLEET_CLUSTER_AMQP_PORT": "\(amqpPort)",
            "CERTFLEET_CLUSTER_SERVICES": services.joined(separator: " "), "CERTFLEET_PG_STANDBY_PORT": "\(pgPort + 1)",
        ]
        do {
            try await TestStack.ctl(["start"], environment: environment)
        } catch {
            _ = try? await TestStack.ctl(["stop"], environment: environment)
            throw error
        }
        // `ctl env` prints one export per line; a later one (the standby's multi-host
        // string) overrides an earlier one (the primary alone).
        var exported: [String: String] = [:]
        for line in try await TestStack.ctl(["env"], environment: environment).split(separator: "\n") {
            guard line.hasPrefix("export "), let equals = line.firstIndex(of: "=") else { continue }
            exported[String(line[line.index(line.startIndex, offsetBy: 7)..<equals])] =
                String(line[line.index(after: equals)...]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return ClusterStack(
            directory: directory, environment: environment, databaseURL: exported["CERTFLEET_DATABASE_URL"]!,
            amqpURL: services.contains("rabbitmq_cluster") ? exported["CERTFLEET_AMQP_URL"]! : TestStack.amqpURL)
    }

    /// Starts the cluster, runs BODY with it, and stops it afterwards, also when BODY
    /// throws (a failed run must not leave three RabbitMQ nodes running).
    static func run(_ services: [String], name: String, _ body: (ClusterStack) async throws -> Void) async throws {
        try await TestStack.using(try await start(services, name: name), tearDown: { await $0.stop() }, body)
    }

    /// A base port P with P+offset free for every offset.
    private static func freeRange(_ offsets: [Int], avoiding taken: ClosedRange<Int> = 0...0) -> Int {
        while true {
            let base = TestStack.freePort()
            if offsets.allSatisfy({ !taken.contains(base + $0) && !TestStack.isListening(port: base + $0) }) { return base }
        }
    }

    /// The broker URLs rotated to start at node N: a process connects there first.
    func amqpURL(startingAt node: Int) -> String {
        let urls = amqpURL.split(separator: ",")
        return (urls[(node % urls.count)...] + urls[..<(node % urls.count)]).joined(separator: ",")
    }

    /// The RabbitMQ node leading quorum queue QUEUE and its pid.
    func leader(of queue: String) async throws -> (node: Int, pid: Int32) {
        let fields = try await TestStack.ctl(["leader", queue], environment: environment).split(separator: " ")
        return (Int(fields[0])!, Int32(fields[1].trimmingCharacters(in: .whitespacesAndNewlines))!)
    }

    /// The PostgreSQL primary's postmaster pid.
    func primaryPid() throws -> Int32 {
        let file = directory.appendingPathComponent("postgres/data/postmaster.pid")
        return Int32(try String(contentsOf: file, encoding: .utf8).split(separator: "\n")[0])!
    }

    /// Failover: `pg_ctl promote` on the standby.
    func promoteStandby() async throws {
        try await TestStack.ctl(["promote"], environment: environment)
    }

    /// Stops every service by pid and removes the data.
    func stop() async {
        _ = try? await TestStack.ctl(["stop"], environment: environment)
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Finished-job counts sampled over a run, to tell when throughput came back after a fault.
struct ThroughputSamples {
    private(set) var samples: [(at: ContinuousClock.Instant, finished: Int)] = []

    mutating func record(_ finished: Int) { samples.append((ContinuousClock.now, finished)) }

    /// Finished jobs per second over the WINDOW ending at sample I.
    private func rate(endingAt i: Int, window: Duration) -> Double? {
        let end = samples[i]
        guard let start = samples[..<i].last(where: { end.at - $0.at >= window }) else { return nil }
        return Double(end.finished - start.finished) / (end.at - start.at).seconds
    }

    /// Before the fault at FAULT: the rate over the last 3 s. After it: the lowest 1-s rate;
    /// the longest stretch without a single job finishing; and when the 1-s rate, having
    /// dipped below half the rate before, came back to half of it ("no dip" when it never
    /// fell that low; "≤ …, jobs ran out" when the remaining jobs were done first).
    func recovery(after fault: ContinuousClock.Instant) -> String {
        guard let faultIndex = samples.lastIndex(where: { $0.at <= fault }),
            let before = rate(endingAt: faultIndex, window: .seconds(3)) ?? rate(endingAt: faultIndex, window: .milliseconds(500))
        else { return "recovery=unmeasured (no samples before the fault)" }
        var lowest = Double.infinity, dipped = false
        var recovered: Duration?
        var stall = Duration.zero, lastProgress = fault
        for i in samples.indices where i > faultIndex {
            if samples[i].finished > samples[i - 1].finished {
                stall = max(stall, samples[i].at - lastProgress)
                lastProgress = samples[i].at
            }
            guard samples[i].at - fault >= .seconds(1), let current = rate(endingAt: i, window: .seconds(1)) else { continue }
            lowest = min(lowest, current)
            if current < before / 2 {
                dipped = true
            } else if dipped && recovered == nil {
                recovered = samples[i].at - fault
            }
        }
        let end = (samples.last?.at ?? fault) - fault
        let recovery =
            recovered.map { String(format: "%.1fs", $0.seconds) }
            ?? (dipped ? String(format: "≤%.1fs (jobs ran out)", end.seconds) : "no dip")
        return String(
            format: "jobs_per_s_before=%.0f lowest_jobs_per_s_after=%.0f longest_stall=%.1fs ", before,
            lowest.isFinite ? lowest : 0, stall.seconds)
            + "throughput_recovered_after=\(recovery) " + String(format: "last_job_after_fault=%.1fs", end.seconds)
    }
}

extension Duration {
    var seconds: Double {
        let (whole, fraction) = components
        return Double(whole) + Double(fraction) / 1e18
    }
}
