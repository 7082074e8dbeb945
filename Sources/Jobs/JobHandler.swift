import ACME
import CertFleetCore
import Foundation
import Logging
import Store

/// Runs one kind of job. A handler decides; the runtime commits what it returns.
/// Throwing means "could not decide now" (database or network trouble): transient.
public protocol JobHandler: Sendable {
    var kind: JobKind { get }
    func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult
}

/// What handlers share: the database and the key sealer.
public struct JobContext: Sendable {
    public let db: Database
    public let sealer: KeySealer
    public let backoff: BackoffPolicy
    /// CAs and DNS for the issue, renew and revoke jobs.
    public let acme: ACMESettings

    public init(db: Database, sealer: KeySealer, backoff: BackoffPolicy = BackoffPolicy(), acme: ACMESettings = ACMESettings()) {
        self.db = db
        self.sealer = sealer
        self.backoff = backoff
        self.acme = acme
    }
}
