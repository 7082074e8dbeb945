import CertFleetCore
import Foundation
import Hummingbird
import Store
import X509

/// NGINX Unit's certificate store (`/certificates` of its control API) over CertFleet's
/// certificates, bindings and jobs: the same bodies, answers and status codes as Unit's
/// controller, so scripts written for Unit work unchanged.
///
/// - `PUT /certificates/{name}`: the raw PEM bundle (leaf, intermediates, key); waits for
///   the validate job, then `{"success": "Certificate chain uploaded."}`. Unit never
///   overwrites a name and keeps nothing it refused; neither does this.
/// - `GET /certificates[/{name}[/path…]]`: Unit's `key` and `chain[]` (validity in OpenSSL's
///   date form), any value by path, trailing slash or not.
/// - `DELETE /certificates/{name}`: refused while bound (Unit: while a listener names it).
struct UnitController {
    let dependencies: APIDependencies
    let bodyLimit: Int
    /// The path before `/certificates` (`/unit` over TCP, empty on the Unix socket).
    let prefix: String
    let wait: Duration

    var db: Database { dependencies.db }
    var requests: CertificateRequests { CertificateRequests(dependencies: dependencies) }
    var waiter: JobWaiter { JobWaiter(db: dependencies.db) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        // A listener's certificate (Unit's `/config/listeners/<l>/tls/certificate`), what a unit
        // delivery target switches; kept as the binding of consumer `unit-listener:<l>`.
        group.get("config/listeners/:listener/tls/certificate", use: listenerCertificate)
        group.put("config/listeners/:listener/tls/certificate", use: switchListener)
        for path in ["certificates", "certificates/**"] {
            group.get(RouterPath(path), use: get)
            group.put(RouterPath(path), use: put)
            group.delete(RouterPath(path), use: delete)
            // Unit's controller answers other methods on the store itself.
            group.post(RouterPath(path)) { _, _ in Self.error(.methodNotAllowed, "Invalid method.") }
            group.patch(RouterPath(path)) { _, _ in Self.error(.methodNotAllowed, "Invalid method.") }
        }
    }

    @Sendable func listenerCertificate(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let listener = try context.parameters.require("listener")
        guard let name = try await Deliveries(db: db).unitListenerCertificate(project: caller.projectID, listener: listener) else {
            return Self.error(.notFound, "Value doesn't exist.")
        }
        return Self.answer(.string(name), .ok)
    }

    @Sendable func switchListener(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let listener = try context.parameters.require("listener")
        let body = try await request.collectBody(upTo: 4096)
        guard let name = try? JSONDecoder().decode(String.self, from: Data(body.readableBytesView)), CertificateName.isValid(name) else {
            return Self.error(.badRequest, "Invalid JSON.", detail: "the value must be a certificate bundle's name, as a JSON string")
        }
        do {
            try await Deliveries(db: db).switchUnitListener(project: caller.projectID, listener: listener, to: name, actor: caller.actor)
        } catch StoreError.certificateNotFound {
            return Self.error(.badRequest, "Certificate \"\(name)\" is not found.")
        }
        return Self.success("Reconfiguration done.")
    }

    // MARK: - answers (Unit's `nxt_controller_response`: `success` below 400, else `error` and `detail`)

    static func success(_ title: String) -> Response { answer(.object([("success", .string(title))]), .ok) }

    static func error(_ status: HTTPResponse.Status, _ title: String, detail: String? = nil) -> Response {
        var fields: [(String, JSONValue)] = [("error", .string(title))]
        if let detail { fields.append(("detail", .string(detail))) }
        return answer(.object(fields), status)
    }

    static func answer(_ value: JSONValue, _ status: HTTPResponse.Status) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized() + "\r\n")))
    }

    static let invalidName = error(.badRequest, "Invalid certificate name.")
    static let notFound = error(.notFound, "Certificate doesn't exist.")

    /// The bundle name and the path inside its document, from the request path (empty
    /// segments dropped, so `/certificates/bundle/chain/0/` is `bundle` + `chain/0`).
    func target(_ request: Request) -> (name: String?, path: [String]) {
        let prefixCount = prefix.split(separator: "/").count
        let segments = request.uri.path.split(separator: "/").dropFirst(prefixCount + 1)
            .map { $0.removingPercentEncoding ?? String($0) }
        return (segments.first, Array(segments.dropFirst()))
    }

    // MARK: - GET

    @Sendable func get(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let (name, path) = target(request)
        guard let name else {
            var all: [(String, JSONValue)] = []
            for row in try await servable(project: caller.projectID, name: nil) {
                all.append((row.name, try Self.document(row.detailsJSON)))
            }
            return Self.answer(.object(all), .ok)
        }
        guard let row = try await servable(project: caller.projectID, name: name).first else { return Self.notFound }
        let document = try Self.document(row.detailsJSON)
        guard case .success(let value) = document.resolve(path) else { return Self.error(.notFound, "Invalid path.") }
        return Self.answer(value, .ok)
    }

    /// Certificates Unit would show: a current version exists and no delete is under way.
    func servable(project: UUID, name: String?) async throws -> [(name: String, detailsJSON: String)] {
        try await CertificateDocuments(db: db).servable(project: project, name: name)
    }

    /// Unit's certificate object from the stored details: `key`, and per chain entry
    /// `subject`, `issuer` (only the fields present) and `validity` in OpenSSL's form.
    static func document(_ detailsJSON: String) throws -> JSONValue {
        let details = try JSONDecoder().decode(CertificateDetails.self, from: Data(detailsJSON.utf8))
        func name(_ info: NameInfo) -> JSONValue {
            var fields: [(String, JSONValue)] = []
            if let value = info.commonName { fields.append(("common_name", .string(value))) }
            if let value = info.altNames, !value.isEmpty { fields.append(("alt_names", .strings(value))) }
            if let value = info.country { fields.append(("country", .string(value))) }
            if let value = info.stateOrProvince { fields.append(("state_or_province", .string(value))) }
            if let value = info.organization { fields.append(("organization", .string(value))) }
            return .object(fields)
        }
        return .object([
            ("key", .string(details.key)),
            (
                "chain",
                .array(
                    details.chain.map { entry in
                        .object([
                            ("subject", name(entry.subject)),
                            ("issuer", name(entry.issuer)),
                            (
                                "validity",
                                .object([
                                    ("since", .string(Timestamp.openSSLStyle(entry.validity.since))),
                                    ("until", .string(Timestamp.openSSLStyle(entry.validity.until))),
                                ])
                            ),
                        ])
                    })
            ),
        ])
    }

    // MARK: - PUT

    @Sendable func put(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let (parsed, path) = target(request)
        guard let name = parsed, path.isEmpty, CertificateName.isValid(name), UUID(uuidString: name) == nil else { return Self.invalidName }
        if try await CertificateReader(db: db).find(project: caller.projectID, reference: name) != nil {
            return Self.error(.badRequest, "Certificate already exists.")
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: bodyLimit)
        } catch {
            return Self.error(.contentTooLarge, "Certificate bundle is too large.", detail: "at most \(bodyLimit) bytes")
        }
        let upload: UploadRequest
        do {
            upload = try checkedBundle(Array(body.readableBytesView), name: name, caller: caller)
        } catch let error as X509Error {
            return Self.error(.badRequest, "Invalid certificate.", detail: error.description)
        } catch let error as APIError {
            return Self.error(.badRequest, "Invalid certificate.", detail: "\(error.code): \(error.message)")
        }
        let job: SubmittedJob
        do {
            job = try await requests.submissions.upload(upload)
        } catch StoreError.nameTaken {
            return Self.error(.badRequest, "Certificate already exists.")
        }
        switch try await waiter.wait(for: job.jobID, upTo: wait) {
        case .succeeded:
            return Self.success("Certificate chain uploaded.")
        case .failed(let code, let message):
            // Unit keeps nothing it refused: the refused certificate goes, and its name is free again.
            if let removal = try? await requests.delete(reference: job.certificateID.uuidString, caller: caller) {
                _ = try? await waiter.wait(for: removal.job.jobID, upTo: wait)
            }
            return Self.error(.badRequest, "Invalid certificate.", detail: "\(code ?? "invalid"): \(message ?? "the bundle was refused")")
        case .timedOut(let state):
            return Self.error(
                .internalServerError, "Failed to store certificate.",
                detail: """
                    validation did not finish within \(wait) (job \(job.jobID.uuidString.lowercased()) is \(state)); \
                    '\(name)' is listed here once the job validates it
                    """)
        }
    }

    /// Parses and checks the bundle at once (invalid PEM, missing or mismatched key, dates),
    /// so the common mistakes are answered without a job; the worker still validates fully.
    func checkedBundle(_ bytes: [UInt8], name: String, caller: Identity) throws -> UploadRequest {
        let bundle = try CertificateBundle.parse(bytes: bytes)
        try bundle.validate(at: Date())
        guard let key = bundle.privateKey else { throw X509Error.keyMissing }
        let body = CertificateRequests.UploadBody(name: name, chain: bundle.chain.map(\.pem).joined(), pkey: key.pkcs8PEM())
        return try requests.checkedUpload(body, project: caller.projectID, actor: caller.actor, idempotencyKey: nil)
    }

    // MARK: - DELETE

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let (parsed, path) = target(request)
        guard let name = parsed, path.isEmpty else { return Self.invalidName }
        let job: SubmittedJob
        do {
            job = try await requests.delete(reference: name, caller: caller).job
        } catch StoreError.certificateNotFound, StoreError.transitionRefused, StoreError.jobAlreadyActive {
            // Missing, or already on its way out.
            return Self.notFound
        } catch StoreError.certificateInUse(let consumers) {
            return Self.inUse(consumers)
        }
        // The name is free once the delete job commits; a slow job still ends in deletion.
        if case .failed(let code, let message) = try await waiter.wait(for: job.jobID, upTo: wait) {
            if code == "certificate_in_use" { return Self.error(.badRequest, "Certificate is used in the configuration.", detail: message) }
            return Self.error(.internalServerError, "Failed to delete certificate.", detail: "\(code ?? "failed"): \(message ?? "")")
        }
        return Self.success("Certificate deleted.")
    }

    static func inUse(_ consumers: [String]) -> Response {
        error(.badRequest, "Certificate is used in the configuration.", detail: "bound to \(consumers.joined(separator: ", "))")
    }
}

/// The Unix socket's caller: whoever can open the socket file (mode 0600) may manage
/// the configured project's certificates, as with Unit's control socket.
struct TrustedSocketMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let db: Database
    let project: String
    let bodyLimit: Int
    let resolved = ResolvedProject()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = try await resolved.id(db: db, name: project)
        context.identity = Identity(
            keyID: UUID(uuid: UUID_NULL), projectID: id, scopes: ["certificates:read", "certificates:write"],
            actor: "unix-socket")
        context.maxUploadSize = bodyLimit
        return try await next(request, context)
    }

    /// The project's id, created for the socket on first use; a project of that name that
    /// was not created for the socket is never adopted (`certfleet api` checks at start).
    actor ResolvedProject {
        private var id: UUID?

        func id(db: Database, name: String) async throws -> UUID {
            if let id { return id }
            guard let found = try await Projects.unitSocketProject(db, name: name) else {
                throw APIError(
                    .forbidden, "unit_socket_project_taken",
                    "project '\(name)' was not created for the Unit socket; start the API with another --unit-socket-project")
            }
            id = found
            return found
        }
    }
}

private let UUID_NULL: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
