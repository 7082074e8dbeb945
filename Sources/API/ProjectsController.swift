import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store

/// `POST /v1/projects` (`system` scope): a new tenant and its first admin key (shown once).
/// A project's `admin` cannot create projects: that would let one tenant pre-create a
/// name another part of the installation adopts.
struct ProjectsController {
    let db: Database

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post(use: create)
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        _ = try context.caller(APIKeys.system)
        struct Body: Decodable { var name: String }
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"name\": …}")
        }
        let (project, key) = try await Self.create(db, name: body.name)
        return .success(
            .object([
                (
                    "projects",
                    .array([
                        .object([
                            ("id", .string(project.id.uuidString.lowercased())),
                            ("name", .string(project.name)),
                            ("created_at", .date(project.createdAt)),
                            ("key", KeysController.json(key.key, secret: key.secret)),
                        ])
                    ])
                )
            ]), status: .created, headers: [.cacheControl: "no-store"])
    }

    /// A new project and its first admin key; the API and the console both create projects here
    /// (the caller's `system` scope is checked by the door).
    static func create(_ db: Database, name: String) async throws -> (Projects.Project, (key: APIKeys.Key, secret: String)) {
        guard (1...128).contains(name.count), !name.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw APIError(.unprocessableContent, "invalid_name", "a project name has 1–128 characters and no control characters")
        }
        guard let project = try await Projects.create(db, name: name) else {
            throw APIError(.conflict, "project_exists", "a project named '\(name)' already exists", details: [("name", .string(name))])
        }
        return (project, try await APIKeys.create(db, project: project.id, name: "admin", scopes: APIKeys.projectAdminScopes))
    }
}
