import Foundation
import Hummingbird
import Store

/// API keys (admin) and projects (system): the same checks as `/v1/keys` and `/v1/projects`
/// (`KeysController.mint`/`revoke`, `ProjectsController.create`). A new secret is shown once,
/// in the answer to the POST that made it (`Cache-Control: no-store`, as every console page).
struct ConsoleAdminController {
    let db: Database
    let keys: KeyCache
    let renderer: ConsoleRenderer

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("keys", use: keysPage)
        group.post("keys", use: createKey)
        group.post("keys/:id/revoke", use: revokeKey)
        group.get("projects", use: projectsPage)
        group.post("projects", use: createProject)
    }

    @Sendable func keysPage(_ request: Request, context: APIRequestContext) async throws -> Response {
        try await keysPage(context: context)
    }

    func keysPage(
        context: APIRequestContext, created: (key: APIKeys.Key, secret: String)? = nil,
        status: HTTPResponse.Status = .ok, flash: ConsoleFlash? = nil
    ) async throws -> Response {
        let caller = try context.caller("admin")
        let list = try await APIKeys.list(db, project: caller.projectID)
        var values: [String: Any] = [
            "title": "API keys",
            "keys": list.map { key -> [String: Any] in
                ConsoleViews.values([
                    ("id", key.id.uuidString.lowercased()), ("name", key.name), ("prefix", key.prefix),
                    ("scopes", key.scopes.joined(separator: " ")), ("created", ConsoleViews.date(key.createdAt)),
                    ("lastUsed", ConsoleViews.date(key.lastUsedAt)), ("revocable", key.id != caller.keyID),
                ])
            },
            "grantable": APIKeys.scopes.filter { caller.holds($0) },
        ]
        if let created {
            values["created"] = ["name": created.key.name, "secret": created.secret, "scopes": created.key.scopes.joined(separator: " ")]
        }
        return renderer.page("keys", values, context: context, status: status, flash: flash)
    }

    @Sendable func createKey(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("admin")
        let form = context.consoleForm ?? ConsoleForm(fields: [:])
        let scopes = APIKeys.scopes.filter { form["scope_\($0)"] != nil }
        do {
            let created = try await KeysController.mint(db, caller: caller, name: form["name"] ?? "", scopes: scopes)
            return try await keysPage(context: context, created: created, status: .created)
        } catch let error as APIError where error.status.code < 500 {
            return try await keysPage(context: context, status: error.status, flash: ConsoleFlash(error))
        }
    }

    @Sendable func revokeKey(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("admin")
        do {
            try await KeysController.revoke(db, cache: keys, caller: caller, id: try context.parameters.require("id"))
            return try await keysPage(context: context, flash: ConsoleFlash("The key was revoked.", isError: false))
        } catch let error as APIError where error.status.code < 500 {
            return try await keysPage(context: context, status: error.status, flash: ConsoleFlash(error))
        }
    }

    @Sendable func projectsPage(_ request: Request, context: APIRequestContext) async throws -> Response {
        _ = try context.caller(APIKeys.system)
        return renderer.page("projects", ["title": "Projects"], context: context)
    }

    @Sendable func createProject(_ request: Request, context: APIRequestContext) async throws -> Response {
        _ = try context.caller(APIKeys.system)
        let form = context.consoleForm ?? ConsoleForm(fields: [:])
        do {
            let (project, key) = try await ProjectsController.create(db, name: form["name"] ?? "")
            return renderer.page(
                "projects", ["title": "Projects", "createdProject": ["name": project.name, "secret": key.secret]],
                context: context, status: .created)
        } catch let error as APIError where error.status.code < 500 {
            return renderer.page("projects", ["title": "Projects"], context: context, status: error.status, flash: ConsoleFlash(error))
        }
    }
}
