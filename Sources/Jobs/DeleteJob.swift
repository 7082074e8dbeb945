import CertFleetCore
import Foundation
import Logging
import Store

/// Deletes a certificate: refused while it is bound (checked again here, because a
/// binding may have been added after the request was accepted); the commit erases
/// the sealed keys and frees the name.
public struct DeleteJob: JobHandler {
    public let kind = JobKind.delete
    let context: JobContext

    public init(context: JobContext) { self.context = context }

    public func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult {
        let consumers = try await Certificates.bindings(context.db, certificate: job.certificateID)
        guard consumers.isEmpty else {
            return .failed(.certificateInUse, message: "the certificate is in use by \(consumers.joined(separator: ", "))")
        }
        return .deleted
    }
}
