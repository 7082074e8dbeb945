import API
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// The console's bad input over plain HTTP (no browser): every answer carries the strict CSP,
/// a wrong key is a 401 sign-in page, malformed and forged forms are 4xx pages, never a 5xx or
/// the API's JSON.
@Suite(.serialized) struct ConsoleHTTPTests {
    @Test func badSignInsAndMalformedFormsAreRefusedAsPages() async throws {
        try await APIEnvironment.with { env in
            let key = try await env.key(["certificates:read"])
            try await env.application().test(.live) { client in
                func send(
                    _ method: HTTPRequest.Method, _ path: String, headers: HTTPFields = [:], body: [UInt8]? = nil
                )
                    async throws -> (status: HTTPResponse.Status, headers: HTTPFields, text: String)
                {
                    try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) }) {
                        ($0.status, $0.headers, String(buffer: $0.body))
                    }
                }
                let login = try await send(.get, "/console/login")
                #expect(login.status == .ok)
                #expect(login.headers[HeaderName("Content-Security-Policy")!]?.hasPrefix("default-src 'self'") == true)
                #expect(login.headers[HeaderName("X-Frame-Options")!] == "DENY")
                let cookie = try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))
                #expect(login.headers[.setCookie]?.contains("HttpOnly") == true && login.headers[.setCookie]?.contains("SameSite=Strict") == true)
                let token = try #require(login.text.firstMatch(of: /name="csrf" value="([^"]+)"/)?.1)
                let form: HTTPFields = [.cookie: cookie, .contentType: "application/x-www-form-urlencoded"]

                let wrong = try await send(.post, "/console/login", headers: form, body: Array("csrf=\(token)&key=cf_wrong".utf8))
                #expect(wrong.status == .unauthorized && wrong.text.contains("invalid_api_key"), "\(wrong.status)")
                let noToken = try await send(.post, "/console/login", headers: form, body: Array("key=\(key)".utf8))
                #expect(noToken.status == .forbidden && noToken.text.contains("csrf_invalid"))
                let cases: [(String, HTTPFields, [UInt8])] = [
                    ("invalid UTF-8", form, [0x63, 0x73, 0x72, 0x66, 0x3d, 0xff, 0xfe, 0x00]),
                    ("JSON", [.cookie: cookie, .contentType: "application/json"], Array("{\"key\":\"\(key)\"}".utf8)),
                    (
                        "multipart without its boundary", [.cookie: cookie, .contentType: "multipart/form-data; boundary=abc"],
                        Array("--zzz\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nx\r\n".utf8)
                    ),
                    ("2 MB", form, Array(repeating: 0x61, count: 2 << 20)),
                ]
                for (name, headers, body) in cases {
                    let answer = try await send(.post, "/console/login", headers: headers, body: body)
                    #expect((400..<500).contains(answer.status.code), "\(name): \(answer.status)")
                    #expect(answer.headers[.contentType]?.hasPrefix("text/html") == true, "\(name): not a console page")
                }
                // Signed out: pages redirect to sign-in, forms are 403, unknown pages too need a session.
                let page = try await send(.get, "/console/certificates")
                #expect(page.status == .seeOther && page.headers[.location] == "/console/login")
                let forged = try await send(.post, "/console/upload", headers: form, body: Array("csrf=\(token)".utf8))
                #expect(forged.status == .forbidden && forged.text.contains("session_missing"))
                let stylesheet = try await send(.get, "/console/static/console.css")
                #expect(stylesheet.status == .ok && stylesheet.headers[.contentType]?.hasPrefix("text/css") == true)
            }
        }
    }
}
