import AsyncHTTPClient
import Foundation
import NIOCore

/// Credentials an acme-dns server returns at `/register`: sealed as the provider's secret.
public struct ACMEDNSCredentials: Codable, Sendable, Hashable {
    public var username: String
    public var password: String
    public var subdomain: String
    /// The name `_acme-challenge.<domain>` must be a CNAME to.
    public var fulldomain: String

    public init(username: String, password: String, subdomain: String, fulldomain: String) {
        self.username = username
        self.password = password
        self.subdomain = subdomain
        self.fulldomain = fulldomain
    }
}

/// The acme-dns client (github.com/joohoi/acme-dns): `POST /register` once, then
/// `POST /update` with `X-Api-User`/`X-Api-Key` and `{"subdomain","txt"}`. acme-dns keeps
/// the two latest values per subdomain (enough for a wildcard and its base) and has no delete,
/// so cleanup does nothing.
public struct ACMEDNSProvider: DNS01Provider {
    public var serverURL: String
    public var credentials: ACMEDNSCredentials
    public var timeout: Duration

    public init(serverURL: String, credentials: ACMEDNSCredentials, timeout: Duration = .seconds(30)) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.credentials = credentials
        self.timeout = timeout
    }

    /// Registers a new account at SERVERURL.
    public static func register(serverURL: String, timeout: Duration = .seconds(30)) async throws -> ACMEDNSCredentials {
        let base = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        let text = try await post("\(base)/register", headers: [], body: [:], secrets: [], timeout: timeout)
        guard let credentials = try? JSONDecoder().decode(ACMEDNSCredentials.self, from: Data(text.utf8)) else {
            throw DNS01Failure(code: "dns_acmedns_register", message: "acme-dns at \(base) answered /register without credentials")
        }
        return credentials
    }

    public func createRecord(name: String, value: String) async throws {
        _ = try await Self.post(
            "\(serverURL)/update", headers: [("X-Api-User", credentials.username), ("X-Api-Key", credentials.password)],
            body: ["subdomain": credentials.subdomain, "txt": value], secrets: [credentials.password], timeout: timeout)
    }

    public func deleteRecord(name: String, value: String) async throws {}

    static func post(_ url: String, headers: [(String, String)], body: [String: String], secrets: [String], timeout: Duration) async throws -> String
    {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let redactor = Redactor(secrets: secrets)
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        } catch {
            throw DNS01Failure(code: "dns_acmedns_unreachable", message: "acme-dns \(url) failed: \(redactor.clean("\(error)"))")
        }
        let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard (200..<300).contains(response.status.code) else {
            throw DNS01Failure(code: "dns_acmedns_status", message: "acme-dns \(url) answered \(response.status.code): \(redactor.clean(text))")
        }
        return text
    }
}
