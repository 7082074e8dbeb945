import ACME
import Foundation
import Store

/// http-01 tokens in the database: every API replica serves them at
/// `/.well-known/acme-challenge/{token}`, whichever worker runs the order.
public struct DatabaseHTTP01TokenStore: HTTP01TokenStore {
    let challenges: ACMEChallenges
    /// The job the tokens belong to (its rows go when the job's certificate is cleaned up).
    let jobID: UUID?

    public init(db: Database, jobID: UUID?) {
        self.challenges = ACMEChallenges(db: db)
        self.jobID = jobID
    }

    public func store(token: String, keyAuthorization: String) async throws {
        try await challenges.storeHTTP01(token: token, keyAuthorization: keyAuthorization, job: jobID)
    }

    public func keyAuthorization(forToken token: String) async throws -> String? {
        try await challenges.http01KeyAuthorization(token: token)
    }

    public func remove(token: String) async throws {
        try await challenges.remove(token: token)
    }
}

/// dns-01-manual: creates nothing, records the TXT record the user must create so
/// `GET /v1/certificates/{ref}/challenges` shows it, with a deadline for it to appear.
public struct DatabaseManualDNSProvider: DNS01Provider {
    let challenges: ACMEChallenges
    let jobID: UUID

    public init(db: Database, jobID: UUID) {
        self.challenges = ACMEChallenges(db: db)
        self.jobID = jobID
    }

    public func createRecord(name: String, value: String) async throws {
        var domain = name.hasPrefix("_acme-challenge.") ? String(name.dropFirst("_acme-challenge.".count)) : name
        if domain.hasSuffix(".") { domain.removeLast() }
        try await challenges.storeDNS01(name: name, value: value, identifier: domain, job: jobID)
    }

    public func deleteRecord(name: String, value: String) async throws {
        try await challenges.removeDNS01(name: name, value: value)
    }

    /// True once the job's manual records are past their deadline.
    func deadlinePassed() async throws -> Bool {
        try await challenges.dnsDeadlinePassed(job: jobID)
    }
}
