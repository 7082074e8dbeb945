import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/targets`: where a project's certificates are delivered (files + reload, HAProxy's
/// runtime API, webhooks). Secrets are sealed at rest and never shown again; another
/// project's targets are "not found".
struct TargetsController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    var targets: Targets { Targets(db: dependencies.db, sealer: dependencies.sealer) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("targets", use: create)
        group.get("targets", use: list)
        group.get("targets/:ref", use: get)
        group.delete("targets/:ref", use: delete)
        group.get("targets/:ref/dead-letters", use: deadLetters)
    }

    struct Body: Decodable {
        var name: String?
        var kind: String?
        var config: [String: String]?
        var secret: String?
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"name\": …, \"kind\": …, \"config\": {string: string}, \"secret\": …}")
        }
        guard let name = body.name, CertificateName.isValid(name), UUID(uuidString: name) == nil else {
            throw APIError(.unprocessableContent, "invalid_name", "'name' must be 1–128 letters, digits, '.', '_' or '-', not a uuid")
        }
        guard let kindName = body.kind, let kind = DeliveryTargetKind(rawValue: kindName) else {
            let kinds = DeliveryTargetKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError(.unprocessableContent, "invalid_kind", "'kind' must be one of \(kinds)")
        }
        let config = body.config ?? [:]
        do {
            _ = try DeliveryTargetSettings.parse(kind: kind, config: config, hasSecret: kind == .agent || !(body.secret ?? "").isEmpty)
        } catch let failure as DeliveryFailure {
            throw APIError(.unprocessableContent, failure.code.rawValue, failure.answer, details: [("kind", .string(kind.rawValue))])
        }
        // An agent's key is made here and shown once: `<target uuid>.<secret>`.
        let secret = kind == .agent ? Base64URL.encode(SecureRandom.bytes(32)) : body.secret
        let target = try await targets.create(project: caller.projectID, NewDeliveryTarget(name: name, kind: kind, config: config, secret: secret))
        var json = Self.json(target)
        if kind == .agent, let secret, case .object(var fields) = json {
            fields.append(("agent_key", .string("\(target.id.uuidString.lowercased()).\(secret)")))
            json = .object(fields)
        }
        return .success(json, status: .created)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        return .success(.object([("targets", .array(try await targets.list(project: caller.projectID).map(Self.json)))]))
    }

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        return .success(Self.json(try await targets.require(project: caller.projectID, reference: try context.parameters.require("ref"))))
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        try await targets.delete(project: caller.projectID, reference: try context.parameters.require("ref"))
        return Response(status: .noContent)
    }

    /// Deliveries given up on (after the last retry, or refused for good), newest first.
    @Sendable func deadLetters(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let target = try await targets.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let letters = try await Deliveries(db: dependencies.db).deadLetters(target: target.id)
        return .success(
            .object([
                (
                    "dead_letters",
                    .array(
                        letters.map { letter in
                            .object([
                                (
                                    "certificate",
                                    .object([
                                        ("uuid", .string(letter.certificateID.uuidString.lowercased())),
                                        ("name", .string(letter.certificateName)),
                                    ])
                                ),
                                ("version", .int(letter.version)), ("code", .string(letter.code)), ("answer", .string(letter.answer)),
                                ("attempts", .int(letter.attempts)), ("at", .date(letter.at)),
                            ])
                        })
                )
            ]))
    }

    static func json(_ target: DeliveryTarget) -> JSONValue {
        .object([
            ("uuid", .string(target.id.uuidString.lowercased())), ("name", .string(target.name)), ("kind", .string(target.kind.rawValue)),
            ("config", .object(target.config.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
            ("has_secret", .bool(target.hasSecret)), ("created_at", .date(target.createdAt)),
        ])
    }

    /// What each target bound to a certificate holds, for the certificate document.
    static func holdings(_ holdings: [TargetHolding]) -> JSONValue {
        .array(
            holdings.map { holding in
                var error: JSONValue = .null
                if let code = holding.code { error = .object([("code", .string(code)), ("answer", .string(holding.answer))]) }
                return .object([
                    (
                        "target",
                        .object([
                            ("uuid", .string(holding.targetID.uuidString.lowercased())), ("name", .string(holding.target)),
                            ("kind", .string(holding.kind.rawValue)),
                        ])
                    ),
                    ("version", .int(holding.version)), ("fingerprint_sha256", .string(holding.fingerprintSHA256)),
                    ("delivered_at", .date(holding.deliveredAt)), ("outcome", .string(holding.outcome ?? "pending")),
                    ("error", error), ("attempted_at", .date(holding.attemptedAt)),
                ])
            })
    }
}
