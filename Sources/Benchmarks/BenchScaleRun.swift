import ArgumentParser
import CertFleetOptions
import Foundation
import Logging
import Messaging
import Scheduler
import Store

/// One size of `certfleet bench scale`: processes started fresh (their start-up time and
/// RSS at this size), the paced reads, `/metrics`, then the scheduler's ticks run in this
/// process against the same database (what `certfleet scheduler` runs per tick).
struct ScaleRun {
    let bench: BenchEnvironment
    let secret: String
    let size: Int
    let projects: Int
    let rate: Int
    let listRate: Int
    let duration: Int
    let due: Int
    let port: Int
    let logger: Logger

    var base: String { "http://127.0.0.1:\(port)" }

    func measure(into table: inout ScaleTable, probe: ScaleProbe) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-scale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Nothing is deleted while measuring: retention runs once, at the end, over the simulated year.
        let quiet = [
            "CERTFLEET_RETENTION_OUTBOX_DAYS": "off", "CERTFLEET_RETENTION_JOBS_DAYS": "off",
            "CERTFLEET_RETENTION_EVENTS_DAYS": "off", "CERTFLEET_RETENTION_VERSIONS_DAYS": "off",
        ]
        let apiStart = ContinuousClock.now
        let api = try bench.start(
            ["api"],
            environment: [
                "CERTFLEET_API_READ_RATE": "0", "CERTFLEET_API_WRITE_RATE": "0",
                "CERTFLEET_API_PORT": "\(port)", "CERTFLEET_API_METRICS_SNAPSHOT_SECONDS": "0",
            ])
        let workerStart = ContinuousClock.now
        let worker = try bench.start(["worker"], environment: ["CERTFLEET_METRICS_PORT": "\(port + 1)"])
        let schedulerStart = ContinuousClock.now
        let scheduler = try bench.start(["scheduler"], environment: quiet.merging(["CERTFLEET_METRICS_PORT": "\(port + 2)"]) { $1 })
        defer { for process in [api, worker, scheduler] where process.isRunning { process.stop() } }
        try await waitUntilAnswering("\(base)/readyz")
        table.set("API start-up to /readyz, s", size, String(format: "%.2f", durationSeconds(ContinuousClock.now - apiStart)))
        try await waitUntilAnswering("http://127.0.0.1:\(port + 1)/healthz")
        table.set("worker start-up to /healthz, s", size, String(format: "%.2f", durationSeconds(ContinuousClock.now - workerStart)))
        try await waitUntilAnswering("http://127.0.0.1:\(port + 2)/healthz")
        table.set("scheduler start-up to /healthz, s", size, String(format: "%.2f", durationSeconds(ContinuousClock.now - schedulerStart)))
        // The in-process ticks below are the scheduler's measurement; a second one would share their work.
        scheduler.stop()

        try await reads(into: &table, scratch: scratch)
        table.set("API RSS after the reads, MB", size, String(rssMB(api.processIdentifier)))
        table.set("worker RSS (idle), MB", size, String(rssMB(worker.processIdentifier)))
        // The renew jobs made due below must not be run (there is no CA here).
        worker.stop()
        api.stop()

        let storage = try await probe.sizes()
        let bytes = storage.reduce(0) { $0 + $1.bytes }
        table.set("storage per certificate (tables + indexes), bytes", size, String(bytes / size))
        try await scans(into: &table, probe: probe)
    }

    // MARK: - reads

    private func reads(into table: inout ScaleTable, scratch: URL) async throws {
        // A certificate of the measured project (project index 0) half-way through the fleet.
        let i = (size / 2) / (projects * 20) * (projects * 20)
        let name = ScaleSeed.name(i), host = ScaleSeed.commonName(i)
        let answer = try runTool("curl", ["-fsS", "-H", "Authorization: Bearer \(secret)", "\(base)/v1/certificates/\(name)?details=false"])
        guard
            let uuid = answer.range(of: #"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#, options: .regularExpression)
                .map({ String(answer[$0]) })
        else { throw BenchFailure("no uuid in \(answer)") }
        let deep = try deepCursor()
        let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(35 * 86_400))
        let wrk = Wrk(scratch: scratch, secret: secret, duration: duration)
        let requests: [(String, String, Int, Double)] = [
            ("GET /healthz (baseline)", "/healthz", rate, 5),
            ("GET /v1/certificates/{uuid}", "/v1/certificates/\(uuid)", rate, 5),
            ("GET /v1/certificates/{name}", "/v1/certificates/\(name)", rate, 5),
            ("list?common_name=", "/v1/certificates/list?common_name=\(host)", listRate, 20),
            ("list?domain= (exact)", "/v1/certificates/list?domain=www.\(host)", listRate, 20),
            ("list?domain= (via wildcard)", "/v1/certificates/list?domain=x.w\(i).example.net", listRate, 20),
            ("list?state=valid&limit=100", "/v1/certificates/list?state=valid&limit=100", listRate, 20),
            ("list?state=error&limit=100", "/v1/certificates/list?state=error&limit=100", listRate, 20),
            ("list?expires_before=+35d&limit=100", "/v1/certificates/list?expires_before=\(soon)&limit=100", listRate, 20),
            ("list, cursor half-way, limit=100", "/v1/certificates/list?limit=100&cursor=\(deep)", listRate, 20),
            ("GET /v1/match?host=", "/v1/match?host=\(host)", rate, 10),
            ("GET /v1/match?host= (via wildcard)", "/v1/match?host=x.w\(i).example.net", rate, 10),
        ]
        for (label, path, offered, target) in requests {
            let result = try wrk.run(url: base + path, connections: 10, rate: offered)
            let verdict = label.contains("baseline") ? "" : (result.p99 < target ? " ✓" : " ✗ (target \(Int(target)))")
            table.set("\(label) p50/p99 ms at \(offered)/s", size, String(format: "%.2f / %.2f%@", result.p50, result.p99, verdict))
        }
        // /metrics reads its counts on every scrape here (snapshot 0): the worst case, timed by curl,
        // asking for gzip as Prometheus does, then for plain text. Its per-certificate series
        // (4 families, 6 lines per certificate) come from the API's maintained copy, kept
        // rendered and compressed, loaded at start-up and refreshed from what changed.
        for (label, compressed) in [("gzip, as Prometheus scrapes", true), ("plain text", false)] {
            var times: [Double] = []
            var bytes = 0
            for _ in 0..<7 {
                let out = try runTool(
                    "curl",
                    ["-fsS", "-o", "/dev/null", "-w", "%{time_total} %{size_download}"] + (compressed ? ["-H", "Accept-Encoding: gzip"] : [])
                        + ["\(base)/metrics"])
                let fields = out.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
                times.append((Double(fields.first ?? "") ?? .nan) * 1000)
                bytes = Int(fields.last ?? "") ?? 0
            }
            times.sort()
            let worst = times.last ?? .nan
            table.set(
                "GET /metrics (\(label), uncached) median / worst of 7, ms", size,
                String(format: "%.1f / %.1f%@", times[times.count / 2], worst, worst < 100 ? " ✓" : " ✗ (target 100)"))
            table.set("GET /metrics (\(label)) body, MB", size, String(format: "%.1f", Double(bytes) / 1_000_000))
        }
    }

    /// A cursor half-way through the measured project, reached by paging as a client would.
    private func deepCursor() throws -> String {
        var cursor: String?
        let depth = max(2, size / projects / 2), pageSize = min(1000, depth)
        for _ in 0..<max(1, depth / pageSize) {
            let uri = "\(base)/v1/certificates/list?limit=\(pageSize)" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = try runTool("curl", ["-fsS", "-H", "Authorization: Bearer \(secret)", uri])
            guard let object = try JSONSerialization.jsonObject(with: Data(page.utf8)) as? [String: Any],
                let data = object["data"] as? [String: Any], let next = data["next_cursor"] as? String
            else { break }
            cursor = next
        }
        guard let cursor else { throw BenchFailure("the list returned no cursor") }
        return cursor
    }

    // MARK: - scheduler ticks

    private func scans(into table: inout ScaleTable, probe: ScaleProbe) async throws {
        let submitter = Submissions.publishing(db: bench.db, sealer: bench.sealer, amqp: bench.amqp, topology: bench.topology, logger: logger)
        let scheduler = SchedulerService(
            db: bench.db, connectionString: bench.databaseURL, amqp: bench.amqp, topology: bench.topology,
            configuration: SchedulerConfiguration(retention: nil, schedulerID: "bench-scale"),
            renew: { due, actor in
                _ = try await submitter.renew(
                    project: due.projectID, reference: due.certificateID.uuidString,
                    idempotencyKey: due.idempotencyKey, actor: actor)
            },
            logger: logger)
        let ticks: [(String, () async throws -> Void)] = [
            ("renewal", { _ = try await scheduler.renewalTick() }),
            ("expiry + expiring", { _ = try await scheduler.expiryTick() }),
            ("reaper (+ stale queued, counts fold)", { _ = try await scheduler.reapTick() }),
            ("outbox relay", { _ = try await scheduler.relayTick() }),
        ]
        for (name, tick) in ticks {
            var best = Double.infinity
            for _ in 0..<5 {
                let start = ContinuousClock.now
                try await tick()
                best = min(best, durationSeconds(ContinuousClock.now - start) * 1000)
            }
            table.set("\(name) tick, nothing due, ms (best of 5)", size, String(format: "%.1f%@", best, best < 10 ? " ✓" : " ✗ (target 10)"))
        }
        func timed(_ label: String, made: Int, _ tick: () async throws -> Int) async throws {
            let start = ContinuousClock.now
            var done = 0
            while true {
                let n = try await tick()
                done += n
                if n == 0 { break }
            }
            let elapsed = durationSeconds(ContinuousClock.now - start)
            table.set(
                "\(label), \(due) made due: s (per second)", size,
                String(format: "%d in %.1f s (%d/s)", made, elapsed, Int(Double(done) / max(elapsed, 0.001))))
        }
        try await timed("renewal: claim + submit each", made: try await probe.makeRenewalsDue(due)) { try await scheduler.renewalTick() }
        try await timed("reaper: requeue", made: try await probe.makeLeasesExpired(due)) { try await scheduler.reapTick() }
        try await timed("expiring: announce", made: try await probe.makeExpiring(due)) { try await scheduler.expiryTick().expiring }
        try await timed("expiry: mark expired", made: try await probe.makeExpired(due)) { try await scheduler.expiryTick().expired }
        try await timed("outbox relay: publish", made: try await probe.makeOutboxBacklog(due)) { try await scheduler.relayTick() }
    }

    // MARK: - processes

    private func waitUntilAnswering(_ url: String) async throws {
        for _ in 0..<600 {
            if (try? runTool("curl", ["-fsS", "-o", "/dev/null", url])) != nil { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchFailure("\(url) did not answer within 12 s")
    }

    private func rssMB(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return -1 }
        return kilobytes / 1024
    }
}
