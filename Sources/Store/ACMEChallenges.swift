import Foundation
import Postgres

/// A dns-01 record a certificate's issuance asked for, and the state of its job.
public struct DNSChallengeRecord: Sendable {
    public let identifier: String
    public let recordName: String?
    public let recordValue: String?
    public let jobState: String
}

/// `acme_challenges`: http-01 key authorizations every API replica serves, and the
/// dns-01 records of manual issuance (whose `expires_at` is the deadline to create them).
public struct ACMEChallenges: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    public func storeHTTP01(token: String, keyAuthorization: String, job: UUID?) async throws {
        try await db.query(
            """
            INSERT INTO acme_challenges (token, key_authorization, job_id, identifier, type)
            VALUES (\(token), \(keyAuthorization), \(job), '', 'http-01')
            ON CONFLICT (token) DO UPDATE SET key_authorization = excluded.key_authorization, expires_at = now() + interval '1 day'
            """)
    }

    /// The key authorization for an unexpired http-01 TOKEN.
    public func http01KeyAuthorization(token: String) async throws -> String? {
        try await db.query(
            """
            SELECT key_authorization FROM acme_challenges WHERE token = \(token) AND type = 'http-01' AND expires_at > now()
            """
        ).first?.decode(String.self, "key_authorization")
    }

    public func remove(token: String) async throws {
        try await db.query("DELETE FROM acme_challenges WHERE token = \(token)")
    }

    static func dnsRowKey(name: String, value: String) -> String { "dns-01:\(name):\(value)" }

    /// Records the TXT record NAME = VALUE that JOB waits for (idempotent).
    public func storeDNS01(name: String, value: String, identifier: String, job: UUID) async throws {
        try await db.query(
            """
            INSERT INTO acme_challenges (token, key_authorization, job_id, identifier, type, dns_name, dns_value)
            VALUES (\(Self.dnsRowKey(name: name, value: value)), \(value), \(job), \(identifier), 'dns-01', \(name), \(value))
            ON CONFLICT (token) DO NOTHING
            """)
    }

    public func removeDNS01(name: String, value: String) async throws {
        try await remove(token: Self.dnsRowKey(name: name, value: value))
    }

    /// True once any of JOB's dns-01 records is past its deadline.
    public func dnsDeadlinePassed(job: UUID) async throws -> Bool {
        try await db.query(
            """
            SELECT 1 AS past FROM acme_challenges WHERE job_id = \(job) AND type = 'dns-01' AND expires_at <= now() LIMIT 1
            """
        ).count > 0
    }

    /// The dns-01 records of CERTIFICATE's jobs, oldest first.
    public func dnsRecords(project: UUID, certificate: UUID) async throws -> [DNSChallengeRecord] {
        try await db.query(
            """
            SELECT a.identifier, a.dns_name, a.dns_value, j.state FROM acme_challenges a JOIN jobs j ON j.id = a.job_id
            WHERE j.project_id = \(project) AND j.certificate_id = \(certificate) AND a.type = 'dns-01'
            ORDER BY a.created_at, a.identifier
            """
        ).map { row in
            DNSChallengeRecord(
                identifier: try row.decode(String.self, "identifier"), recordName: try row.decode(String?.self, "dns_name"),
                recordValue: try row.decode(String?.self, "dns_value"), jobState: try row.decode(String.self, "state"))
        }
    }
}
