import Foundation
import Hummingbird
import Store
import X509

/// What a certificate holds, as files and parts: `GET …/pem` (fullchain, chain, cert,
/// client CA; the key only with `keys:export`) and any path into its document.
struct CertificateFilesController {
    let dependencies: APIDependencies
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("certificates/:ref/pem", use: pem)
        group.get("certificates/:ref/**", use: path)
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
            throw APIError(
                .notFound, "path_not_found", "'\(error.segment)' does not exist in the certificate document",
                details: [("segment", .string(error.segment)), ("index", .int(error.index))])
        }
    }

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
            throw APIError(
                .conflict, "certificate_not_valid", "the certificate has no valid version yet", details: [("state", .string(document.state))])
        }
        let versions = CertificateVersions(db: dependencies.db)
        guard let material = try await versions.material(certificate: document.id, version: version), let chainPEM = material.chainPEM else {
            throw StoreError.certificateNotFound(document.name)
        }
        let bundle = try CertificateBundle.parse(chain: chainPEM, key: nil)
        var text = ""
        switch type {
        case "cert": text = bundle.leaf.pem
        case "chain": text = bundle.chain.dropFirst().map(\.pem).joined()
        case "client_ca":
            guard let clientCA = material.clientCAPEM else {
                throw APIError(.notFound, "client_ca_not_set", "the certificate has no client CA (one-way TLS)")
            }
            text = clientCA
        default: text = bundle.chain.map(\.pem).joined()
        }
        if needsKey {
            guard let keyText = try material.openKey(with: dependencies.sealer) else {
                throw APIError(.notFound, "key_erased", "the private key of this version was erased")
            }
            // Who took a private key out is part of the audit trail.
            try await versions.recordKeyExport(project: caller.projectID, certificate: document.id, type: type, actor: caller.actor)
            text = type == "key" ? keyText : text + (keyText.hasSuffix("\n") ? keyText : keyText + "\n")
        }
        var headers: HTTPFields = [.contentType: "application/x-pem-file", .eTag: document.etag]
        headers[.contentDisposition] = "attachment; filename=\"\(document.name)-\(type).pem\""
        if needsKey { headers[.cacheControl] = "no-store" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

}
