import ACME
import CertFleetCore
import Foundation
import Logging
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
            let material = try await CertificateVersions(db: context.db).material(certificate: job.certificateID, version: version)
        else {
            return .failed(.versionMissing, message: "the certificate has no version to revoke")
        }
        guard let account = material.acmeAccountID else {
            return .failed(.acmeAccountMissing, message: "the certificate names no ACME account")
        }
        let reason = RevocationReason(rawValue: Int(job.parameters[ACMEJobParameter.reason] ?? "0") ?? 0) ?? .unspecified
        let leaf: Certificate
        switch Self.leaf(of: material) {
        case .success(let certificate): leaf = certificate
        case .failure(let error): return .failed(.certificate(code: error.code), message: error.message)
        }
        let client = try await clients.client(db: context.db, sealer: context.sealer, account: account)
        // (A plain catch: the Swift 6.3 compiler crashes on a `catch let … as ACMEError` of a typed throw here.)
        var failure: ACMEError? = nil
        do { try await client.revoke(certificate: leaf, reason: reason) } catch { failure = error }
        guard let failure, failure.problem?.kind != .alreadyRevoked else { return .revoked }
        return ACMEFailure.result(failure, attempt: job.attempt, backoff: context.backoff)
    }

    /// The version's leaf certificate (a separate function: the 6.3 compiler crashes on this catch inside `run`).
    private static func leaf(of material: VersionMaterial) -> Result<Certificate, X509Error> {
        do { return .success(try Certificate(pem: material.chainPEM ?? "")) } catch let error as X509Error {
            return .failure(error)
        } catch {
            return .failure(.noCertificate)
        }
    }
}
