import CertFleetCore
import Foundation
import Hummingbird
import Jobs
import Postgres
import Store
import X509

/// `/v1/certificates…`, `/v1/jobs…`, `/v1/match`: Unikraft Cloud's certificates
/// resource, extended. Writes go through the job runtime's submit API and answer 202.
struct CertificatesController {
    let dependencies: APIDependencies
    let bodyLimit: Int
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }
    var db: PostgresClient { dependencies.db }

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
        group.get("certificates/:ref/pem", use: pem)
        group.get("certificates/:ref/events", use: events)
        group.post("certificates/:ref/renew", use: renew)
        group.post("certificates/:ref/revoke", use: revoke)
        group.get("certificates/:ref/challenges", use: challenges)
        group.put("certificates/:ref/bindings/:consumer", use: bind)
        group.delete("certificates/:ref/bindings/:consumer", use: unbind)
        group.get("certificates/:ref/**", use: path)
        group.get("jobs/:id", use: job)
        group.get("jobs", use: jobs)
        group.get("match", use: match)
    }

    // MARK: - upload and re-import

    /// Names one certificate may hold: the CA/Browser Forum's and Let's Encrypt's limit.
    static let maxNames = 100

    static func tooManyNames(_ count: Int) -> APIError {
        APIError(.unprocessableContent, "too_many_names", "a certificate may hold at most \(maxNames) names; this one has \(count)",
                 details: [("count", .int(count)), ("limit", .int(maxNames))])
    }

    struct UploadBody: Decodable {
        var name: String?
        var cn: String?
        var chain: String?
        var pkey: String?
        var client_ca: String?
        var usage: String?
        var domains: [String]?
        var key_type: String?
        var challenge: String?
        var acme_account: String?
        var profile: String?
    }

    /// Parses the bundle at once (422 with the X509 code), checks `cn` and `usage`.
    func checkedUpload(_ body: UploadBody, project: UUID, actor: String, idempotencyKey: String?) throws -> UploadRequest {
        if body.domains != nil {
            throw APIError(.unprocessableContent, "domains_not_allowed", "'domains' (ACME issuance) is only accepted by POST /v1/certificates")
        }
        guard let chain = body.chain, !chain.isEmpty else { throw APIError(.unprocessableContent, "chain_missing", "'chain' (PEM) is required") }
        guard let key = body.pkey, !key.isEmpty else { throw APIError(.unprocessableContent, "key_missing", "'pkey' (PEM private key) is required") }
        let usage = body.usage ?? "server"
        guard usage == "server" || usage == "client" else {
            throw APIError(.unprocessableContent, "invalid_usage", "'usage' must be 'server' or 'client'")
        }
        if let name = body.name, !CertificateName.isValid(name) || UUID(uuidString: name) != nil {
            throw APIError(.unprocessableContent, "invalid_name", "'name' must be 1–128 letters, digits, '.', '_' or '-', not starting with '.' or '-', and not a uuid",
                           details: [("name", .string(name))])
        }
        let bundle = try CertificateBundle.parse(chain: chain, key: key, clientCA: body.client_ca)
        let leaf = bundle.leaf
        let sans = leaf.subjectAltNames
        guard sans.count <= Self.maxNames else { throw Self.tooManyNames(sans.count) }
        if let cn = body.cn {
            let matches = leaf.info.subject.commonName?.lowercased() == cn.lowercased() || sans.contains { $0.lowercased() == cn.lowercased() }
            guard matches else {
                throw APIError(.unprocessableContent, "cn_mismatch", "'cn' does not match the certificate's common name or SANs",
                               details: [("cn", .string(cn)), ("certificate_cn", .string(leaf.info.subject.commonName))])
            }
        }
        let eku = leaf.info.extendedKeyUsage
        let wanted = usage == "server" ? "serverAuth" : "clientAuth"
        if !eku.isEmpty && !eku.contains(wanted) && !eku.contains("anyExtendedKeyUsage") {
            throw APIError(.unprocessableContent, "usage_mismatch", "the certificate's Extended Key Usage does not allow \(wanted)",
                           details: [("extended_key_usage", .strings(eku))])
        }
        guard let commonName = body.cn ?? leaf.info.subject.commonName ?? sans.first else {
            throw APIError(.unprocessableContent, "cn_missing", "the certificate has neither a common name nor a SAN")
        }
        return UploadRequest(projectID: project, name: body.name, commonName: commonName, sans: sans, chainPEM: chain,
                             privateKeyPEM: key, clientCAPEM: body.client_ca, usage: usage, idempotencyKey: idempotencyKey, actor: actor)
    }

    func decode<T: Decodable>(_ type: T.Type, _ request: Request, context: APIRequestContext) async throws -> T {
        let buffer = try await request.collectBody(upTo: bodyLimit)
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError.malformed("the body is not the expected JSON object")
        }
    }

    @Sendable func upload(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let body = try await decode(UploadBody.self, request, context: context)
        return try await submitUpload(body, caller: caller, idempotencyKey: try idempotencyKey(request))
    }

    /// Upload (or, with `domains`, ACME issuance) over HTTP and AMQP intake alike.
    func submitUpload(_ body: UploadBody, caller: Identity, idempotencyKey: String?) async throws -> JSONResponse {
        if let domains = body.domains { return try await issue(body, domains: domains, caller: caller, idempotencyKey: idempotencyKey) }
        let submission = try checkedUpload(body, project: caller.projectID, actor: caller.actor, idempotencyKey: idempotencyKey)
        let job = try await dependencies.submitter.upload(submission)
        // A replayed key answers with the certificate as it is now.
        let state = job.isReplay ? try await currentState(caller.projectID, job) : "pending"
        return accepted(job, state: state)
    }

    @Sendable func reimport(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let body = try await decode(UploadBody.self, request, context: context)
        // The name stays; re-import changes the chain, key, client CA and usage only.
        var submission = try checkedUpload(body, project: caller.projectID, actor: caller.actor, idempotencyKey: try idempotencyKey(request))
        submission.name = nil
        let job = try await dependencies.submitter.reimport(submission, reference: reference, expectedVersion: try ifMatch(request))
        return accepted(job, state: try await currentState(caller.projectID, job))
    }

    func currentState(_ project: UUID, _ job: SubmittedJob) async throws -> String {
        try await db.query("SELECT state FROM certificates WHERE project_id = \(project) AND id = \(job.certificateID)")
            .first?.decode(String.self, "state") ?? "deleted"
    }

    func accepted(_ job: SubmittedJob, state: String) -> JSONResponse {
        .success(.object([("certificates", .array([.object([
            ("status", .string("success")),
            ("uuid", .string(job.certificateID.uuidString.lowercased())),
            ("name", .string(job.certificateName)),
            ("state", .string(state)),
            ("job", .string(job.jobID.uuidString.lowercased())),
        ])]))]), status: .accepted, headers: [.location: "/v1/jobs/\(job.jobID.uuidString.lowercased())"])
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

    // MARK: - reads

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let detailed = request.uri.queryParameters.get("details") != "false"
        var json = document.json
        // What each bound target holds: the delivery side of the certificate.
        if detailed, case .object(var fields) = json {
            fields.append(("deliveries", TargetsController.holdings(try await Deliveries(db: db).holdings(certificate: document.id))))
            json = .object(fields)
        }
        return .success(.object([("certificates", .array([detailed ? json : document.summary]))]),
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
            throw APIError(.badRequest, "invalid_limit", "'limit' must be an integer from 1 to \(maximum)",
                           details: [("minimum", .int(1)), ("maximum", .int(maximum))])
        }
        return limit
    }

    /// One page of `GET /v1/certificates/list`: stable order by uuid; the cursor is the last uuid.
    func listPage(project: UUID, request: Request) async throws -> Page {
        let query = request.uri.queryParameters
        let limit = try Self.pageLimit(query.get("limit"))
        var cursor: UUID?
        if let text = query.get("cursor") {
            guard let id = UUID(uuidString: text) else { throw APIError.malformed("'cursor' is not a cursor this API returned") }
            cursor = id
        }
        let commonName = query.get("common_name")
        let state = query.get("state")
        var expiresBefore: Date?
        if let text = query.get("expires_before") {
            guard let date = RFC3339.parse(text) else { throw APIError.malformed("'expires_before' must be an RFC 3339 timestamp") }
            expiresBefore = date
        }
        var domain: String?
        var wildcard: String?
        if let text = query.get("domain") {
            guard let host = Hostname.normalize(text) else { throw APIError.malformed("'domain' is not a host name") }
            domain = host
            if let dot = host.firstIndex(of: ".") { wildcard = "*" + host[dot...] }
        }
        let rows: PostgresRows
        if let domain {
            // The GIN index on `sans` finds the few candidates first; materialized, so the planner
            // cannot trade it for a walk of the whole table in id order (125 ms → 3 ms at 200k rows).
            rows = try await db.query("""
                WITH matched AS MATERIALIZED (
                    SELECT id FROM certificates
                    WHERE project_id = \(project) AND deleted_at IS NULL AND sans && ARRAY[\(domain), \(wildcard)]::text[])
                SELECT c.id, c.name FROM matched m JOIN certificates c ON c.id = m.id
                LEFT JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                WHERE (\(cursor)::uuid IS NULL OR c.id > \(cursor))
                  AND (\(commonName)::text IS NULL OR c.common_name = \(commonName))
                  AND (\(state)::text IS NULL OR c.state = \(state))
                  AND (\(expiresBefore)::timestamptz IS NULL OR v.not_after < \(expiresBefore))
                ORDER BY c.id LIMIT \(limit + 1)
                """)
        } else {
            rows = try await db.query("""
                SELECT c.id, c.name FROM certificates c
                LEFT JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                WHERE c.project_id = \(project) AND c.deleted_at IS NULL
                  AND (\(cursor)::uuid IS NULL OR c.id > \(cursor))
                  AND (\(commonName)::text IS NULL OR c.common_name = \(commonName))
                  AND (\(state)::text IS NULL OR c.state = \(state))
                  AND (\(expiresBefore)::timestamptz IS NULL OR v.not_after < \(expiresBefore))
                ORDER BY c.id LIMIT \(limit + 1)
                """)
        }
        let all = Array(rows)
        var ids: [UUID] = []
        var items: [JSONValue] = []
        for row in all.prefix(limit) {
            let id = try row.decode(UUID.self, "id")
            ids.append(id)
            items.append(.object([("uuid", .string(id.uuidString.lowercased())), ("name", .string(try row.decode(String.self, "name")))]))
        }
        let next = all.count > limit ? ids.last?.uuidString.lowercased() : nil
        return Page(ids: ids, items: items, next: next)
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let page = try await listPage(project: caller.projectID, request: request)
        return .success(.object([("certificates", .array(page.items)), ("next_cursor", .string(page.next))]))
    }

    @Sendable func path(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let reference = try context.parameters.require("ref")
        let segments = context.parameters.getCatchAll().map { $0.removingPercentEncoding ?? String($0) }
        let document = try await reader.require(project: caller.projectID, reference: reference)
        switch document.json.resolve(segments) {
        case .success(let value):
            return .success(value, headers: [.eTag: document.etag])
        case .failure(let error):
            throw APIError(.notFound, "path_not_found", "'\(error.segment)' does not exist in the certificate document",
                           details: [("segment", .string(error.segment)), ("index", .int(error.index))])
        }
    }

    // MARK: - PEM

    @Sendable func pem(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let type = request.uri.queryParameters.get("type") ?? "fullchain"
        guard ["fullchain", "chain", "cert", "key", "bundle", "client_ca"].contains(type) else {
            throw APIError.malformed("'type' must be fullchain, chain, cert, key, bundle or client_ca")
        }
        let needsKey = type == "key" || type == "bundle"
        if needsKey { try caller.require("keys:export") }
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        guard let version = document.currentVersion else {
            throw APIError(.conflict, "certificate_not_valid", "the certificate has no valid version yet", details: [("state", .string(document.state))])
        }
        guard let row = try await db.query("""
            SELECT chain_pem, client_ca_pem, private_key_sealed, master_key_id FROM certificate_versions
            WHERE certificate_id = \(document.id) AND version = \(Int32(version))
            """).first else { throw StoreError.certificateNotFound(document.name) }
        let bundle = try CertificateBundle.parse(chain: try row.decode(String.self, "chain_pem"), key: nil)
        var text = ""
        switch type {
        case "cert": text = bundle.leaf.pem
        case "chain": text = bundle.chain.dropFirst().map(\.pem).joined()
        case "client_ca":
            guard let clientCA = try row.decode(String?.self, "client_ca_pem") else {
                throw APIError(.notFound, "client_ca_not_set", "the certificate has no client CA (one-way TLS)")
            }
            text = clientCA
        default: text = bundle.chain.map(\.pem).joined()
        }
        if needsKey {
            guard let sealed = try row.decode(PostgresBytes?.self, "private_key_sealed"), let keyID = try row.decode(String?.self, "master_key_id") else {
                throw APIError(.notFound, "key_erased", "the private key of this version was erased")
            }
            let key = try dependencies.sealer.open(sealed.bytes, keyID: keyID,
                                                    context: KeySealer.certificateKeyContext(certificate: document.id, version: version))
            let keyText = String(decoding: key, as: UTF8.self)
            // Who took a private key out is part of the audit trail.
            _ = try await db.transaction { tx in
                try await Events.record(tx, project: caller.projectID, certificate: document.id, job: nil, type: "key_exported",
                                        from: nil, to: nil, reason: type, actor: caller.actor)
            }
            text = type == "key" ? keyText : text + (keyText.hasSuffix("\n") ? keyText : keyText + "\n")
        }
        var headers: HTTPFields = [.contentType: "application/x-pem-file", .eTag: document.etag]
        headers[.contentDisposition] = "attachment; filename=\"\(document.name)-\(type).pem\""
        if needsKey { headers[.cacheControl] = "no-store" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    // MARK: - delete

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        if request.uri.queryParameters.get("revoke") == "true" { return try await revokeThenDelete(request, caller: caller, reference: reference) }
        return try await submitDelete(reference: reference, caller: caller,
                                      idempotencyKey: try idempotencyKey(request), expectedVersion: try ifMatch(request))
    }

    /// Delete over HTTP and AMQP intake alike.
    func submitDelete(reference: String, caller: Identity, idempotencyKey: String?, expectedVersion: Int64? = nil) async throws -> JSONResponse {
        let job = try await dependencies.submitter.delete(
            project: caller.projectID, reference: reference, idempotencyKey: idempotencyKey,
            expectedVersion: expectedVersion, actor: caller.actor)
        return accepted(job, state: "deleting")
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
                let job = try await dependencies.submitter.delete(project: caller.projectID, reference: reference, actor: caller.actor)
                items.append(.object([("status", .string("success")), ("uuid", .string(job.certificateID.uuidString.lowercased())),
                                      ("name", .string(job.certificateName)), ("state", .string("deleting")),
                                      ("job", .string(job.jobID.uuidString.lowercased()))]))
            } catch {
                guard let mapped = APIError.from(error), mapped.status.code < 500 else { throw error }
                items.append(mapped.item)
            }
        }
        return .success(.object([("certificates", .array(items))]), status: .accepted)
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
        try await Certificates.setRenewBefore(db, project: caller.projectID, reference: reference, seconds: seconds,
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
            throw APIError(.unprocessableContent, "invalid_renew_before",
                           "'renew_before' must be 1 second to 10 years: seconds or a number with s, m, h or d (\"30d\")",
                           details: [("renew_before", .string(value))])
        }
        return seconds
    }

    // MARK: - bindings

    /// `PUT …/bindings/{consumer}`, optionally with `{"target": "<name or uuid>"}`: every new
    /// valid version is then delivered there (and the current one at once).
    @Sendable func bind(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        guard (1...256).contains(consumer.count) else { throw APIError.malformed("the consumer name must be 1–256 characters") }
        struct Body: Decodable { var target: String? }
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var target: DeliveryTarget? = nil
        if buffer.readableBytes > 0 {
            guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
                throw APIError.malformed("the body must be empty or {\"target\": \"<name or uuid>\"}")
            }
            if let name = body.target {
                target = try await Targets(db: db, sealer: dependencies.sealer).require(project: caller.projectID, reference: name)
            }
        }
        let binding = try await Deliveries(db: db).bind(project: caller.projectID, reference: reference, consumer: consumer,
                                                        target: target?.id, actor: caller.actor)
        await dependencies.submitter.publish(binding.outboxIDs)
        var fields: [(String, JSONValue)] = [("uuid", .string(binding.id.uuidString.lowercased())), ("name", .string(consumer))]
        if let target { fields.append(("target", .object([("uuid", .string(target.id.uuidString.lowercased())), ("name", .string(target.name))]))) }
        return .success(.object(fields), status: binding.created ? .created : .ok)
    }

    @Sendable func unbind(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        let removed = try await db.transaction { tx -> Bool in
            let certificate = try await Certificates.lock(tx, project: caller.projectID, reference: reference)
            let gone = !(try await tx.query("""
                DELETE FROM bindings WHERE certificate_id = \(certificate.id) AND consumer = \(consumer) RETURNING id
                """).isEmpty)
            if gone {
                try await Events.record(tx, project: caller.projectID, certificate: certificate.id, job: nil, type: "unbound",
                                        from: nil, to: nil, reason: consumer, actor: caller.actor)
            }
            return gone
        }
        guard removed else {
            throw APIError(.notFound, "binding_not_found", "the certificate is not bound to '\(consumer)'", details: [("consumer", .string(consumer))])
        }
        return Response(status: .noContent)
    }

    // MARK: - jobs, events, match

    static let jobColumns = """
        j.id, j.kind, j.state, j.attempt, j.max_attempts, j.certificate_id, j.certificate_version, j.not_before,
        j.error_code, j.error_detail, j.created_at, j.started_at, j.finished_at
        """

    static func jobJSON(_ row: PostgresRow) throws -> JSONValue {
        var error: JSONValue = .null
        if let code = try row.decode(String?.self, "error_code") {
            error = .object([("code", .string(code)), ("message", .string(try row.decode(String?.self, "error_detail")))])
        }
        return .object([
            ("id", .string(try row.decode(UUID.self, "id").uuidString.lowercased())),
            ("kind", .string(try row.decode(String.self, "kind"))),
            ("state", .string(try row.decode(String.self, "state"))),
            ("attempt", .int(try row.decode(Int.self, "attempt"))),
            ("max_attempts", .int(try row.decode(Int.self, "max_attempts"))),
            ("certificate", .string(try row.decode(UUID.self, "certificate_id").uuidString.lowercased())),
            ("certificate_version", .int(try row.decode(Int?.self, "certificate_version"))),
            ("not_before", .date(try row.decode(Date.self, "not_before"))),
            ("error", error),
            ("created_at", .date(try row.decode(Date.self, "created_at"))),
            ("started_at", .date(try row.decode(Date?.self, "started_at"))),
            ("finished_at", .date(try row.decode(Date?.self, "finished_at"))),
        ])
    }

    @Sendable func job(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text), let row = try await db.query("""
            SELECT \(unescaped: Self.jobColumns) FROM jobs j WHERE j.project_id = \(caller.projectID) AND j.id = \(id)
            """).first else {
            throw APIError(.notFound, "job_not_found", "job '\(text)' not found")
        }
        return .success(.object([("jobs", .array([try Self.jobJSON(row)]))]))
    }

    @Sendable func jobs(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        guard let reference = request.uri.queryParameters.get("certificate") else {
            throw APIError.malformed("'certificate' (uuid or name) is required")
        }
        let document = try await reader.require(project: caller.projectID, reference: reference)
        let rows = try await db.query("""
            SELECT \(unescaped: Self.jobColumns) FROM jobs j WHERE j.project_id = \(caller.projectID) AND j.certificate_id = \(document.id)
            ORDER BY j.created_at, j.id
            """)
        return .success(.object([("jobs", .array(try rows.map(Self.jobJSON)))]))
    }

    @Sendable func events(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let rows = try await db.query("""
            SELECT id, type, from_state, to_state, attempt, reason, actor, job_id, created_at FROM events
            WHERE project_id = \(caller.projectID) AND certificate_id = \(document.id) ORDER BY id
            """)
        let items = try rows.map { row -> JSONValue in
            .object([
                ("id", .int(try row.decode(Int.self, "id"))),
                ("type", .string(try row.decode(String.self, "type"))),
                ("from", .string(try row.decode(String?.self, "from_state"))),
                ("to", .string(try row.decode(String?.self, "to_state"))),
                ("attempt", .int(try row.decode(Int?.self, "attempt"))),
                ("reason", .string(try row.decode(String?.self, "reason"))),
                ("actor", .string(try row.decode(String.self, "actor"))),
                ("job", .string(try row.decode(UUID?.self, "job_id")?.uuidString.lowercased())),
                ("created_at", .date(try row.decode(Date.self, "created_at"))),
            ])
        }
        return .success(.object([("events", .array(items))]))
    }

    /// The certificate that should serve SNI `host`: exact beats wildcard, `valid`
    /// beats any other state, then the latest `not_after`.
    @Sendable func match(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        guard let text = request.uri.queryParameters.get("host"), let host = Hostname.normalize(text) ?? (IPAddressText.isIP(text) ? text : nil) else {
            throw APIError.malformed("'host' must be a host name or IP address")
        }
        var wildcard: String?
        if let dot = host.firstIndex(of: "."), !IPAddressText.isIP(host) { wildcard = "*" + host[dot...] }
        let candidates = try await reader.candidates(project: caller.projectID, host: host, wildcard: wildcard)
        let ranked = candidates.compactMap { document -> (Hostname.MatchKind, CertificateReader.Document)? in
            Hostname.match(host, against: document.sans).map { ($0, document) }
        }.sorted { a, b in
            if a.0 != b.0 { return a.0 < b.0 }
            let aValid = a.1.state == "valid", bValid = b.1.state == "valid"
            if aValid != bValid { return aValid }
            return (a.1.notAfter ?? .distantPast) > (b.1.notAfter ?? .distantPast)
        }
        guard let best = ranked.first else {
            throw APIError(.notFound, "no_match", "no certificate matches '\(text)'", details: [("host", .string(text))])
        }
        return .success(.object([
            ("host", .string(host)),
            ("match", .string(best.0 == .exact ? "exact" : "wildcard")),
            ("usage", .string(best.1.usage)),
            ("peer_authentication", .bool(best.1.twoWay)),
            ("certificates", .array([best.1.json])),
        ]), headers: [.eTag: best.1.etag])
    }
}

enum IPAddressText {
    static func isIP(_ text: String) -> Bool {
        text.contains(":") || (text.split(separator: ".").count == 4 && text.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }
}
