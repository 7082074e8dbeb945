import CertFleetCore
import Foundation
import Postgres

/// A certificate version the renewal scan found due, claimed for one renew submission.
public struct DueRenewal: Sendable, Equatable {
    public let certificateID: UUID
    public let projectID: UUID
    /// The version being renewed.
    public let version: Int
    /// 1 for the first renewal of this version, then one more per retry after a failure.
    public let attempt: Int
    /// The next try if this one fails (the certificate's `renew_at` now).
    public let nextTry: Date

    /// `renew:<certificate uuid>:<version>` (and `:<attempt>` for retries): several schedulers,
    /// or a scheduler that crashed after submitting, never create a second job for one try.
    public var idempotencyKey: String {
        let base = "renew:\(certificateID.uuidString.lowercased()):\(version)"
        return attempt == 1 ? base : "\(base):\(attempt)"
    }
}

extension Maintenance {
    /// Claims ACME certificates whose `renew_at` has come: pushes each one's `renew_at` to
    /// the next try (exponential backoff from BACKOFF, never past `not_after`) in the same
    /// transaction that locks it, and returns them for submission. Uploaded certificates are
    /// never renewed automatically (they get `expiring` events instead). A renew job that is
    /// still running keeps the certificate `renewing`, so it is not due again meanwhile.
    public func claimDueRenewals(
        backoff: BackoffPolicy, limit: Int = 50, now: Date = Date(),
        random: @Sendable () -> Double = { Double.random(in: 0.5...1) }
    ) async throws -> [DueRenewal] {
        try await db.transaction { tx in
            let rows = try await tx.query(Self.dueRenewalsQuery(limit: limit))
            var due: [DueRenewal] = []
            for row in rows {
                let id = try row.decode(UUID.self, "id")
                let notAfter = try row.decode(Date?.self, "not_after")
                let attempt = try row.decode(Int.self, "tries") + 1
                let next = Self.nextRenewalTry(after: attempt, now: now, notAfter: notAfter, backoff: backoff, random: random)
                try await tx.query("UPDATE certificates SET renew_at = \(next), updated_at = now() WHERE id = \(id)")
                due.append(
                    DueRenewal(
                        certificateID: id, projectID: try row.decode(UUID.self, "project_id"),
                        version: try row.decode(Int.self, "current_version"), attempt: attempt, nextTry: next))
            }
            return due
        }
    }

    /// Renew jobs waiting for a worker (queued, deferred ones too), counted up to LIMIT: the
    /// renewal scan's backpressure (the `jobs_queued_due` partial index, never the whole table).
    public func queuedRenewals(upTo limit: Int) async throws -> Int {
        try await db.query(Self.queuedRenewalsQuery(upTo: limit)).first?.decode(Int.self, "n") ?? 0
    }

    public static func queuedRenewalsQuery(upTo limit: Int) -> PostgresQuery {
        "SELECT count(*) AS n FROM (SELECT 1 FROM jobs WHERE state = 'queued' AND kind = 'renew' LIMIT \(limit)) q"
    }

    /// The renewal scan's SELECT (the `certificates_renew_due` index, soonest first).
    public static func dueRenewalsQuery(limit: Int) -> PostgresQuery {
        """
        SELECT c.id, c.project_id, c.current_version, v.not_after,
               (SELECT count(*) FROM jobs j WHERE j.certificate_id = c.id AND j.kind = 'renew'
                  AND (j.idempotency_key = 'renew:' || c.id::text || ':' || c.current_version::text
                       OR j.idempotency_key LIKE 'renew:' || c.id::text || ':' || c.current_version::text || ':%')) AS tries
        FROM certificates c JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
        WHERE c.source = 'acme' AND c.state IN ('valid', 'expired') AND c.deleted_at IS NULL AND c.renew_at <= now()
        ORDER BY c.renew_at LIMIT \(limit) FOR UPDATE OF c SKIP LOCKED
        """
    }

    /// When to try renewing again if try ATTEMPT fails: the backoff, but before `not_after`
    /// (half-way there when the backoff would overshoot); past `not_after` (already
    /// expired) the plain backoff.
    static func nextRenewalTry(after attempt: Int, now: Date, notAfter: Date?, backoff: BackoffPolicy, random: () -> Double) -> Date {
        if let notAfter, notAfter > now {
            return backoff.nextAttempt(after: attempt, now: now, deadline: notAfter, random: random)
                ?? now.addingTimeInterval(notAfter.timeIntervalSince(now) / 2)
        }
        return backoff.nextAttempt(after: attempt, now: now, random: random) ?? now.addingTimeInterval(3600)
    }
}
