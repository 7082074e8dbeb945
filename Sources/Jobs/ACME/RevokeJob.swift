import ACME
import CertFleetCore
import Foundation
import Logging
import Postgres
import Store
import X509

/// Revokes the job's certificate version at the CA, signed by the certificate's
/// account. A certificate the CA already reports revoked counts as done.
public struct RevokeJob: JobHandler {
    public let kind = JobKind.revoke
    let context: JobContext
    let clients: ACMEClients

    public func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult {
        guard let version = job.certificateVersion,
              let row = try await context.db.query("""
                  SELECT v.chain_pem, c.acme_account_id FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id
                  WHERE v.certificate_id = \(job.certificateID) AND v.version = \(Int32(version))
                  """).first else {
            return .failed(code: "version_missing", message: "the certificate has no version to revoke")
        }
        guard let account = try row.decode(UUID?.self, "acme_account_id") else {
            return .failed(code: "acme_account_missing", message: "the certificate names no ACME account")
        }
        let reason = RevocationReason(rawValue: Int(job.parameters[ACMEJobParameter.reason] ?? "0") ?? 0) ?? .unspecified
        let leaf: Certificate
        do { leaf = try Certificate(pem: try row.decode(String.self, "chain_pem")) } catch let error as X509Error {
            return .failed(code: error.code, message: error.message)
        }
        let client = try await clients.client(db: context.db, sealer: context.sealer, account: account)
        // (A plain catch: the Swift 6.3 compiler crashes on a `catch let … as ACMEError` of a typed throw here.)
        var failure: ACMEError? = nil
        do { try await client.revoke(certificate: leaf, reason: reason) } catch { failure = error }
        guard let failure, failure.problem?.kind != .alreadyRevoked else { return .revoked }
        return ACMEFailure.result(failure, attempt: job.attempt, backoff: context.backoff)
    }
}
