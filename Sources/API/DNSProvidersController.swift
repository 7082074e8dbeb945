import ACME
import CertFleetCore
import DNS
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/dns/providers`: a project's DNS providers for dns-01 (rfc2136, exec, httpreq, acme-dns).
/// Secrets are sealed and never shown again; `zones` form the project's zone map.
struct DNSProvidersController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("", use: create)
        group.get("", use: list)
        group.delete(":name", use: delete)
        group.post(":name/test", use: test)
    }

    struct CreateBody: Decodable {
        var name: String?
        var kind: String?
        var zones: [String]?
        var config: DNSProviderSettings?
        var secret: DNSProviderSecret?
    }

    static func json(_ record: DNSProviderRecord) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("name", .string(record.name)), ("kind", .string(record.kind)), ("zones", .strings(record.zones)),
            ("config", (try? JSONValue.parse(record.config)) ?? .null), ("has_secret", .bool(record.hasSecret)),
            ("created_at", .date(record.createdAt)),
        ]
        members.insert(("uuid", .string(record.id.uuidString.lowercased())), at: 0)
        return .object(members)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let providers = try await DNSProviders.list(dependencies.db, project: caller.projectID)
        return .success(.object([("dns_providers", .array(providers.map(Self.json)))]))
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        try await DNSProviders.delete(dependencies.db, project: caller.projectID, name: try context.parameters.require("name"))
        return .success(.object([("deleted", .bool(true))]))
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(CreateBody.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body is not the expected JSON object (name, kind, zones, config, secret)")
        }
        guard let name = body.name, CertificateName.isValid(name) else {
            throw APIError(.unprocessableContent, "invalid_name", "'name' must be 1–128 letters, digits, '.', '_' or '-'")
        }
        guard let kind = body.kind, DNSProviderSettings.kinds.contains(kind) else {
            throw APIError(.unprocessableContent, "invalid_kind", "'kind' must be one of \(DNSProviderSettings.kinds.joined(separator: ", "))")
        }
        let zones = (body.zones ?? []).map { $0.lowercased().hasSuffix(".") ? String($0.lowercased().dropLast()) : $0.lowercased() }
        if let bad = zones.first(where: { !DNSZoneMap.isValidZone($0) }) {
            throw APIError(
                .unprocessableContent, "invalid_zone", "'\(bad)' is not a zone (example.com or *.corp.example)",
                details: [("zone", .string(bad))])
        }
        let settings = body.config ?? DNSProviderSettings()
        var secret = body.secret ?? DNSProviderSecret()
        let problems = settings.problems(
            kind: kind, secret: secret, execDirectory: dependencies.acme.dnsExecDirectory,
            httpreqPrefixes: dependencies.acme.dnsHTTPAllowed)
        guard problems.isEmpty else {
            throw APIError(
                .unprocessableContent, "invalid_dns_provider", problems.joined(separator: "; "), details: [("problems", .strings(problems))])
        }
        if kind == "acme-dns", secret.acmeDNS == nil, let server = settings.serverURL {
            // Registered at once, so a refusal is the caller's answer; the credentials are sealed below.
            do { secret.acmeDNS = try await ACMEDNSProvider.register(serverURL: server, timeout: .seconds(10)) } catch let failure as DNS01Failure {
                throw APIError(.unprocessableContent, failure.code, failure.description)
            }
        }
        let record = try await DNSProviders.create(
            dependencies.db, sealer: dependencies.sealer, project: caller.projectID, name: name, kind: kind, config: try settings.json(),
            secret: secret.isEmpty ? nil : try secret.sealedBytes(), zones: zones)
        var document = Self.json(record)
        if case .object(var members) = document, let fulldomain = secret.acmeDNS?.fulldomain {
            // The one thing the user must do by hand for acme-dns: delegate each name to the acme-dns subdomain.
            members.append(("cname_target", .string(fulldomain)))
            members.append(("instructions", .string("create _acme-challenge.<each domain> CNAME \(fulldomain).")))
            document = .object(members)
        }
        return .success(.object([("dns_providers", .array([document]))]), status: .created)
    }

    /// Writes `_acme-challenge.<zone>` with a random value, waits until every authoritative
    /// nameserver answers it (bounded), removes it, and reports each step.
    @Sendable func test(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        struct Body: Decodable { var zone: String? }
        guard let zone = (try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)))?.zone, DNSZoneMap.isValidZone(zone), !zone.hasPrefix("*.")
        else {
            throw APIError(.unprocessableContent, "invalid_zone", "give 'zone', the zone (or a name in it) to write a test record into")
        }
        let (record, sealed) = try await DNSProviders.load(
            dependencies.db, sealer: dependencies.sealer, project: caller.projectID,
            name: try context.parameters.require("name"))
        let report = await DNSProviderTest.run(record: record, secret: sealed, zone: zone, defaultResolver: dependencies.acme.defaultDNSResolver)
        return .success(report)
    }
}
