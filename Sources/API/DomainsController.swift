import ACME
import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/domains`: the zones a project may issue ACME certificates for. A project claims a
/// zone, publishes `_certfleet-challenge.<zone> TXT <token>`, and verifies; a key with the
/// `system` scope may instead assign a zone to a project outright (`"verified": true`,
/// optionally `"project": NAME`). A zone verified by one project cannot be claimed by another.
struct DomainsController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("", use: create)
        group.get("", use: list)
        group.post(":zone/verify", use: verify)
        group.delete(":zone", use: release)
    }

    static func json(_ claim: DomainClaims.Claim) -> JSONValue {
        .object([
            ("zone", .string(claim.zone)),
            ("state", .string(claim.verifiedAt == nil ? "pending" : "verified")),
            (
                "verification",
                .object([
                    ("type", .string("dns-txt")),
                    ("name", .string(DomainOwnership.challengeName(zone: claim.zone))),
                    ("value", .string(claim.token)),
                ])
            ),
            ("verified_at", .date(claim.verifiedAt)),
            ("verified_by", .string(claim.verifiedBy)),
            ("created_at", .date(claim.createdAt)),
        ])
    }

    static func zone(_ text: String) throws -> String {
        if let address = IPAddress.canonical(text) { return address } // for IP identifiers; assigned by the system key
        guard let zone = Hostname.normalize(text.hasSuffix(".") ? String(text.dropLast()) : text), zone.contains(".") else {
            throw APIError(
                .unprocessableContent, "invalid_zone", "'\(text)' is not a DNS zone such as example.com", details: [("zone", .string(text))])
        }
        return zone
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        guard let caller = context.identity else { throw APIError(.unauthorized, "unauthorized", "missing or invalid API key") }
        struct Body: Decodable { var zone: String; var verified: Bool?; var project: String? }
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"zone\": \"example.com\"}")
        }
        let zone = try Self.zone(body.zone)
        let db = dependencies.db
        if body.verified == true || body.project != nil {
            try caller.require(APIKeys.system)
            var project = caller.projectID
            if let name = body.project {
                guard let id = try await Projects.id(db, name: name) else {
                    throw APIError(.notFound, "project_not_found", "project '\(name)' not found", details: [("project", .string(name))])
                }
                project = id
            }
            let claim = try await DomainClaims.assign(db, project: project, zone: zone, actor: caller.actor)
            return .success(.object([("domains", .array([Self.json(claim)]))]), status: .created)
        }
        try caller.require("admin")
        let claim = try await DomainClaims.claim(db, project: caller.projectID, zone: zone)
        return .success(.object([("domains", .array([Self.json(claim)]))]), status: .created)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let claims = try await DomainClaims.list(dependencies.db, project: caller.projectID)
        return .success(.object([("domains", .array(claims.map(Self.json)))]))
    }

    /// Looks the TXT record up and marks the claim verified when it holds the token.
    @Sendable func verify(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("admin")
        let zone = try Self.zone(try context.parameters.require("zone"))
        guard let claim = try await DomainClaims.find(dependencies.db, project: caller.projectID, zone: zone) else {
            throw APIError(.notFound, "domain_not_found", "this project has not claimed '\(zone)'; POST /v1/domains first")
        }
        if claim.verifiedAt != nil { return .success(.object([("domains", .array([Self.json(claim)]))])) }
        guard let resolver = dependencies.acme.verificationResolver else {
            throw APIError(.serviceUnavailable, "dns_unavailable", "this server has no DNS resolver to verify with")
        }
        let name = DomainOwnership.challengeName(zone: zone)
        let found: [String]
        do {
            found = try await resolver.txtRecords(name)
        } catch {
            throw APIError(
                .unprocessableContent, "domain_verification_failed", "the TXT record \(name) could not be looked up",
                details: [("name", .string(name))])
        }
        guard found.contains(claim.token) else {
            throw APIError(
                .unprocessableContent, "domain_verification_failed",
                "\(name) does not hold this project's token (found \(found.count) TXT value(s)); publish it and retry",
                details: [("name", .string(name)), ("value", .string(claim.token))])
        }
        let verified = try await DomainClaims.markVerified(dependencies.db, project: caller.projectID, zone: zone, by: "dns") ?? claim
        return .success(.object([("domains", .array([Self.json(verified)]))]))
    }

    @Sendable func release(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("admin")
        let zone = try Self.zone(try context.parameters.require("zone"))
        guard try await DomainClaims.release(dependencies.db, project: caller.projectID, zone: zone) else {
            throw APIError(.notFound, "domain_not_found", "this project has not claimed '\(zone)'")
        }
        return Response(status: .noContent)
    }
}
