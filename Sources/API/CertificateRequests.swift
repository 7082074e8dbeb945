import ACME
import CertFleetCore
import Foundation
import Hummingbird
import Store
import X509

/// The intake layer: the one place certificate requests are checked and submitted. The four
/// doors — HTTP (`/v1/certificates`), AMQP intake, the NGINX Unit store and EMQX's consumer
/// resource — only parse their format into these calls and render the submitted job.
struct CertificateRequests {
    let dependencies: APIDependencies
    var submissions: Submissions { dependencies.submissions }

    /// Names one certificate may hold: the CA/Browser Forum's and Let's Encrypt's limit.
    static let maxNames = 100

    static func tooManyNames(_ count: Int) -> APIError {
        APIError(
            .unprocessableContent, "too_many_names", "a certificate may hold at most \(maxNames) names; this one has \(count)",
            details: [("count", .int(count)), ("limit", .int(maxNames))])
    }

    struct UploadBody: Decodable {
        var name: String?
        var cn: String?
        var chain: String?
        var pkey: String?
        var client_ca: String?
        var usage: String?
        var domains: [String]?
        var key_type: String?
        var challenge: String?
        var acme_account: String?
        var profile: String?
        /// The project's DNS provider for dns-01 (its name); nil: the zone map decides.
        var dns_provider: String?
    }

    /// Parses the bundle at once (422 with the X509 code), checks `cn` and `usage`.
    func checkedUpload(_ body: UploadBody, project: UUID, actor: String, idempotencyKey: String?) throws -> UploadRequest {
        if body.domains != nil {
            throw APIError(.unprocessableContent, "domains_not_allowed", "'domains' (ACME issuance) is only accepted by POST /v1/certificates")
        }
        guard let chain = body.chain, !chain.isEmpty else { throw APIError(.unprocessableContent, "chain_missing", "'chain' (PEM) is required") }
        guard let key = body.pkey, !key.isEmpty else { throw APIError(.unprocessableContent, "key_missing", "'pkey' (PEM private key) is required") }
        let usage = body.usage ?? "server"
        guard usage == "server" || usage == "client" else {
            throw APIError(.unprocessableContent, "invalid_usage", "'usage' must be 'server' or 'client'")
        }
        if let name = body.name, !CertificateName.isValid(name) || UUID(uuidString: name) != nil {
            throw APIError(
                .unprocessableContent, "invalid_name",
                "'name' must be 1–128 letters, digits, '.', '_' or '-', not starting with '.' or '-', and not a uuid",
                details: [("name", .string(name))])
        }
        let bundle = try CertificateBundle.parse(chain: chain, key: key, clientCA: body.client_ca)
        let leaf = bundle.leaf
        let sans = leaf.subjectAltNames
        guard sans.count <= Self.maxNames else { throw Self.tooManyNames(sans.count) }
        if let cn = body.cn {
            let matches = leaf.info.subject.commonName?.lowercased() == cn.lowercased() || sans.contains { $0.lowercased() == cn.lowercased() }
            guard matches else {
                throw APIError(
                    .unprocessableContent, "cn_mismatch", "'cn' does not match the certificate's common name or SANs",
                    details: [("cn", .string(cn)), ("certificate_cn", .string(leaf.info.subject.commonName))])
            }
        }
        let eku = leaf.info.extendedKeyUsage
        let wanted = usage == "server" ? "serverAuth" : "clientAuth"
        if !eku.isEmpty && !eku.contains(wanted) && !eku.contains("anyExtendedKeyUsage") {
            throw APIError(
                .unprocessableContent, "usage_mismatch", "the certificate's Extended Key Usage does not allow \(wanted)",
                details: [("extended_key_usage", .strings(eku))])
        }
        guard let commonName = body.cn ?? leaf.info.subject.commonName ?? sans.first else {
            throw APIError(.unprocessableContent, "cn_missing", "the certificate has neither a common name nor a SAN")
        }
        return UploadRequest(
            projectID: project, name: body.name, commonName: commonName, sans: sans, chainPEM: chain,
            privateKeyPEM: key, clientCAPEM: body.client_ca, usage: usage, idempotencyKey: idempotencyKey, actor: actor)
    }

    /// Upload, or with `domains` ACME issuance; a replayed key answers with the certificate as it is now.
    func create(_ body: UploadBody, caller: Identity, idempotencyKey: String?) async throws -> Accepted {
        if let domains = body.domains { return try await issue(body, domains: domains, caller: caller, idempotencyKey: idempotencyKey) }
        let job = try await submissions.upload(
            try checkedUpload(body, project: caller.projectID, actor: caller.actor, idempotencyKey: idempotencyKey))
        return Accepted(job: job, state: job.isReplay ? try await currentState(caller.projectID, job) : "pending")
    }

    func issue(_ body: UploadBody, domains: [String], caller: Identity, idempotencyKey: String?) async throws -> Accepted {
        let submission = try checkedIssue(body, domains: domains, project: caller.projectID, actor: caller.actor, idempotencyKey: idempotencyKey)
        try await requireOwnership(of: submission.domains, project: caller.projectID)
        if let profile = submission.profile { try await requireProfile(profile, project: caller.projectID, account: submission.acmeAccount) }
        let job = try await submissions.issue(submission)
        return Accepted(job: job, state: job.isReplay ? try await currentState(caller.projectID, job) : "pending")
    }

    /// A new version of REFERENCE; the name stays, the chain, key, client CA and usage change.
    func reimport(
        _ body: UploadBody, reference: String, caller: Identity, idempotencyKey: String?,
        expectedVersion: Int64? = nil
    ) async throws -> Accepted {
        var submission = try checkedUpload(body, project: caller.projectID, actor: caller.actor, idempotencyKey: idempotencyKey)
        submission.name = nil
        let job = try await submissions.reimport(submission, reference: reference, expectedVersion: expectedVersion)
        return Accepted(job: job, state: try await currentState(caller.projectID, job))
    }

    func delete(reference: String, caller: Identity, idempotencyKey: String? = nil, expectedVersion: Int64? = nil) async throws -> Accepted {
        let job = try await submissions.delete(
            project: caller.projectID, reference: reference, idempotencyKey: idempotencyKey,
            expectedVersion: expectedVersion, actor: caller.actor)
        return Accepted(job: job, state: "deleting")
    }

    func renew(reference: String, caller: Identity, idempotencyKey: String?, reuseKey: Bool = false) async throws -> Accepted {
        let job = try await submissions.renew(
            project: caller.projectID, reference: reference, idempotencyKey: idempotencyKey, reuseKey: reuseKey, actor: caller.actor)
        return Accepted(job: job, state: try await currentState(caller.projectID, job))
    }

    /// REASON as the request carried it (name or RFC 5280 code), nil: unspecified.
    func revoke(reference: String, caller: Identity, reason: Any?, idempotencyKey: String?) async throws -> Accepted {
        let code = try reason.map { try Self.revocationReason($0) } ?? .unspecified
        let job = try await submissions.revoke(
            project: caller.projectID, reference: reference, reason: code.rawValue, idempotencyKey: idempotencyKey, actor: caller.actor)
        return Accepted(job: job, state: try await currentState(caller.projectID, job))
    }

    /// Revoke at the CA, then delete; a certificate never issued is only deleted.
    func revokeThenDelete(
        reference: String, caller: Identity, reason: RevocationReason, idempotencyKey: String?,
        expectedVersion: Int64?
    ) async throws -> Accepted {
        do {
            let job = try await submissions.revoke(
                project: caller.projectID, reference: reference, reason: reason.rawValue, idempotencyKey: idempotencyKey,
                deleteAfter: true, actor: caller.actor)
            return Accepted(job: job, state: try await currentState(caller.projectID, job))
        } catch StoreError.transitionRefused(code: "not_issued", _) {
            return try await delete(reference: reference, caller: caller, idempotencyKey: idempotencyKey, expectedVersion: expectedVersion)
        }
    }

    func currentState(_ project: UUID, _ job: SubmittedJob) async throws -> String {
        try await CertificateDocuments(db: dependencies.db).state(project: project, id: job.certificateID)
    }

    static let keyTypes = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
    static let challengeTypes = ["http-01", "dns-01", "dns-01-manual"]

    /// Checks the ACME fields of an upload body and turns them into an issue request.
    func checkedIssue(_ body: UploadBody, domains: [String], project: UUID, actor: String, idempotencyKey: String?) throws -> IssueRequest {
        guard domains.count <= Self.maxNames else { throw Self.tooManyNames(domains.count) }
        guard !domains.isEmpty else {
            throw APIError(.unprocessableContent, "invalid_domains", "'domains' must hold 1–\(Self.maxNames) host names")
        }
        if body.chain != nil || body.pkey != nil {
            throw APIError(.unprocessableContent, "conflicting_fields", "give either 'domains' (ACME) or 'chain' and 'pkey' (upload), not both")
        }
        var names: [String] = []
        var addresses: [String] = []
        for domain in domains {
            // RFC 8738: IPv4 and IPv6 addresses are identifiers too (http-01 only).
            if let address = IPAddress.canonical(domain) {
                if !names.contains(address) { names.append(address) }
                addresses.append(address)
                continue
            }
            guard let name = Hostname.normalizePattern(domain) else {
                throw APIError(
                    .unprocessableContent, "invalid_domain", "'\(domain)' is neither a host name, a wildcard nor an IP address",
                    details: [("domain", .string(domain))])
            }
            if !names.contains(name) { names.append(name) }
        }
        let keyType = body.key_type ?? "ec-p256"
        guard Self.keyTypes.contains(keyType) else {
            throw APIError(.unprocessableContent, "invalid_key_type", "'key_type' must be one of \(Self.keyTypes.joined(separator: ", "))")
        }
        // A CA validates an IP address over http-01 only: that is the default for them.
        let challenge = body.challenge ?? (addresses.isEmpty ? dependencies.acme.defaultChallenge : "http-01")
        guard Self.challengeTypes.contains(challenge) else {
            throw APIError(.unprocessableContent, "invalid_challenge", "'challenge' must be one of \(Self.challengeTypes.joined(separator: ", "))")
        }
        if !addresses.isEmpty && challenge != "http-01" {
            throw APIError(
                .unprocessableContent, "ip_requires_http01", "IP addresses (\(addresses.joined(separator: ", "))) can only be validated with http-01",
                details: [("domains", .strings(addresses))])
        }
        if let name = body.name, !CertificateName.isValid(name) || UUID(uuidString: name) != nil {
            throw APIError(
                .unprocessableContent, "invalid_name",
                "'name' must be 1–128 letters, digits, '.', '_' or '-', not starting with '.' or '-', and not a uuid",
                details: [("name", .string(name))])
        }
        if let profile = body.profile,
            !(1...64).contains(profile.count) || !profile.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        {
            throw APIError(
                .unprocessableContent, "invalid_profile", "'profile' must be a profile name the CA offers, such as classic or shortlived",
                details: [("profile", .string(String(profile.prefix(64))))])
        }
        var request = IssueRequest(
            projectID: project, name: body.name, domains: names, keyType: keyType, challenge: challenge,
            acmeAccount: body.acme_account, profile: body.profile, idempotencyKey: idempotencyKey, actor: actor)
        request.dnsProvider = body.dns_provider
        return request
    }

    /// With `CERTFLEET_DOMAIN_POLICY=enforce`, 403 before any order unless every name lies in
    /// one of the project's verified zones (and no other project verified a closer zone).
    func requireOwnership(of names: [String], project: UUID) async throws {
        guard dependencies.acme.domainPolicy == .enforce else { return }
        let notOwned = try await DomainClaims.namesNotOwned(dependencies.db, project: project, names: names)
        guard notOwned.isEmpty else {
            throw APIError(
                .forbidden, "domain_not_owned",
                "this project has not verified a zone containing \(notOwned.joined(separator: ", ")); claim and verify it at /v1/domains",
                details: [("domains", .strings(notOwned))])
        }
    }

    /// 422 before any order when the CA's directory lists its profiles and PROFILE is not one
    /// of them (or it lists none); a directory that cannot be fetched now is not held against it.
    func requireProfile(_ profile: String, project: UUID, account: String?) async throws {
        let accounts = try await ACMEAccounts.list(dependencies.db, project: project)
        let named = account ?? ACMEAccounts.defaultName
        let url =
            accounts.first { $0.name == named || $0.id.uuidString.lowercased() == named.lowercased() }?.directoryURL
            ?? dependencies.acme.defaultDirectoryURL
        guard let url, let directory = await dependencies.directories.directory(url) else { return }
        let offered = (directory.meta?.profiles ?? [:]).keys.sorted()
        guard offered.contains(profile) else {
            let message =
                offered.isEmpty
                ? "the CA at \(url) offers no certificate profiles; leave 'profile' out"
                : "the CA offers the profiles \(offered.joined(separator: ", ")); '\(profile)' is not one of them"
            throw APIError(
                .unprocessableContent, "profile_not_offered", message,
                details: [("profile", .string(profile)), ("offered", .strings(offered))])
        }
    }

    static func revocationReason(_ value: Any) throws -> RevocationReason {
        if let text = value as? String {
            if let reason = RevocationReason.allCases.first(where: { "\($0)" == text }) { return reason }
            if let code = Int(text), let reason = RevocationReason(rawValue: code) { return reason }
        } else if let number = value as? NSNumber, let reason = RevocationReason(rawValue: number.intValue) {
            return reason
        }
        let names = RevocationReason.allCases.map { "\($0) (\($0.rawValue))" }.joined(separator: ", ")
        throw APIError(.unprocessableContent, "invalid_reason", "'reason' must be one of \(names)")
    }

}

/// A submitted job and the certificate's state, as every door answers it.
struct Accepted {
    let job: SubmittedJob
    let state: String

    /// One entry of the `certificates` array.
    var item: JSONValue {
        .object([
            ("status", .string("success")),
            ("uuid", .string(job.certificateID.uuidString.lowercased())),
            ("name", .string(job.certificateName)),
            ("state", .string(state)),
            ("job", .string(job.jobID.uuidString.lowercased())),
        ])
    }

    /// 202 with the job's location.
    var response: JSONResponse {
        .success(
            .object([("certificates", .array([item]))]), status: .accepted,
            headers: [.location: "/v1/jobs/\(job.jobID.uuidString.lowercased())"])
    }
}
