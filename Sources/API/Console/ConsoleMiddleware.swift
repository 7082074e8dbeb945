import Foundation
import Hummingbird
import Store

/// Around every /console route: the security headers, and errors as the console's pages.
struct ConsoleShellMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let renderer: ConsoleRenderer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = renderer.errorPage(error, context: context)
        }
        ConsoleRenderer.secure(&response.headers)
        return response
    }
}

/// The signed-in part of the console: the session cookie → the key's identity, through the
/// same key cache, scopes and per-key rate limits as the API; every POST needs the session's
/// CSRF token (403 without it) and, when the browser names one, our own origin.
struct ConsoleAuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    static let cookie = "cf_console"
    let keys: KeyCache
    let sessions: ConsoleSessions
    let limiter: RateLimiter
    let renderer: ConsoleRenderer
    let bodyLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let id = request.cookies[Self.cookie]?.value, let session = await sessions.find(id) else {
            if request.method == .get || request.method == .head { return ConsoleRenderer.redirect("/console/login") }
            throw APIError(.forbidden, "session_missing", "this form was not sent from a signed-in console session")
        }
        guard let key = try await keys.authenticate(secret: session.secret) else {
            // The key was revoked since sign-in: the session ends with it.
            await sessions.end(id)
            return ConsoleRenderer.redirect("/console/login")
        }
        var context = context
        context.identity = Identity(keyID: key.id, projectID: key.projectID, scopes: Set(key.scopes))
        context.consoleSession = session
        context.maxUploadSize = bodyLimit
        do {
            try await limiter.enforce(key: key.id, request: request)
            if request.method != .get && request.method != .head {
                try Self.checkOrigin(request)
                let form = try await ConsoleRequest.form(request, context: context)
                guard let token = form["csrf"], ConsoleSessions.same(token, session.csrf) else {
                    throw APIError(.forbidden, "csrf_invalid", "the form's CSRF token is missing or wrong; reload the page and try again")
                }
                context.consoleForm = form
            }
            return try await next(request, context)
        } catch {
            return renderer.errorPage(error, context: context)
        }
    }

    /// A browser's `Origin` must be this host (SameSite=Strict already keeps the cookie off
    /// cross-site requests; this also refuses a same-site sibling origin).
    static func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[HeaderName("Origin")!] else { return }
        let host = request.head.authority ?? ""
        guard let url = URL(string: origin), let name = url.host, (url.port.map { "\(name):\($0)" } ?? name) == host else {
            throw APIError(.forbidden, "origin_mismatch", "the form was sent from another site (\(origin))")
        }
    }
}

/// The console's form body, read once (by the auth middleware for the CSRF check).
enum ConsoleRequest {
    static func form(_ request: Request, context: APIRequestContext) async throws -> ConsoleForm {
        if let form = context.consoleForm { return form }
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let form = ConsoleForm(body: Array(buffer: buffer), contentType: request.headers[.contentType]) else {
            throw APIError(.badRequest, "form_invalid", "the form could not be read")
        }
        return form
    }
}
