import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store

/// `/v1/keys`: API keys of the caller's project (admin scope). The secret is shown once.
struct KeysController {
    let db: Database
    let cache: KeyCache

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post(use: create)
        group.get(use: list)
        group.delete(":id", use: revoke)
    }

    static func json(_ key: APIKeys.Key, secret: String? = nil) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("id", .string(key.id.uuidString.lowercased())),
            ("name", .string(key.name)),
            ("prefix", .string(key.prefix)),
            ("scopes", .strings(key.scopes)),
            ("created_at", .date(key.createdAt)),
            ("last_used_at", .date(key.lastUsedAt)),
        ]
        if let secret { fields.append(("secret", .string(secret))) }
        return .object(fields)
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("admin")
        struct Body: Decodable { var name: String?; var scopes: [String] }
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"name\": …, \"scopes\": [...]}")
        }
        let created = try await Self.mint(db, caller: caller, name: body.name ?? "", scopes: body.scopes)
        return .success(
            .object([("keys", .array([Self.json(created.key, secret: created.secret)]))]), status: .created,
            headers: [.cacheControl: "no-store"])
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("admin")
        return .success(.object([("keys", .array(try await APIKeys.list(db, project: caller.projectID).map { Self.json($0) }))]))
    }

    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("admin")
        try await Self.revoke(db, cache: cache, caller: caller, id: try context.parameters.require("id"))
        return Response(status: .noContent)
    }

    /// A new key of the caller's project with SCOPES (each known and held by the caller); the
    /// API and the console both create keys here.
    static func mint(_ db: Database, caller: Identity, name: String, scopes: [String]) async throws -> (key: APIKeys.Key, secret: String) {
        let unknown = scopes.filter { !APIKeys.scopes.contains($0) }
        guard unknown.isEmpty, !scopes.isEmpty else {
            throw APIError(
                .unprocessableContent, "invalid_scope", "scopes must be a non-empty subset of \(APIKeys.scopes.joined(separator: ", "))",
                details: [("unknown", .strings(unknown))])
        }
        // A key hands out only what it may do itself: `admin` cannot mint `keys:export` or `system`.
        let notHeld = scopes.filter { !caller.holds($0) }
        guard notHeld.isEmpty else {
            throw APIError(
                .forbidden, "scope_not_held", "a key can only grant scopes it holds; this key lacks \(notHeld.joined(separator: ", "))",
                details: [("scopes", .strings(notHeld))])
        }
        return try await APIKeys.create(db, project: caller.projectID, name: name, scopes: Array(Set(scopes)).sorted())
    }

    /// Revokes key TEXT (a uuid) of the caller's project; never the caller's own key.
    static func revoke(_ db: Database, cache: KeyCache, caller: Identity, id text: String) async throws {
        if UUID(uuidString: text) == caller.keyID {
            throw APIError(.conflict, "key_in_use", "a key cannot revoke itself; revoke it with another admin key")
        }
        guard let id = UUID(uuidString: text), try await APIKeys.revoke(db, project: caller.projectID, id: id) else {
            throw APIError(.notFound, "key_not_found", "API key '\(text.prefix(64))' not found")
        }
        await cache.forget(id)
    }
}
