import CertFleetCore
import Foundation
import Postgres

extension Certificates {
    /// Sets (SECONDS) or clears (nil: back to 2/3 of the lifetime) how long before `not_after`
    /// the certificate is renewed, and moves `renew_at` of its current version accordingly.
    /// A `renew_before` longer than the lifetime makes the certificate due at once.
    public static func setRenewBefore(
        _ db: PostgresClient, project: UUID, reference: String, seconds: Int?,
        expectedVersion: Int64? = nil, actor: String
    ) async throws {
        try await db.transaction { tx in
            let certificate = try await lock(tx, project: project, reference: reference)
            if let expectedVersion, expectedVersion != certificate.rowVersion {
                throw StoreError.versionMismatch(expected: expectedVersion, actual: certificate.rowVersion)
            }
            try await tx.query(
                """
                UPDATE certificates c SET renew_before = \(seconds.map(Int64.init))::bigint * interval '1 second',
                       renew_at = coalesce((SELECT certfleet_renew_at(v.not_before, v.not_after,
                           \(seconds.map(Int64.init))::bigint * interval '1 second')
                                            FROM certificate_versions v WHERE v.certificate_id = c.id AND v.version = c.current_version),
                                           c.renew_at),
                       version = version + 1, updated_at = now()
                WHERE c.id = \(certificate.id)
                """)
            try await Events.record(
                tx, project: project, certificate: certificate.id, job: nil, type: "renew_before_changed",
                from: nil, to: nil, reason: seconds.map { "\($0)s" } ?? "default", actor: actor)
        }
    }
}
