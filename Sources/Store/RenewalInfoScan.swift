import CertFleetCore
import Foundation
import Postgres

/// An ACME certificate whose CA is due to be asked for its renewal window (ARI).
public struct DueRenewalInfoCheck: Sendable, Equatable {
    public let certificateID: UUID
    /// The CA that issued it (its account's directory).
    public let directoryURL: String
    /// The current version's chain (the leaf names the certificate to the CA).
    public let chainPEM: String
}

/// The CA's answer to one renewal-info check.
public enum RenewalInfoAnswer: Sendable {
    /// A suggested window, and when to ask again (`Retry-After`).
    case window(start: Date, end: Date, explanationURL: String?, retryAfter: TimeInterval?)
    /// The CA offers no ARI: ask again much later.
    case unsupported
    /// No usable answer (unreachable, garbage, an inverted window): ask again later.
    case failed
}

extension Maintenance {
    /// Between ARI checks without a `Retry-After`: Let's Encrypt's advice (6 h), spread by jitter.
    public static let renewalInfoInterval: TimeInterval = 6 * 3600
    /// A `Retry-After` is honoured within these bounds (a CA saying "years" is clamped).
    public static let renewalInfoRetryBounds: ClosedRange<TimeInterval> = 600...(24 * 3600)

    /// Claims ACME certificates whose ARI check is due (never asked, or `ari_next_check_at`
    /// passed): pushes the next check an hour out in the same transaction, so several
    /// schedulers share the work and a scheduler that dies mid-check is retried later.
    public func claimRenewalInfoChecks(limit: Int = 20, now: Date = Date()) async throws -> [DueRenewalInfoCheck] {
        try await db.transaction { tx in
            let rows = try await tx.query(Self.renewalInfoDueQuery(limit: limit, now: now))
            var due: [DueRenewalInfoCheck] = []
            for row in rows {
                let id = try row.decode(UUID.self, "id")
                try await tx.query("UPDATE certificates SET ari_next_check_at = \(now.addingTimeInterval(3600)) WHERE id = \(id)")
                due.append(
                    DueRenewalInfoCheck(
                        certificateID: id, directoryURL: try row.decode(String.self, "directory_url"),
                        chainPEM: try row.decode(String.self, "chain_pem")))
            }
            return due
        }
    }

    /// The ARI scan's SELECT, never-asked first: the expression index `certificates_ari_next`
    /// (migration 0012) bounds it to the due rows, NULL ("never asked") sorting as -infinity.
    public static func renewalInfoDueQuery(limit: Int, now: Date) -> PostgresQuery {
        """
        SELECT c.id, a.directory_url, v.chain_pem
        FROM certificates c
        JOIN acme_accounts a ON a.id = c.acme_account_id
        JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
        WHERE c.source = 'acme' AND c.deleted_at IS NULL AND c.state IN ('valid', 'renewing', 'expired')
          AND v.chain_pem IS NOT NULL AND coalesce(c.ari_next_check_at, '-infinity'::timestamptz) <= \(now)
        ORDER BY coalesce(c.ari_next_check_at, '-infinity'::timestamptz) LIMIT \(limit) FOR UPDATE OF c SKIP LOCKED
        """
    }

    /// Records the CA's answer for CERTIFICATE. A window moves `renew_at` to FRACTION of the
    /// way into it when that is earlier (never later); a window already over (a CA revoking a
    /// batch) makes the certificate due now. The next check follows `Retry-After` (clamped),
    /// else six hours, with JITTER (a fraction) added so checks spread out.
    public func recordRenewalInfo(
        _ answer: RenewalInfoAnswer, certificate: UUID, now: Date = Date(),
        fraction: Double = .random(in: 0...1), jitter: Double = .random(in: 0...0.1)
    ) async throws {
        switch answer {
        case .window(let start, let end, let explanationURL, let retryAfter):
            let wait = min(
                max(retryAfter ?? Self.renewalInfoInterval, Self.renewalInfoRetryBounds.lowerBound), Self.renewalInfoRetryBounds.upperBound)
            let next = now.addingTimeInterval(wait * (1 + jitter))
            let pick = end <= now ? now : max(RenewalWindow.pick(start: start, end: end, fraction: fraction), now)
            try await db.query(
                """
                UPDATE certificates SET ari_window_start = \(start), ari_window_end = \(end), ari_explanation_url = \(explanationURL),
                       ari_checked_at = \(now), ari_next_check_at = \(next),
                       renew_at = CASE WHEN renew_at IS NULL OR \(pick) < renew_at THEN \(pick) ELSE renew_at END, updated_at = now()
                WHERE id = \(certificate)
                """)
        case .unsupported:
            try await db.query(
                """
                UPDATE certificates SET ari_checked_at = \(now), ari_next_check_at = \(now.addingTimeInterval(24 * 3600 * (1 + jitter)))
                WHERE id = \(certificate)
                """)
        case .failed:
            try await db.query(
                """
                UPDATE certificates SET ari_next_check_at = \(now.addingTimeInterval(Self.renewalInfoInterval * (1 + jitter)))
                WHERE id = \(certificate)
                """)
        }
    }
}
