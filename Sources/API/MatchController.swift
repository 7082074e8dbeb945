import CertFleetCore
import Foundation
import Hummingbird
import Store
import X509

/// `GET /v1/match?host=…`: the certificate a TLS server should present for an SNI name.
struct MatchController {
    let dependencies: APIDependencies
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("match", use: match)
    }

    /// The certificate that should serve SNI `host`: exact beats wildcard, `valid`
    /// beats any other state, then the latest `not_after`.
    @Sendable func match(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        guard let text = request.uri.queryParameters.get("host"), let host = Hostname.normalize(text) ?? (IPAddressText.isIP(text) ? text : nil)
        else {
            throw APIError.malformed("'host' must be a host name or IP address")
        }
        var wildcard: String?
        if let dot = host.firstIndex(of: "."), !IPAddressText.isIP(host) { wildcard = "*" + host[dot...] }
        let candidates = try await reader.candidates(project: caller.projectID, host: host, wildcard: wildcard)
        let ranked = candidates.compactMap { document -> SNIRanking.Candidate<CertificateReader.Document>? in
            Hostname.match(host, against: document.sans).map {
                SNIRanking.Candidate(exact: $0 == .exact, valid: document.state == "valid", notAfter: document.notAfter, value: document)
            }
        }
        guard let chosen = SNIRanking.best(of: ranked) else {
            throw APIError(.notFound, "no_match", "no certificate matches '\(text)'", details: [("host", .string(text))])
        }
        return .success(
            .object([
                ("host", .string(host)),
                ("match", .string(chosen.exact ? "exact" : "wildcard")),
                ("usage", .string(chosen.value.usage)),
                ("peer_authentication", .bool(chosen.value.twoWay)),
                ("certificates", .array([chosen.value.json])),
            ]), headers: [.eTag: chosen.value.etag])
    }
}
enum IPAddressText {
    static func isIP(_ text: String) -> Bool {
        text.contains(":") || (text.split(separator: ".").count == 4 && text.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }
}
