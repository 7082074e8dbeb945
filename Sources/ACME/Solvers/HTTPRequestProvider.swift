import AsyncHTTPClient
import Foundation
import NIOCore

/// lego's `httpreq` provider contract: `POST {endpoint}/present` and `/cleanup` with
/// `{"fqdn","value"}` (RAW mode: `{"domain","token","keyAuth"}`), optional basic auth.
/// A status other than 2xx ends the job with `dns_hook_http_status` and the start of the body.
public struct HTTPRequestProvider: DNS01Provider {
    public var endpoint: String
    public var raw: Bool
    public var username: String?
    public var password: String?
    public var timeout: Duration

    public init(endpoint: String, raw: Bool = false, username: String? = nil, password: String? = nil, timeout: Duration = .seconds(30)) {
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.raw = raw
        self.username = username
        self.password = password
        self.timeout = timeout
    }

    public func createRecord(name: String, value: String) async throws {
        try await post("present", ["fqdn": name, "value": value])
    }

    public func deleteRecord(name: String, value: String) async throws {
        try await post("cleanup", ["fqdn": name, "value": value])
    }

    public func present(_ task: ChallengeTask, name: String, value: String) async throws {
        try await post("present", raw ? rawBody(task) : ["fqdn": name, "value": value])
    }

    public func cleanUp(_ task: ChallengeTask, name: String, value: String) async throws {
        try await post("cleanup", raw ? rawBody(task) : ["fqdn": name, "value": value])
    }

    func rawBody(_ task: ChallengeTask) -> [String: String] {
        ["domain": ExecHookProvider.domain(task), "token": task.token, "keyAuth": task.keyAuthorization]
    }

    func post(_ action: String, _ body: [String: String]) async throws {
        var request = HTTPClientRequest(url: "\(endpoint)/\(action)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let username {
            let token = Data("\(username):\(password ?? "")".utf8).base64EncodedString()
            request.headers.add(name: "Authorization", value: "Basic \(token)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        request.body = .bytes(ByteBuffer(bytes: try encoder.encode(body)))
        let redactor = Redactor(secrets: [password].compactMap { $0 })
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
        } catch {
            throw DNS01Failure(code: "dns_hook_unreachable", message: "httpreq \(endpoint)/\(action) failed: \(redactor.clean("\(error)"))")
        }
        let text = String(buffer: try await response.body.collect(upTo: 64 * 1024))
        guard (200..<300).contains(response.status.code) else {
            throw DNS01Failure(
                code: "dns_hook_http_status",
                message: "httpreq \(endpoint)/\(action) answered \(response.status.code): \(redactor.clean(text))")
        }
    }
}
