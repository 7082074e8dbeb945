import Foundation
import Postgres

/// What an issue or renew job orders: the certificate's names, key type, challenge,
/// account, profile and whether the CA's renewal window (ARI) has opened.
public struct IssuanceTarget: Sendable {
    public let projectID: UUID
    public let commonName: String?
    public let sans: [String]
    public let keyType: String?
    public let challenge: String?
    public let accountID: UUID?
    public let currentVersion: Int?
    public let profile: String?
    /// The DNS provider named for dns-01; nil: the project's zone map (or the server's setup).
    public let dnsProvider: String?
    public let insideRenewalWindow: Bool
}

public enum IssuanceTargets {
    /// The certificate's order target; nil once it is deleted or being deleted.
    public static func load(_ db: Database, certificate: UUID) async throws -> IssuanceTarget? {
        guard
            let row = try await db.query(
                """
                SELECT project_id, common_name, sans, key_type, challenge, acme_account_id, current_version, profile, dns_provider,
                       coalesce(ari_window_start <= now(), false) AS inside_window
                FROM certificates WHERE id = \(certificate) AND state NOT IN ('deleting', 'deleted')
                """
            ).first
        else { return nil }
        return IssuanceTarget(
            projectID: try row.decode(UUID.self, "project_id"), commonName: try row.decode(String?.self, "common_name"),
            sans: try row.decode([String].self, "sans"), keyType: try row.decode(String?.self, "key_type"),
            challenge: try row.decode(String?.self, "challenge"), accountID: try row.decode(UUID?.self, "acme_account_id"),
            currentVersion: try row.decode(Int?.self, "current_version"), profile: try row.decode(String?.self, "profile"),
            dnsProvider: try row.decode(String?.self, "dns_provider"), insideRenewalWindow: try row.decode(Bool.self, "inside_window"))
    }

    /// Points the certificate at ACCOUNT (the CA chain's choice); with ONLYIFUNSET, only when it names none yet.
    public static func assignAccount(_ db: Database, certificate: UUID, account: UUID, onlyIfUnset: Bool = false) async throws {
        if onlyIfUnset {
            try await db.query("UPDATE certificates SET acme_account_id = \(account) WHERE id = \(certificate) AND acme_account_id IS NULL")
        } else {
            try await db.query("UPDATE certificates SET acme_account_id = \(account) WHERE id = \(certificate)")
        }
    }
}
