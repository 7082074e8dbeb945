import ACME
import DNSSolving
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store

/// `POST /v1/certificates/preflight`: the issue job's preflight (names resolve, CAA permits the
/// CA, the DNS provider can write the zone) without ordering anything.
struct PreflightController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("certificates/preflight", use: preflight)
    }

    struct Body: Decodable {
        var domains: [String]?
        var challenge: String?
        var dns_provider: String?
        var acme_account: String?
    }

    @Sendable func preflight(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)), let domains = body.domains, !domains.isEmpty,
            domains.count <= CertificateRequests.maxNames
        else {
            throw APIError(.unprocessableContent, "invalid_domains", "'domains' must hold 1–\(CertificateRequests.maxNames) host names")
        }
        let challenge = body.challenge ?? dependencies.acme.defaultChallenge
        guard ["http-01", "dns-01"].contains(challenge) else {
            throw APIError(.unprocessableContent, "invalid_challenge", "'challenge' must be http-01 or dns-01 for a preflight")
        }
        let outcome = try await IssuePreflight.run(
            db: dependencies.db, sealer: dependencies.sealer, project: caller.projectID, jobID: nil, identifiers: domains.map { $0.lowercased() },
            challenge: challenge, dnsProvider: body.dns_provider, settings: dependencies.acme,
            caaIdentities: await caaIdentities(project: caller.projectID, account: body.acme_account))
        let checks: [JSONValue] = outcome.checks.map {
            .object([("name", .string($0.name)), ("check", .string($0.check)), ("ok", .bool($0.ok)), ("detail", .string($0.detail))])
        }
        var members: [(String, JSONValue)] = [("ok", .bool(outcome.failure == nil)), ("checks", .array(checks))]
        if let failure = outcome.failure {
            members.append(("error", .object([("code", .string(failure.code)), ("message", .string(failure.message))])))
        }
        return .success(.object(members))
    }

    /// The CA's `caaIdentities`, from the directory of the account the issuance would use.
    func caaIdentities(project: UUID, account: String?) async -> [String] {
        let accounts = (try? await ACMEAccounts.list(dependencies.db, project: project)) ?? []
        let named = account ?? ACMEAccounts.defaultName
        let url =
            accounts.first { $0.name == named || $0.id.uuidString.lowercased() == named.lowercased() }?.directoryURL
            ?? dependencies.acme.defaultDirectoryURL
        guard let url, let directory = await dependencies.directories.directory(url) else { return [] }
        return directory.meta?.caaIdentities ?? []
    }
}
