import Foundation
import Hummingbird
import Store

/// Sign-in, sign-out, the stylesheet and the console's 404. Sign-in checks the pasted key
/// through the API's key cache, with the API's limit on failed attempts per address.
struct ConsoleSignInController {
    /// The sign-in form's CSRF token is a double-submit cookie (there is no session yet).
    static let loginCookie = "cf_console_login"
    let keys: KeyCache
    let sessions: ConsoleSessions
    let failedAuthentications: RateLimiter
    let renderer: ConsoleRenderer

    func addRoutes(to console: RouterGroup<APIRequestContext>) {
        console.get("", use: { _, _ in ConsoleRenderer.redirect("/console/certificates") })
        console.get("login", use: loginPage)
        console.post("login", use: login)
        console.get(
            "static/console.css",
            use: { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: ConsoleStyle.css)))
            })
    }

    @Sendable func loginPage(_ request: Request, context: APIRequestContext) async throws -> Response {
        loginForm(context: context)
    }

    func loginForm(context: APIRequestContext, status: HTTPResponse.Status = .ok, flash: ConsoleFlash? = nil) -> Response {
        let token = ConsoleSessions.token()
        var response = renderer.page("login", ["title": "Sign in", "loginCSRF": token], context: context, status: status, flash: flash)
        response.setCookie(Cookie(name: Self.loginCookie, value: token, path: "/console/login", httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func login(_ request: Request, context: APIRequestContext) async throws -> Response {
        try ConsoleAuthMiddleware.checkOrigin(request)
        let form = try await ConsoleRequest.form(request, context: context)
        guard let token = form["csrf"], let cookie = request.cookies[Self.loginCookie]?.value, ConsoleSessions.same(token, cookie) else {
            throw APIError(.forbidden, "csrf_invalid", "the sign-in form's CSRF token is missing or wrong; reload the page and try again")
        }
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if let wait = await failedAuthentications.waitWithoutTaking(id: address, write: true) {
            return loginForm(
                context: context, status: .tooManyRequests,
                flash: ConsoleFlash(RateLimiter.tooMany(wait, what: "failed sign-ins from this address")))
        }
        let secret = form["key"] ?? ""
        guard secret.hasPrefix("cf_"), secret.count < 200, let key = try await keys.authenticate(secret: secret) else {
            _ = await failedAuthentications.take(id: address, write: true)
            return loginForm(
                context: context, status: .unauthorized,
                flash: ConsoleFlash("That API key is not valid: it is unknown, revoked or mistyped.", code: "invalid_api_key"))
        }
        let session = await sessions.create(secret: secret)
        // The first page this key may see (a `system`-only key manages projects, nothing else).
        let identity = Identity(keyID: key.id, projectID: key.projectID, scopes: Set(key.scopes))
        let start = identity.holds("certificates:read") ? "certificates" : identity.holds(APIKeys.system) ? "projects" : "keys"
        var response = ConsoleRenderer.redirect("/console/\(start)")
        response.setCookie(Cookie(name: ConsoleAuthMiddleware.cookie, value: session.id, path: "/console", httpOnly: true, sameSite: .strict))
        response.setCookie(Cookie(name: Self.loginCookie, value: "", maxAge: 0, path: "/console/login", httpOnly: true, sameSite: .strict))
        return response
    }

    /// Behind the session middleware (the CSRF token is checked there).
    func addSignedInRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("logout") { request, context in
            if let id = request.cookies[ConsoleAuthMiddleware.cookie]?.value { await sessions.end(id) }
            var response = ConsoleRenderer.redirect("/console/login")
            response.setCookie(
                Cookie(
                    name: ConsoleAuthMiddleware.cookie, value: "", maxAge: 0, path: "/console", httpOnly: true,
                    sameSite: .strict))
            return response
        }
        // Anything else under /console: the console's own 404, not the API's JSON.
        group.get("**") { _, _ -> Response in
            throw APIError(.notFound, "page_not_found", "there is no such page in the console")
        }
    }
}
