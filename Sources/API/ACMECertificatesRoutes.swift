import ACME
import CertFleetCore
import Foundation
import Hummingbird
import Jobs
import Postgres
import Store
import X509

/// The ACME half of the certificates resource: issue (`POST /v1/certificates` with
/// `domains`), renew, revoke and the dns-01-manual challenges.
extension CertificatesController {
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
                throw APIError(.unprocessableContent, "invalid_domain", "'\(domain)' is neither a host name, a wildcard nor an IP address",
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
            throw APIError(.unprocessableContent, "ip_requires_http01", "IP addresses (\(addresses.joined(separator: ", "))) can only be validated with http-01",
                           details: [("domains", .strings(addresses))])
        }
        if let name = body.name, !CertificateName.isValid(name) || UUID(uuidString: name) != nil {
            throw APIError(.unprocessableContent, "invalid_name", "'name' must be 1–128 letters, digits, '.', '_' or '-', not starting with '.' or '-', and not a uuid",
                           details: [("name", .string(name))])
        }
        if let profile = body.profile, !(1...64).contains(profile.count) || !profile.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            throw APIError(.unprocessableContent, "invalid_profile", "'profile' must be a profile name the CA offers, such as classic or shortlived",
                           details: [("profile", .string(String(profile.prefix(64))))])
        }
        var request = IssueRequest(projectID: project, name: body.name, domains: names, keyType: keyType, challenge: challenge,
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
            throw APIError(.forbidden, "domain_not_owned",
                           "this project has not verified a zone containing \(notOwned.joined(separator: ", ")); claim and verify it at /v1/domains",
                           details: [("domains", .strings(notOwned))])
        }
    }

    /// 422 before any order when the CA's directory lists its profiles and PROFILE is not one
    /// of them (or it lists none); a directory that cannot be fetched now is not held against it.
    func requireProfile(_ profile: String, project: UUID, account: String?) async throws {
        let accounts = try await ACMEAccounts.list(dependencies.db, project: project)
        let named = account ?? ACMEAccounts.defaultName
        let url = accounts.first { $0.name == named || $0.id.uuidString.lowercased() == named.lowercased() }?.directoryURL
            ?? dependencies.acme.defaultDirectoryURL
        guard let url, let directory = await dependencies.directories.directory(url) else { return }
        let offered = (directory.meta?.profiles ?? [:]).keys.sorted()
        guard offered.contains(profile) else {
            let message = offered.isEmpty ? "the CA at \(url) offers no certificate profiles; leave 'profile' out"
                : "the CA offers the profiles \(offered.joined(separator: ", ")); '\(profile)' is not one of them"
            throw APIError(.unprocessableContent, "profile_not_offered", message,
                           details: [("profile", .string(profile)), ("offered", .strings(offered))])
        }
    }

    func issue(_ body: UploadBody, domains: [String], caller: Identity, idempotencyKey: String?) async throws -> JSONResponse {
        let submission = try checkedIssue(body, domains: domains, project: caller.projectID, actor: caller.actor, idempotencyKey: idempotencyKey)
        try await requireOwnership(of: submission.domains, project: caller.projectID)
        if let profile = submission.profile { try await requireProfile(profile, project: caller.projectID, account: submission.acmeAccount) }
        let job = try await dependencies.submitter.issue(submission)
        return accepted(job, state: job.isReplay ? try await currentState(caller.projectID, job) : "pending")
    }

    /// Renewal is ACME's job; an uploaded certificate is renewed by re-importing it.
    @Sendable func renew(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        struct RenewBody: Decodable { var reuse_key: Bool? }
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var reuseKey = request.uri.queryParameters.get("reuse_key") == "true"
        if buffer.readableBytes > 0 {
            guard let body = try? JSONDecoder().decode(RenewBody.self, from: Data(buffer: buffer)) else {
                throw APIError.malformed("the body must be a JSON object like {\"reuse_key\": true}")
            }
            reuseKey = body.reuse_key ?? reuseKey
        }
        return try await submitRenew(reference: reference, caller: caller, idempotencyKey: try idempotencyKey(request), reuseKey: reuseKey)
    }

    /// Renew over HTTP and AMQP intake alike.
    func submitRenew(reference: String, caller: Identity, idempotencyKey: String?, reuseKey: Bool = false) async throws -> JSONResponse {
        let job = try await dependencies.submitter.renew(
            project: caller.projectID, reference: reference, idempotencyKey: idempotencyKey, reuseKey: reuseKey, actor: caller.actor)
        return accepted(job, state: try await currentState(caller.projectID, job))
    }

    /// `{"reason": "keyCompromise"}` or `{"reason": 1}` (RFC 5280 codes ACME accepts).
    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var object: [String: Any] = [:]
        if buffer.readableBytes > 0 {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else {
                throw APIError.malformed("the body must be a JSON object like {\"reason\": \"keyCompromise\"}")
            }
            object = parsed
        }
        return try await submitRevoke(reference: reference, caller: caller, reason: object["reason"], idempotencyKey: try idempotencyKey(request))
    }

    /// Revoke over HTTP and AMQP intake alike; REASON as the body carried it (name or code), nil: unspecified.
    func submitRevoke(reference: String, caller: Identity, reason: Any?, idempotencyKey: String?) async throws -> JSONResponse {
        let code = try reason.map { try Self.revocationReason($0) } ?? .unspecified
        let job = try await dependencies.submitter.revoke(
            project: caller.projectID, reference: reference, reason: code.rawValue, idempotencyKey: idempotencyKey, actor: caller.actor)
        return accepted(job, state: try await currentState(caller.projectID, job))
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

    /// The TXT records a dns-01-manual issuance waits for (as `kontena certificate authorize` prints them).
    @Sendable func challenges(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let rows = try await db.query("""
            SELECT a.identifier, a.dns_name, a.dns_value, j.state FROM acme_challenges a JOIN jobs j ON j.id = a.job_id
            WHERE j.project_id = \(caller.projectID) AND j.certificate_id = \(document.id) AND a.type = 'dns-01'
            ORDER BY a.created_at, a.identifier
            """)
        let items = try rows.map { row -> JSONValue in
            let jobState = try row.decode(String.self, "state")
            return .object([
                ("type", .string("dns-01")),
                ("domain", .string(try row.decode(String.self, "identifier"))),
                ("record_name", .string(try row.decode(String?.self, "dns_name"))),
                ("record_type", .string("TXT")),
                ("record_content", .string(try row.decode(String?.self, "dns_value"))),
                ("status", .string(jobState == "queued" || jobState == "running" ? "pending" : jobState)),
            ])
        }
        // Records written through the project's DNS providers, with the last propagation round per nameserver.
        let written = try await DNSChallengeRecords.list(db, project: caller.projectID, certificate: document.id).map { record -> JSONValue in
            .object([
                ("type", .string("dns-01")),
                ("domain", .string(record.identifier)),
                ("record_name", .string(record.recordName)),
                ("record_type", .string("TXT")),
                ("record_content", .string(record.recordValue)),
                ("provider", .string(record.provider)),
                ("record_state", .string(record.state)),
                ("propagation", record.propagation.flatMap { try? JSONValue.parse($0) } ?? .null),
                ("status", .string(record.jobState == "queued" || record.jobState == "running" ? "pending" : record.jobState)),
                ("job", .string(record.jobID.uuidString.lowercased())),
            ])
        }
        return .success(.object([("challenges", .array(items + written))]))
    }

    /// `DELETE …?revoke=true[&reason=…]`: revoke at the CA first; the delete follows.
    func revokeThenDelete(_ request: Request, caller: Identity, reference: String) async throws -> JSONResponse {
        let reason = try request.uri.queryParameters.get("reason").map { try Self.revocationReason($0) } ?? .unspecified
        do {
            let job = try await dependencies.submitter.revoke(
                project: caller.projectID, reference: reference, reason: reason.rawValue, idempotencyKey: try idempotencyKey(request),
                deleteAfter: true, actor: caller.actor)
            return accepted(job, state: try await currentState(caller.projectID, job))
        } catch StoreError.transitionRefused(code: "not_issued", _) {
            // Nothing was issued, so nothing to revoke: the delete alone does it.
            return try await submitDelete(reference: reference, caller: caller, idempotencyKey: try idempotencyKey(request),
                                          expectedVersion: try ifMatch(request))
        }
    }
}
