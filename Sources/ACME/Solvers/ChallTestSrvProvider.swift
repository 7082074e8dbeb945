import AsyncHTTPClient
import NIOCore

/// dns-01 records in `pebble-challtestsrv` through its management API
/// (`POST /set-txt`, `/clear-txt`). For tests against Pebble.
public struct ChallTestSrvDNSProvider: DNS01Provider {
    /// E.g. `http://127.0.0.1:8055`.
    public let managementURL: String

    public init(managementURL: String) {
        self.managementURL = managementURL.hasSuffix("/") ? String(managementURL.dropLast()) : managementURL
    }

    public func createRecord(name: String, value: String) async throws {
        try await call("/set-txt", #"{"host":"\#(name)","value":"\#(value)"}"#)
    }

    /// challtestsrv clears every TXT value of the name; acceptable in tests,
    /// where each test uses its own names.
    public func deleteRecord(name: String, value: String) async throws {
        try await call("/clear-txt", #"{"host":"\#(name)"}"#)
    }

    private func call(_ path: String, _ json: String) async throws {
        var request = HTTPClientRequest(url: managementURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 64 * 1024)
        guard response.status == .ok else {
            throw ACMEError.unexpectedResponse(status: Int(response.status.code), url: managementURL + path, reason: "challtestsrv refused")
        }
    }
}
