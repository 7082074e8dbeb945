import Foundation
import Hummingbird
import Logging
import Store
import X509

/// An error the API answers with: `{"status":"error","message":…,"error":{"code":…,"details":{…}}}`.
/// Codes are stable; messages never carry key material or stack traces.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var details: [(String, JSONValue)]
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status, _ code: String, _ message: String,
        details: [(String, JSONValue)] = [], headers: HTTPFields = [:]
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers
    }

    public static func malformed(_ message: String) -> APIError { APIError(.badRequest, "malformed_request", message) }
    public static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) not found") }
    public static func forbidden(scope: String) -> APIError {
        APIError(.forbidden, "missing_scope", "this API key lacks the '\(scope)' scope", details: [("scope", .string(scope))])
    }

    /// The error as the item of a batch answer.
    var item: JSONValue {
        .object([
            ("status", .string("error")), ("message", .string(message)),
            ("error", .object([("code", .string(code)), ("details", .object(details))])),
        ])
    }

    func response() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(
            status: status, headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: item.serialized())))
    }

    /// Maps whatever a handler threw to what the client sees.
    static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: return error
        case let error as StoreError: return from(store: error)
        case let error as X509Error:
            return APIError(.unprocessableContent, error.code, error.message, details: [("x509_code", .string(error.code))])
        case let error where DatabaseFailure(error) != nil:
            switch DatabaseFailure(error)! {
            case .unavailable:
                return APIError(
                    .serviceUnavailable, "database_unavailable", "the database is not reachable; retry later",
                    headers: [.retryAfter: "5"])
            case .invalidValue:
                return APIError(.badRequest, "invalid_value", "a value in the request is not valid for its field")
            case .other:
                return nil
            }
        case let error as HTTPError:
            switch error.status {
            case .contentTooLarge: return APIError(.contentTooLarge, "body_too_large", "the request body is larger than allowed")
            case .notFound: return APIError(.notFound, "not_found", "no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed on this route")
            case .badRequest: return APIError(.badRequest, "malformed_request", error.body ?? "malformed request")
            default: return APIError(error.status, "http_error", error.body ?? error.status.reasonPhrase)
            }
        default: return nil
        }
    }

    static func from(store error: StoreError) -> APIError {
        switch error {
        case .nameTaken(let name):
            return APIError(.conflict, error.code, error.description, details: [("name", .string(name))])
        case .jobAlreadyActive(let job, let kind):
            return APIError(
                .conflict, error.code, error.description,
                details: [("job", .string(job.uuidString.lowercased())), ("kind", .string(kind))])
        case .certificateNotFound(let ref):
            return APIError(.notFound, error.code, error.description, details: [("ref", .string(ref))])
        case .jobNotFound:
            return APIError(.notFound, error.code, error.description)
        case .certificateInUse(let consumers):
            return APIError(.conflict, error.code, error.description, details: [("consumers", .strings(consumers))])
        case .transitionRefused(_, let state):
            return APIError(.conflict, error.code, error.description, details: [("state", .string(state))])
        case .notRenewable(let source), .notRevocable(let source):
            return APIError(.conflict, error.code, error.description, details: [("source", .string(source))])
        case .acmeAccountNotFound(let ref):
            return APIError(.notFound, error.code, error.description, details: [("acme_account", .string(ref))])
        case .idempotencyKeyInvalid:
            return APIError(.badRequest, error.code, error.description)
        case .idempotencyKeyReused(let kind):
            return APIError(.unprocessableContent, error.code, error.description, details: [("kind", .string(kind))])
        case .zoneOwnedElsewhere(let zone):
            return APIError(.conflict, error.code, error.description, details: [("zone", .string(zone))])
        case .fallbackOrderTaken(let order):
            return APIError(.conflict, error.code, error.description, details: [("fallback_order", .int(order))])
        case .dnsProviderNameTaken(let name):
            return APIError(.conflict, error.code, error.description, details: [("name", .string(name))])
        case .dnsProviderNotFound(let ref):
            return APIError(.notFound, error.code, error.description, details: [("dns_provider", .string(ref))])
        case .targetNotFound(let ref):
            return APIError(.notFound, error.code, error.description, details: [("target", .string(ref))])
        case .targetNameTaken(let name):
            return APIError(.conflict, error.code, error.description, details: [("name", .string(name))])
        case .targetInUse(let bindings):
            return APIError(.conflict, error.code, error.description, details: [("bindings", .strings(bindings))])
        case .consumerTaken(let consumer):
            return APIError(.conflict, error.code, error.description, details: [("consumer", .string(consumer))])
        case .versionMismatch(let expected, let actual):
            return APIError(
                .preconditionFailed, error.code, error.description,
                details: [("expected", .string("\"\(expected)\"")), ("actual", .string("\"\(actual)\""))])
        }
    }
}

/// Turns every error into the API's error document; unknown errors become a
/// bare 500 whose cause is only logged.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            if let mapped = APIError.from(error) { return mapped.response() }
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))", "route": "\(request.uri.path)"])
            return APIError(.internalServerError, "internal_error", "internal error; see the server log").response()
        }
    }
}

extension Request {
    /// The whole body, or 413 when it is (or announces to be) larger than LIMIT bytes.
    func collectBody(upTo limit: Int) async throws -> ByteBuffer {
        if let length = headers[.contentLength].flatMap(Int.init), length > limit { throw APIError.tooLarge(limit) }
        do {
            return try await body.collect(upTo: limit)
        } catch {
            // NIO's "too many bytes" is the only way collecting fails on a live request.
            throw APIError.tooLarge(limit)
        }
    }
}

extension APIError {
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "body_too_large", "the request body is larger than \(limit) bytes", details: [("limit", .int(limit))])
    }
}
