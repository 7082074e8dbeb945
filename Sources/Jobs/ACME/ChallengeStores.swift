import ACME
import Foundation
import Postgres

/// http-01 tokens in `acme_challenges`: every API replica serves them at
/// `/.well-known/acme-challenge/{token}`, whichever worker runs the order.
public struct DatabaseHTTP01TokenStore: HTTP01TokenStore {
    let db: PostgresClient
    /// The job the tokens belong to (its rows go when the job's certificate is cleaned up).
    let jobID: UUID?

    public init(db: PostgresClient, jobID: UUID?) {
        self.db = db
        self.jobID = jobID
    }

    public func store(token: String, keyAuthorization: String) async throws {
        try await db.query("""
            INSERT INTO acme_challenges (token, key_authorization, job_id, identifier, type)
            VALUES (\(token), \(keyAuthorization), \(jobID), '', 'http-01')
            ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization, expires_at = now() + interval '1 day'
            """)
    }

    public func keyAuthorization(forToken token: String) async throws -> String? {
        try await db.query("""
            SELECT key_authorization FROM acme_challenges WHERE token = \(token) AND type = 'http-01' AND expires_at > now()
            """).first?.decode(String.self, "key_authorization")
    }

    public func remove(token: String) async throws {
        try await db.query("DELETE FROM acme_challenges WHERE token = \(token)")
    }
}

/// dns-01-manual: creates nothing, records the TXT record the user must create in
/// `acme_challenges` so `GET /v1/certificates/{ref}/challenges` shows it. The row's
/// `expires_at` is the deadline for the record to appear.
public struct DatabaseManualDNSProvider: DNS01Provider {
    let db: PostgresClient
    let jobID: UUID

    public init(db: PostgresClient, jobID: UUID) {
        self.db = db
        self.jobID = jobID
    }

    static func rowKey(name: String, value: String) -> String { "dns-01:\(name):\(value)" }

    public func createRecord(name: String, value: String) async throws {
        var domain = name.hasPrefix("_acme-challenge.") ? String(name.dropFirst("_acme-challenge.".count)) : name
        if domain.hasSuffix(".") { domain.removeLast() }
        try await db.query("""
            INSERT INTO acme_challenges (token, key_authorization, job_id, identifier, type, dns_name, dns_value)
            VALUES (\(Self.rowKey(name: name, value: value)), \(value), \(jobID), \(domain), 'dns-01', \(name), \(value))
            ON CONFLICT (token) DO NOTHING
            """)
    }

    public func deleteRecord(name: String, value: String) async throws {
        try await db.query("DELETE FROM acme_challenges WHERE token = \(Self.rowKey(name: name, value: value))")
    }

    /// True once the job's manual records are past their deadline.
    func deadlinePassed() async throws -> Bool {
        try await db.query("""
            SELECT 1 AS past FROM acme_challenges WHERE job_id = \(jobID) AND type = 'dns-01' AND expires_at <= now() LIMIT 1
            """).count > 0
    }
}
