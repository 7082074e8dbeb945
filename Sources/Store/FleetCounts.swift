import Foundation
import Postgres

/// The cluster-wide counts `/metrics` shows: jobs, certificates, outbox, renewals due, expiring.
public struct FleetCounts: Sendable {
    public var jobs: [(kind: String, state: String, count: Int)] = []
    public var certificates: [(state: String, count: Int)] = []
    public var outboxUnpublished: Int?
    /// Seconds the oldest outbox message due for publishing has waited (0 when none waits).
    public var outboxLagSeconds: Int?
    public var renewalsDue: Int?
    /// Served certificates expiring within 30, 7 and 1 days.
    public var expiringWithinDays: [(days: Int, count: Int)] = []

    /// From the maintained counts (`StateCounts`, migration 0013), never an aggregate over the
    /// tables, so a scrape costs the same at a million certificates as at ten. Each part
    /// independently: one failing query leaves its gauges out, not the others.
    public static func read(_ db: Database) async -> FleetCounts {
        // Folding the pending deltas here too keeps the read small when no scheduler runs.
        _ = try? await StateCounts.fold(db)
        var counts = FleetCounts()
        if let rows = try? await db.query(StateCounts.readQuery) {
            for row in rows {
                guard let subject = try? row.decode(String.self, "subject"), let kind = try? row.decode(String.self, "kind"),
                    let state = try? row.decode(String.self, "state"), let n = try? row.decode(Int.self, "n")
                else { continue }
                if subject == "jobs" {
                    counts.jobs.append((kind, state, n))
                } else if n != 0 {
                    counts.certificates.append((state, n))
                }
            }
        }
        if let row = try? await db.query(StateCounts.backlogQuery).first {
            counts.outboxUnpublished = try? row.decode(Int.self, "outbox")
            counts.outboxLagSeconds = try? row.decode(Int.self, "outbox_lag")
            counts.renewalsDue = try? row.decode(Int.self, "due")
        }
        if let row = try? await db.query(StateCounts.expiringQuery).first {
            counts.expiringWithinDays = StateCounts.expiringWindows.map { ($0, ((try? row.decode(Int?.self, "d\($0)")) ?? nil) ?? 0) }
        }
        return counts
    }
}
