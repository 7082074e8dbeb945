import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/consumers/{consumer}/tls`: the TLS configuration of one consumer in the shape
/// EMQX Cloud gives each deployment (`{"tlsType","cert","key","cacert"}` in,
/// `{"tlsType","expire","status"}` out). It is a certificate bound to the consumer, so
/// everything else (validation job, renewal, events, `/v1/match`) applies to it unchanged.
struct ConsumersController {
    let dependencies: APIDependencies
    let bodyLimit: Int
    /// This resource's own per-key budget (EMQX: 6 writes and 60 reads per hour).
    let limiter: RateLimiter

    var db: Database { dependencies.db }
    var requests: CertificateRequests { CertificateRequests(dependencies: dependencies) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("consumers/:consumer/tls", use: get)
        group.post("consumers/:consumer/tls", use: create)
        group.put("consumers/:consumer/tls", use: replace)
        group.delete("consumers/:consumer/tls", use: remove)
    }

    struct Body: Decodable {
        var tlsType: String?
        var cert: String?
        var key: String?
        var cacert: String?
    }

    /// The certificate serving CONSUMER: the newest live one bound to it.
    struct Current {
        let id: UUID
        let state: String
    }

    func authorize(_ request: Request, _ context: APIRequestContext, _ scope: String) async throws -> (Identity, String) {
        let caller = try context.caller(scope)
        try await limiter.enforce(key: caller.keyID, request: request, what: " to consumer TLS")
        let consumer = try context.parameters.require("consumer")
        guard (1...256).contains(consumer.count) else { throw APIError.malformed("the consumer name must be 1–256 characters") }
        return (caller, consumer)
    }

    func current(project: UUID, consumer: String) async throws -> Current? {
        try await Bindings(db: db).current(project: project, consumer: consumer).map { Current(id: $0.id, state: $0.state) }
    }

    func require(project: UUID, consumer: String) async throws -> Current {
        guard let found = try await current(project: project, consumer: consumer) else {
            throw APIError(.notFound, "tls_not_found", "consumer '\(consumer)' has no TLS configuration", details: [("consumer", .string(consumer))])
        }
        return found
    }

    /// The body as an upload: `cacert` is required for two-way TLS and dropped for one-way.
    func submission(_ request: Request, caller: Identity) async throws -> UploadRequest {
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"tlsType\": …, \"cert\": …, \"key\": …, \"cacert\": …}")
        }
        let tlsType = body.tlsType ?? "one-way"
        guard tlsType == "one-way" || tlsType == "two-way" else {
            throw APIError(
                .unprocessableContent, "invalid_tls_type", "'tlsType' must be 'one-way' or 'two-way'", details: [("tlsType", .string(tlsType))])
        }
        if tlsType == "two-way" && (body.cacert ?? "").isEmpty {
            throw APIError(.unprocessableContent, "cacert_missing", "two-way TLS needs 'cacert' (PEM) to authenticate clients")
        }
        let upload = CertificateRequests.UploadBody(chain: body.cert, pkey: body.key, client_ca: tlsType == "two-way" ? body.cacert : nil)
        return try requests.checkedUpload(upload, project: caller.projectID, actor: caller.actor, idempotencyKey: nil)
    }

    // MARK: - handlers

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let (caller, consumer) = try await authorize(request, context, "certificates:read")
        return try await answer(try await require(project: caller.projectID, consumer: consumer))
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let (caller, consumer) = try await authorize(request, context, "certificates:write")
        if try await current(project: caller.projectID, consumer: consumer) != nil {
            throw APIError(
                .conflict, "tls_exists", "consumer '\(consumer)' already has a TLS configuration; change it with PUT",
                details: [("consumer", .string(consumer))])
        }
        // Upload and binding in one transaction: a crash leaves both or neither, and two concurrent
        // creates for one consumer cannot both succeed (`tls_exists`).
        var upload = try await submission(request, caller: caller)
        upload.bindTo = consumer
        _ = try await requests.submissions.upload(upload)
        return try await answer(try await require(project: caller.projectID, consumer: consumer))
    }

    @Sendable func replace(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let (caller, consumer) = try await authorize(request, context, "certificates:write")
        let existing = try await require(project: caller.projectID, consumer: consumer)
        // A new version under the same certificate: the current one serves until the new one is valid.
        _ = try await requests.submissions.reimport(try await submission(request, caller: caller), reference: existing.id.uuidString)
        return try await answer(try await require(project: caller.projectID, consumer: consumer))
    }

    @Sendable func remove(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (caller, consumer) = try await authorize(request, context, "certificates:write")
        let existing = try await require(project: caller.projectID, consumer: consumer)
        let unbound = try await Bindings(db: db).unbind(
            project: caller.projectID, reference: existing.id.uuidString, consumer: consumer,
            actor: caller.actor)
        if !unbound.stillUsed {
            _ = try await requests.delete(reference: existing.id.uuidString, caller: caller)
        }
        return Response(status: .noContent)
    }

    /// `{"tlsType","expire","status"}` of the newest version, plus CertFleet's certificate and state.
    func answer(_ current: Current) async throws -> JSONResponse {
        guard let newest = try await CertificateVersions(db: db).newest(certificate: current.id) else {
            throw StoreError.certificateNotFound(current.id.uuidString.lowercased())
        }
        let leaf = try CertificateBundle.parse(chain: newest.chainPEM, key: nil).leaf
        var fields: [(String, JSONValue)] = [
            ("tlsType", .string(newest.twoWay ? "two-way" : "one-way")),
            ("expire", .string(Self.emqxDate(leaf.info.validity.until))),
            ("status", .string(current.state == "valid" ? "running" : "pending")),
            ("certificate", .object([("uuid", .string(current.id.uuidString.lowercased())), ("name", .string(newest.certificateName))])),
            ("state", .string(current.state)),
        ]
        if current.state == "error", let code = newest.lastErrorCode {
            fields.append(("error", .object([("code", .string(code)), ("message", .string(newest.lastErrorMessage))])))
        }
        return JSONResponse(.object(fields))
    }

    /// EMQX's `2034-05-22 02:43:21` (UTC): the RFC 3339 form with a space and no zone letter.
    static func emqxDate(_ date: Date) -> String {
        String(RFC3339.format(date).dropLast()).replacingOccurrences(of: "T", with: " ")
    }
}
