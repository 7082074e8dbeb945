import Foundation
import Store
import TestSupport
import Testing

/// Workers and schedulers have no API: `--metrics-port` gives them `/healthz` for
/// liveness probes and `/metrics` with their job counters.
@Suite("Probe endpoint", .serialized)
struct ProbeEndpointTests {
    /// GET URL with curl; nil while nothing answers.
    private func get(_ url: String) async -> String? {
        try? await TestStack.run("/usr/bin/curl", ["-fsS", "--max-time", "5", url])
    }

    @Test func workerAndSchedulerServeHealthAndMetrics() async throws {
        let env = try await JobsEnvironment.make()
        let workerPort = TestStack.freePort(), schedulerPort = TestStack.freePort()
        try env.start(["worker", "--metrics-port", "\(workerPort)"], name: "worker")
        try env.start(["scheduler"], name: "scheduler", environment: ["CERTFLEET_METRICS_PORT": "\(schedulerPort)"])
        let job = try await env.submitter().upload(UploadFixtures.shared.upload(project: env.project, good: true))
        #expect(
            try await env.eventually {
                try await env.db.query("SELECT state FROM jobs WHERE id = \(job.jobID)").first!.decode(String.self, "state") == "succeeded"
            })
        #expect(try await env.eventually { await get("http://127.0.0.1:\(workerPort)/healthz") == "ok\n" })
        #expect(try await env.eventually { await get("http://127.0.0.1:\(schedulerPort)/healthz") == "ok\n" })
        let metrics = try #require(await get("http://127.0.0.1:\(workerPort)/metrics"))
        let line = metrics.split(separator: "\n").first {
            $0.hasPrefix("certfleet_jobs_total{") && $0.contains("validate") && $0.contains("succeeded")
        }
        #expect(line?.hasSuffix(" 1") == true, "worker metrics:\n\(metrics)")
        await env.tearDown()
    }
}
