import CertFleetCore
import Foundation
import Postgres

/// A certificate to issue through ACME (`POST /v1/certificates` with `domains`).
public struct IssueRequest: Sendable {
    public var projectID: UUID
    /// nil: generate `<first domain>-xxxxx`.
    public var name: String?
    /// DNS names (wildcards allowed), already normalized; the first becomes the CN.
    public var domains: [String]
    /// `ec-p256` (default), `ec-p384`, `rsa-2048`, `rsa-3072`, `rsa-4096`.
    public var keyType: String
    /// `http-01` (default), `dns-01`, `dns-01-manual`.
    public var challenge: String
    /// An ACME account of the project (uuid or name); nil: the project's default account.
    public var acmeAccount: String?
    /// The CA's certificate profile (one of its `meta.profiles`); nil: the CA's default.
    public var profile: String?
    /// The project's DNS provider for dns-01 (name); nil: the zone map decides.
    public var dnsProvider: String?
    public var idempotencyKey: String?
    public var actor: String

    public init(
        projectID: UUID, name: String? = nil, domains: [String], keyType: String = "ec-p256", challenge: String = "http-01",
        acmeAccount: String? = nil, profile: String? = nil, idempotencyKey: String? = nil, actor: String
    ) {
        self.profile = profile
        self.projectID = projectID
        self.name = name
        self.domains = domains
        self.keyType = keyType
        self.challenge = challenge
        self.acmeAccount = acmeAccount
        self.idempotencyKey = idempotencyKey
        self.actor = actor
    }
}

/// The job parameters the ACME jobs read (`jobs.parameters`).
public enum ACMEJobParameter {
    /// Renew: "true" keeps the current version's key.
    public static let reuseKey = "reuse_key"
    /// Revoke: the RFC 5280 reason code.
    public static let reason = "reason"
    /// Revoke: "true" deletes the certificate once it is revoked (`DELETE …?revoke=true`).
    public static let deleteAfter = "delete_after"
}

extension Submissions {
    /// A new ACME certificate → `pending`, and an issue job. Only one issuance is in
    /// flight per project and name set: a second request gets the running job back.
    public func issue(_ request: IssueRequest) async throws -> SubmittedJob {
        let scope = IdempotencyScope(project: request.projectID, key: request.idempotencyKey, kind: .issue, reference: nil)
        // Byte order, as `COLLATE "C"` sorts in the query below.
        let sortedNames = Array(Set(request.domains)).sorted()
        return try await submitting(scope) { tx in
            // Serializes issuances of the same name set in the project, so the check below sees every earlier one.
            let lockKey = "issue:\(request.projectID.uuidString.lowercased()):\(sortedNames.joined(separator: ","))"
            try await tx.query("SELECT pg_advisory_xact_lock(hashtext(\(lockKey)::text)) AS locked")
            if let running = try await tx.query(
                """
                SELECT j.id, j.certificate_id, c.name FROM jobs j JOIN certificates c ON c.id = j.certificate_id
                WHERE j.project_id = \(request.projectID) AND j.kind = 'issue' AND j.state IN ('queued', 'running')
                  AND c.deleted_at IS NULL AND c.source = 'acme'
                  AND (SELECT array_agg(DISTINCT s COLLATE "C" ORDER BY s COLLATE "C") FROM unnest(c.sans) s) = \(sortedNames)::text[]
                LIMIT 1
                """
            ).first {
                return SubmittedJob(
                    jobID: try running.decode(UUID.self, "id"), certificateID: try running.decode(UUID.self, "certificate_id"),
                    certificateName: try running.decode(String.self, "name"), kind: .issue, outbox: nil, isReplay: true)
            }
            var accountID: UUID? = nil
            if let reference = request.acmeAccount {
                accountID = try await ACMEAccounts.find(tx, project: request.projectID, reference: reference)
            }
            if let provider = request.dnsProvider,
                try await tx.query("SELECT 1 AS found FROM dns_providers WHERE project_id = \(request.projectID) AND name = \(provider)").isEmpty
            {
                throw StoreError.dnsProviderNotFound(provider)
            }
            let certificateID = UUID()
            let name = try await Self.insertNamed(request.name, commonName: request.domains[0]) { name in
                !(try await tx.query(
                    """
                    INSERT INTO certificates (id, project_id, name, common_name, sans, source, state, key_type, challenge, acme_account_id, profile,
                                              dns_provider)
                    VALUES (\(certificateID), \(request.projectID), \(name), \(request.domains[0]), \(request.domains), 'acme', 'pending',
                            \(request.keyType), \(request.challenge), \(accountID), \(request.profile), \(request.dnsProvider))
                    ON CONFLICT DO NOTHING RETURNING id
                    """
                ).isEmpty)
            }
            try await Events.record(
                tx, project: request.projectID, certificate: certificateID, job: nil, type: "created",
                from: nil, to: CertificateState.pending.rawValue, actor: request.actor)
            return try await insertJob(
                tx, project: request.projectID, certificate: certificateID, name: name, kind: .issue,
                version: 1, key: request.idempotencyKey)
        }
    }

    /// A renewal of an ACME certificate: `renewing` (or `pending` after a failed first
    /// issuance) and a renew job producing the next version. The scheduler passes
    /// `renew:<certificate uuid>:<version>` as the idempotency key, so several schedulers
    /// enqueue one job per version.
    public func renew(
        project: UUID, reference: String, idempotencyKey: String? = nil, reuseKey: Bool = false, actor: String
    ) async throws -> SubmittedJob {
        return try await submitting(IdempotencyScope(project: project, key: idempotencyKey, kind: .renew, reference: reference)) { tx in
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            let source = try await tx.query("SELECT source FROM certificates WHERE id = \(certificate.id)").first!.decode(String.self, "source")
            guard source == "acme" else { throw StoreError.notRenewable(source: source) }
            let next = try transition(certificate, .renewRequested)
            let version = try await tx.query(
                "SELECT coalesce(max(version), 0) + 1 AS v FROM certificate_versions WHERE certificate_id = \(certificate.id)"
            )
            .first!.decode(Int.self, "v")
            try await Certificates.transition(tx, certificate, to: next, event: "renew_requested", actor: actor)
            return try await insertJob(
                tx, project: project, certificate: certificate.id, name: certificate.name, kind: .renew,
                version: version, key: idempotencyKey,
                parameters: [ACMEJobParameter.reuseKey: reuseKey ? "true" : "false"])
        }
    }

    /// Revocation at the CA of the current version (REASON: an RFC 5280 code); the
    /// certificate becomes `revoked` when the CA confirmed it. DELETEAFTER also deletes it then.
    public func revoke(
        project: UUID, reference: String, reason: Int = 0, idempotencyKey: String? = nil, deleteAfter: Bool = false,
        actor: String
    ) async throws -> SubmittedJob {
        return try await submitting(IdempotencyScope(project: project, key: idempotencyKey, kind: .revoke, reference: reference)) { tx in
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            let source = try await tx.query("SELECT source FROM certificates WHERE id = \(certificate.id)").first!.decode(String.self, "source")
            guard source == "acme" else { throw StoreError.notRevocable(source: source) }
            // Checked, not applied: the state changes when the CA confirmed.
            _ = try transition(certificate, .revoked)
            try await Events.record(
                tx, project: project, certificate: certificate.id, job: nil, type: "revoke_requested",
                from: certificate.state.rawValue, to: certificate.state.rawValue, reason: String(reason), actor: actor)
            return try await insertJob(
                tx, project: project, certificate: certificate.id, name: certificate.name, kind: .revoke,
                version: certificate.currentVersion, key: idempotencyKey,
                parameters: [ACMEJobParameter.reason: String(reason), ACMEJobParameter.deleteAfter: deleteAfter ? "true" : "false"])
        }
    }
}
