import CertFleetCore
import Metrics
import NIOConcurrencyHelpers

/// The worker's counters: exported through swift-metrics (`certfleet_*`) and kept
/// locally too, so the worker can log a summary when it drains.
public final class WorkerMetrics: Sendable {
    private let counts = NIOLockedValueBox([String: Int]())
    private let duplicates = Counter(label: "certfleet_duplicate_deliveries_total")
    private let deadLettered = Counter(label: "certfleet_dead_lettered_total")
    // Made up front, so each is on /metrics (at 0) before the first event and alerts see it.
    private let leasesLost = Counter(label: "certfleet_lease_lost_total")

    public init() {}

    func jobFinished(kind: JobKind, outcome: String, duration: Duration, queueLag: Double) {
        Counter(label: "certfleet_jobs_total", dimensions: [("kind", kind.rawValue), ("outcome", outcome)]).increment()
        Timer(label: "certfleet_job_duration_seconds", dimensions: [("kind", kind.rawValue)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        Recorder(label: "certfleet_job_queue_lag_seconds", dimensions: [("kind", kind.rawValue)]).record(queueLag)
        bump("jobs_\(outcome)")
    }

    func duplicateDropped() { duplicates.increment(); bump("duplicates_dropped") }
    func deadLettered(reason: String) { deadLettered.increment(); bump("dead_lettered") }
    func leaseLost() { leasesLost.increment(); bump("lease_lost") }

    /// A snapshot of the local counts (`jobs_succeeded`, `duplicates_dropped`, …).
    public var snapshot: [String: Int] { counts.withLockedValue { $0 } }

    private func bump(_ key: String) { counts.withLockedValue { $0[key, default: 0] += 1 } }
}
