import Foundation
import Hummingbird
import Logging
import Mustache
import Store

/// Renders the console's templates into responses carrying the console's security headers.
struct ConsoleRenderer: Sendable {
    let library: MustacheLibrary

    /// default-src 'self' and no inline script or style anywhere; forms post only to us; no framing.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    init() {
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all {
            // The templates are constants of this module: a parse error is a programming error
            // (ConsoleTemplateTests parses every one).
            do { try library.register(text, named: name) } catch { preconditionFailure("console template '\(name)': \(error)") }
        }
        self.library = library
    }

    /// Headers every console answer carries, pages, redirects and the stylesheet alike.
    static func secure(_ headers: inout HTTPFields) {
        headers[HeaderName("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HeaderName("X-Content-Type-Options")!] = "nosniff"
        headers[HeaderName("X-Frame-Options")!] = "DENY"
        headers[HeaderName("Referrer-Policy")!] = "same-origin"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }

    /// TEMPLATE rendered with VALUES (and the frame's values from CONTEXT).
    func page(
        _ template: String, _ values: [String: Any], context: APIRequestContext,
        status: HTTPResponse.Status = .ok, flash: ConsoleFlash? = nil
    ) -> Response {
        var all = Self.frame(context)
        all.merge(values) { _, new in new }
        if let flash { all["flash"] = flash.values }
        let html = library.render(all, withTemplate: template) ?? "template \(template) missing"
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// What the header needs: who is signed in, what they may do, the CSRF token for forms.
    static func frame(_ context: APIRequestContext) -> [String: Any] {
        guard let identity = context.identity, let session = context.consoleSession else { return ["signedIn": false] }
        return [
            "signedIn": true, "csrf": session.csrf, "canWrite": identity.holds("certificates:write"),
            "isAdmin": identity.holds("admin"), "isSystem": identity.holds(APIKeys.system),
            "scopes": identity.scopes.sorted().joined(separator: " "),
            "project": "project " + identity.projectID.uuidString.lowercased().prefix(8),
        ]
    }

    /// The console's page for ERROR: its status, code and message (never a stack trace).
    func errorPage(_ error: any Error, context: APIRequestContext) -> Response {
        guard let mapped = APIError.from(error) else {
            context.logger.error("console: unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return page(
                "error",
                [
                    "heading": "Something went wrong", "message": "Internal error; see the server log.",
                    "code": "internal_error", "status": 500,
                ], context: context, status: .internalServerError)
        }
        let heading: String
        switch mapped.status.code {
        case 404: heading = "Not found"
        case 403: heading = "Forbidden"
        case 401: heading = "Sign-in needed"
        default: heading = "Refused"
        }
        return page(
            "error", ["heading": heading, "message": mapped.message, "code": mapped.code, "status": Int(mapped.status.code)],
            context: context, status: mapped.status)
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }
}

/// A message at the top of a page.
struct ConsoleFlash {
    var message: String
    var code: String?
    var isError = true

    init(_ message: String, code: String? = nil, isError: Bool = true) {
        self.message = message
        self.code = code
        self.isError = isError
    }

    init(_ error: APIError) { self.init(error.message, code: error.code) }

    var values: [String: Any] {
        var values: [String: Any] = ["message": message, "kind": isError ? "error" : "info"]
        if let code { values["code"] = code }
        return values
    }
}
