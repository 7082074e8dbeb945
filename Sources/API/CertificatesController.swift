import ACME
import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/certificates…`: Unikraft Cloud's certificates resource, extended. Writes go
/// through the intake layer (`CertificateRequests`) and answer 202 with the job.
struct CertificatesController {
    let dependencies: APIDependencies
    let bodyLimit: Int
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }
    var requests: CertificateRequests { CertificateRequests(dependencies: dependencies) }

    static let idempotencyKey = HeaderName("Idempotency-Key")!

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("certificates", use: upload)
        group.get("certificates", use: batchGet)
        group.delete("certificates", use: batchDelete)
        group.get("certificates/list", use: list)
        group.get("certificates/:ref", use: get)
        group.put("certificates/:ref", use: reimport)
        group.patch("certificates/:ref", use: update)
        group.delete("certificates/:ref", use: delete)
        group.post("certificates/:ref/renew", use: renew)
        group.post("certificates/:ref/revoke", use: revoke)
    }

    // MARK: - writes

    @Sendable func upload(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let body = try await decode(CertificateRequests.UploadBody.self, request, context: context)
        return try await requests.create(body, caller: caller, idempotencyKey: try idempotencyKey(request)).response
    }

    @Sendable func reimport(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let body = try await decode(CertificateRequests.UploadBody.self, request, context: context)
        return try await requests.reimport(
            body, reference: reference, caller: caller, idempotencyKey: try idempotencyKey(request),
            expectedVersion: try ifMatch(request)
        ).response
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        if request.uri.queryParameters.get("revoke") == "true" {
            // `DELETE …?revoke=true[&reason=…]`: revoke at the CA first; the delete follows.
            let reason = try request.uri.queryParameters.get("reason").map { try CertificateRequests.revocationReason($0) } ?? .unspecified
            return try await requests.revokeThenDelete(
                reference: reference, caller: caller, reason: reason,
                idempotencyKey: try idempotencyKey(request), expectedVersion: try ifMatch(request)
            ).response
        }
        return try await requests.delete(
            reference: reference, caller: caller, idempotencyKey: try idempotencyKey(request),
            expectedVersion: try ifMatch(request)
        ).response
    }

    @Sendable func batchDelete(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        guard let references = try await references(request, context: context) else {
            throw APIError.malformed("name the certificates to delete with ?uuid=…&name=… or a JSON body")
        }
        guard references.count <= 100 else { throw APIError.malformed("at most 100 certificates per request") }
        var items: [JSONValue] = []
        for reference in references {
            do {
                items.append(try await requests.delete(reference: reference, caller: caller).item)
            } catch {
                guard let mapped = APIError.from(error), mapped.status.code < 500 else { throw error }
                items.append(mapped.item)
            }
        }
        return .success(.object([("certificates", .array(items))]), status: .accepted)
    }

    /// Renewal is ACME's job; an uploaded certificate is renewed by re-importing it.
    @Sendable func renew(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        struct RenewBody: Decodable { var reuse_key: Bool? }
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var reuseKey = request.uri.queryParameters.get("reuse_key") == "true"
        if buffer.readableBytes > 0 {
            guard let body = try? JSONDecoder().decode(RenewBody.self, from: Data(buffer: buffer)) else {
                throw APIError.malformed("the body must be a JSON object like {\"reuse_key\": true}")
            }
            reuseKey = body.reuse_key ?? reuseKey
        }
        return try await requests.renew(reference: reference, caller: caller, idempotencyKey: try idempotencyKey(request), reuseKey: reuseKey)
            .response
    }

    /// `{"reason": "keyCompromise"}` or `{"reason": 1}` (RFC 5280 codes ACME accepts).
    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var object: [String: Any] = [:]
        if buffer.readableBytes > 0 {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] else {
                throw APIError.malformed("the body must be a JSON object like {\"reason\": \"keyCompromise\"}")
            }
            object = parsed
        }
        return try await requests.revoke(reference: reference, caller: caller, reason: object["reason"], idempotencyKey: try idempotencyKey(request))
            .response
    }

    // MARK: - reads

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let detailed = request.uri.queryParameters.get("details") != "false"
        var json = document.json
        // What each bound target holds: the delivery side of the certificate.
        if detailed, case .object(var fields) = json {
            // Deliveries go through bindings: without one there is no second query to make.
            let holdings = document.hasBindings ? try await Deliveries(db: dependencies.db).holdings(certificate: document.id) : []
            fields.append(("deliveries", TargetsController.holdings(holdings)))
            json = .object(fields)
        }
        return .success(
            .object([("certificates", .array([detailed ? json : document.summary]))]),
            headers: [.eTag: document.etag])
    }

    /// References from `?uuid=a,b&name=c` or a JSON body `[{"uuid":…},{"name":…}]`.
    func references(_ request: Request, context: APIRequestContext) async throws -> [String]? {
        var references: [String] = []
        for key in ["uuid", "name"] {
            for value in request.uri.queryParameters.getAll(key) {
                references += value.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
        }
        let body = try await request.collectBody(upTo: bodyLimit)
        if body.readableBytes > 0 {
            struct Item: Decodable { var uuid: String?; var name: String? }
            guard let items = try? JSONDecoder().decode([Item].self, from: Data(buffer: body)) else {
                throw APIError.malformed("the body must be a JSON array of {\"uuid\":…} or {\"name\":…}")
            }
            references += items.compactMap { $0.uuid ?? $0.name }
        }
        return references.isEmpty ? nil : references
    }

    @Sendable func batchGet(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let detailed = request.uri.queryParameters.get("details") != "false"
        guard let references = try await references(request, context: context) else {
            // No selection: every certificate of the project (as Unikraft), first page; two queries in all.
            let page = try await listPage(project: caller.projectID, request: request)
            let documents = try await reader.find(project: caller.projectID, references: page.ids.map(\.uuidString))
            return .success(.object([("certificates", .array(documents.compactMap { $0.map { detailed ? $0.json : $0.summary } }))]))
        }
        guard references.count <= 100 else { throw APIError.malformed("at most 100 certificates per request") }
        let documents = try await reader.find(project: caller.projectID, references: references)
        let items = zip(references, documents).map { reference, document in
            document.map { detailed ? $0.json : $0.summary } ?? APIError.from(store: .certificateNotFound(reference)).item
        }
        return .success(.object([("certificates", .array(items))]))
    }

    struct Page {
        var ids: [UUID]
        var items: [JSONValue]
        var next: String?
    }

    /// `limit`: 1–1000, 100 when absent; anything else is refused rather than clamped.
    static func pageLimit(_ text: String?, default fallback: Int = 100, maximum: Int = 1000) throws -> Int {
        guard let text else { return fallback }
        guard let limit = Int(text), (1...maximum).contains(limit) else {
            throw APIError(
                .badRequest, "invalid_limit", "'limit' must be an integer from 1 to \(maximum)",
                details: [("minimum", .int(1)), ("maximum", .int(maximum))])
        }
        return limit
    }

    /// One page of `GET /v1/certificates/list`: stable order by uuid; the cursor is an
    /// authenticated token for the last uuid (`ListCursor`), valid for the same filters only.
    func listPage(project: UUID, request: Request) async throws -> Page {
        let query = request.uri.queryParameters
        let limit = try Self.pageLimit(query.get("limit"))
        let commonName = query.get("common_name")
        let state = query.get("state")
        var expiresBefore: Date?
        if let text = query.get("expires_before") {
            guard let date = RFC3339.parse(text) else { throw APIError.malformed("'expires_before' must be an RFC 3339 timestamp") }
            expiresBefore = date
        }
        var domain: String?
        if let text = query.get("domain") {
            guard let host = Hostname.normalize(text) else { throw APIError.malformed("'domain' is not a host name") }
            domain = host
        }
        let filter = CertificateListFilter(commonName: commonName, state: state, expiresBefore: expiresBefore, domain: domain)
        let cursors = ListCursor(sealer: dependencies.sealer)
        let cursor = try query.get("cursor").map { try cursors.position($0, project: project, filter: filter) }
        let page = try await CertificateDocuments(db: dependencies.db).page(project: project, filter: filter, after: cursor, limit: limit)
        let ids = page.items.map(\.id)
        let items = page.items.map { JSONValue.object([("uuid", .string($0.id.uuidString.lowercased())), ("name", .string($0.name))]) }
        let next = page.more ? ids.last.map { cursors.token(after: $0, project: project, filter: filter) } : nil
        return Page(ids: ids, items: items, next: next)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let page = try await listPage(project: caller.projectID, request: request)
        return .success(.object([("certificates", .array(page.items)), ("next_cursor", .string(page.next))]))
    }

    // MARK: - settings

    /// `PATCH {"renew_before": "30d" | 2592000 | null}`: when the certificate renews (null:
    /// back to 2/3 of the lifetime); answers with the certificate, `renew_at` moved.
    @Sendable func update(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let body = try await decode(PatchBody.self, request, context: context)
        guard let value = body.renewBefore else { throw APIError.malformed("only 'renew_before' can be changed with PATCH") }
        let seconds: Int?
        switch value {
        case .default: seconds = nil
        case .text(let text): seconds = try Self.renewBefore(RenewBefore.seconds(text), value: text)
        case .seconds(let number): seconds = try Self.renewBefore(RenewBefore.validated(number), value: String(number))
        }
        try await Certificates.setRenewBefore(
            dependencies.db, project: caller.projectID, reference: reference, seconds: seconds,
            expectedVersion: try ifMatch(request), actor: caller.actor)
        let document = try await reader.require(project: caller.projectID, reference: reference)
        return .success(.object([("certificates", .array([document.json]))]), headers: [.eTag: document.etag])
    }

    /// The PATCH body: `renew_before` absent (nil), null (`.default`), a number or a string.
    struct PatchBody: Decodable {
        enum RenewBeforeValue { case `default`, seconds(Int), text(String) }
        var renewBefore: RenewBeforeValue?

        enum CodingKeys: String, CodingKey { case renewBefore = "renew_before" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.renewBefore) else { return }
            if try container.decodeNil(forKey: .renewBefore) {
                renewBefore = .default
            } else if let number = try? container.decode(Int.self, forKey: .renewBefore) {
                renewBefore = .seconds(number)
            } else {
                renewBefore = .text(try container.decode(String.self, forKey: .renewBefore))
            }
        }
    }

    static func renewBefore(_ seconds: Int?, value: String) throws -> Int {
        guard let seconds else {
            throw APIError(
                .unprocessableContent, "invalid_renew_before",
                "'renew_before' must be 1 second to 10 years: seconds or a number with s, m, h or d (\"30d\")",
                details: [("renew_before", .string(value))])
        }
        return seconds
    }

    // MARK: - HTTP helpers

    func decode<T: Decodable>(_ type: T.Type, _ request: Request, context: APIRequestContext) async throws -> T {
        let buffer = try await request.collectBody(upTo: bodyLimit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.malformed("the body is not the expected JSON object")
        }
    }

    func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[Self.idempotencyKey] else { return nil }
        return try Submissions.clientKey(key)
    }

    /// `If-Match: "7"` (or `7`) → 7; `*` or absent → nil.
    func ifMatch(_ request: Request) throws -> Int64? {
        guard let value = request.headers[.ifMatch]?.trimmingCharacters(in: .whitespaces), value != "*" else { return nil }
        var text = Substring(value)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        text = text.drop { $0 == "\"" }
        while text.last == "\"" { text = text.dropLast() }
        guard let version = Int64(text) else {
            throw APIError(.preconditionFailed, "version_mismatch", "If-Match does not name a version of this certificate")
        }
        return version
    }

}
