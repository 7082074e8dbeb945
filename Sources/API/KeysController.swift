import Foundation
import Hummingbird
import Postgres
import Store

/// `/v1/keys`: API keys of the caller's project (admin scope). The secret is shown once.
struct KeysController {
    let db: PostgresClient
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
        let unknown = body.scopes.filter { !APIKeys.scopes.contains($0) }
        guard unknown.isEmpty, !body.scopes.isEmpty else {
            throw APIError(.unprocessableContent, "invalid_scope", "scopes must be a non-empty subset of \(APIKeys.scopes.joined(separator: ", "))",
                           details: [("unknown", .strings(unknown))])
        }
        let created = try await APIKeys.create(db, project: caller.projectID, name: body.name ?? "", scopes: Array(Set(body.scopes)).sorted())
        return .success(.object([("keys", .array([Self.json(created.key, secret: created.secret)]))]), status: .created,
                        headers: [.cacheControl: "no-store"])
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("admin")
        return .success(.object([("keys", .array(try await APIKeys.list(db, project: caller.projectID).map { Self.json($0) }))]))
    }

    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("admin")
        let text = try context.parameters.require("id")
        if UUID(uuidString: text) == caller.keyID {
            throw APIError(.conflict, "key_in_use", "a key cannot revoke itself; revoke it with another admin key")
        }
        guard let id = UUID(uuidString: text), try await APIKeys.revoke(db, project: caller.projectID, id: id) else {
            throw APIError(.notFound, "key_not_found", "API key '\(text)' not found")
        }
        await cache.forget(id)
        return Response(status: .noContent)
    }
}

/// `POST /v1/projects` (admin): a new tenant and its first admin key (shown once).
struct ProjectsController {
    let db: PostgresClient

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post(use: create)
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        _ = try context.caller("admin")
        struct Body: Decodable { var name: String }
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"name\": …}")
        }
        guard (1...128).contains(body.name.count) else {
            throw APIError(.unprocessableContent, "invalid_name", "a project name has 1–128 characters")
        }
        guard let row = try await db.query("""
            INSERT INTO projects (name) VALUES (\(body.name)) ON CONFLICT (name) DO NOTHING RETURNING id, created_at
            """).first else {
            throw APIError(.conflict, "project_exists", "a project named '\(body.name)' already exists", details: [("name", .string(body.name))])
        }
        let id = try row.decode(UUID.self, "id")
        let key = try await APIKeys.create(db, project: id, name: "admin", scopes: ["admin", "certificates:read", "certificates:write", "keys:export"])
        return .success(.object([("projects", .array([.object([
            ("id", .string(id.uuidString.lowercased())),
            ("name", .string(body.name)),
            ("created_at", .date(try row.decode(Date.self, "created_at"))),
            ("key", KeysController.json(key.key, secret: key.secret)),
        ])]))]), status: .created, headers: [.cacheControl: "no-store"])
    }
}
