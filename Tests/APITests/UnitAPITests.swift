import API
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// NGINX Unit's documented commands, run with curl as written, against the Unit-compatible
/// store: over the Unix socket (no key, as Unit's control socket) and over TCP (API key).
@Suite(.serialized) struct UnitAPITests {
    let fixtures = APIFixtures.shared

    /// One way to reach the store: curl's arguments before the URL, and the URL base.
    struct Transport {
        let name: String
        let arguments: [String]
        let base: String
    }

    /// `curl ARGS URL` → (HTTP status, body).
    func curl(_ transport: Transport, _ method: String, _ path: String, _ extra: [String] = []) async throws -> (Int, String) {
        let output = try await TestStack.run(
            "/usr/bin/curl", ["-s", "-X", method, "-w", "\n%{http_code}"] + transport.arguments + extra + [transport.base + path])
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func unitDocumentationCommandsOverSocketAndTCP() async throws {
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let socket = "/tmp/cf-unit-\(UUID().uuidString.prefix(8)).sock"
            defer { try? FileManager.default.removeItem(atPath: socket) }
            var configuration = APIConfiguration(port: 0)
            configuration.unitSocketPath = socket
            configuration.unitSocketProject = "test"
            // The socket only manages a project created for it (as `certfleet api` does at start).
            try await env.db.query("UPDATE projects SET unit_socket = true WHERE name = 'test'")
            let bundle = env.directory.appendingPathComponent("bundle.pem")
            try (fixtures.chain + fixtures.key).write(to: bundle, atomically: true, encoding: .utf8)
            let mismatched = env.directory.appendingPathComponent("mismatched.pem")
            try (fixtures.chain + fixtures.otherKey).write(to: mismatched, atomically: true, encoding: .utf8)

            try await env.application(configuration).test(.live) { client in
                let port = try #require(client.port)
                // The server binds, then narrows the mode to 0600 once it runs (bind itself
                // follows the umask): wait for both, a slow machine may take a while.
                func mode() -> Int? { (try? FileManager.default.attributesOfItem(atPath: socket))?[.posixPermissions] as? Int }
                for _ in 0..<200 where mode() != 0o600 { try await Task.sleep(for: .milliseconds(50)) }
                #expect(mode() == 0o600)
                let transports = [
                    Transport(name: "socket", arguments: ["--unix-socket", socket], base: "http://localhost"),
                    Transport(name: "tcp", arguments: ["-H", "Authorization: Bearer \(writer)"], base: "http://127.0.0.1:\(port)/unit"),
                ]
                for transport in transports {
                    let name = transport.name
                    // curl -X PUT --data-binary @bundle.pem …/certificates/bundle
                    let put = try await curl(transport, "PUT", "/certificates/bundle", ["--data-binary", "@\(bundle.path)"])
                    #expect(put.0 == 200, "\(name): \(put.1); worker: \(env.processStatus)")
                    #expect(try JSONValue.parse(put.1) == .object([("success", .string("Certificate chain uploaded."))]), "\(name): \(put.1)")
                    let again = try await curl(transport, "PUT", "/certificates/bundle", ["--data-binary", "@\(bundle.path)"])
                    #expect(again.0 == 400)
                    #expect(try JSONValue.parse(again.1)["error"] == .string("Certificate already exists."), "\(name): \(again.1)")

                    let all = try JSONValue.parse(try await curl(transport, "GET", "/certificates").1)
                    #expect(all["bundle"]?["key"] == .string("ECDSA (P-256)"), "\(name): \(all)")
                    let entry = try JSONValue.parse(try await curl(transport, "GET", "/certificates/bundle/chain/0/").1)
                    #expect(entry["subject"]?["common_name"] == .string("api.example.com"))
                    #expect(entry["subject"]?["organization"] == .string("CertFleet Test"))
                    #expect(entry["issuer"]?["common_name"] == .string("api.example.com"))
                    let since = entry["validity"]?["since"]?.stringValue ?? ""
                    #expect(since.wholeMatch(of: /[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9] 20[0-9]{2} GMT/) != nil, "\(since)")
                    #expect(Set(entry.objectKeys) == ["subject", "issuer", "validity"])
                    let altName = try await curl(transport, "GET", "/certificates/bundle/chain/0/subject/alt_names/0/")
                    #expect(
                        altName.0 == 200 && altName.1.trimmingCharacters(in: .whitespacesAndNewlines) == "\"api.example.com\"",
                        "\(name): \(altName.1)")
                    let post = try await curl(transport, "POST", "/certificates/bundle")
                    #expect(post.0 == 405 && post.1.contains("Invalid method."), "\(post.1)")
                    let badPath = try await curl(transport, "GET", "/certificates/bundle/chain/3")
                    #expect(badPath.0 == 404 && badPath.1.contains("Invalid path."))

                    // Bound (Unit: a listener names it) → DELETE refused; unbound → deleted; deleted twice → 404.
                    let bind = try await client.call(.put, "/v1/certificates/bundle/bindings/listener-443", key: writer)
                    #expect(bind.status == .created, "\(bind.text)")
                    let refused = try await curl(transport, "DELETE", "/certificates/bundle")
                    #expect(refused.0 == 400)
                    #expect(try JSONValue.parse(refused.1)["error"] == .string("Certificate is used in the configuration."), "\(refused.1)")
                    #expect(try await client.call(.delete, "/v1/certificates/bundle/bindings/listener-443", key: writer).status == .noContent)
                    let deleted = try await curl(transport, "DELETE", "/certificates/bundle")
                    #expect(deleted.0 == 200)
                    #expect(try JSONValue.parse(deleted.1) == .object([("success", .string("Certificate deleted."))]), "\(name): \(deleted.1)")
                    let missing = try await curl(transport, "DELETE", "/certificates/bundle")
                    #expect(missing.0 == 404 && missing.1.contains("Certificate doesn't exist."), "\(missing.1)")
                    #expect(try await curl(transport, "GET", "/certificates/bundle").0 == 404)

                    // A wrong key: 400 that says so, and nothing is kept (the name is free at once).
                    let wrong = try await curl(transport, "PUT", "/certificates/other", ["--data-binary", "@\(mismatched.path)"])
                    #expect(wrong.0 == 400)
                    let refusal = try JSONValue.parse(wrong.1)
                    #expect(refusal["error"] == .string("Invalid certificate."))
                    #expect(refusal["detail"]?.stringValue?.contains("key_mismatch") == true, "\(wrong.1)")
                    let garbage = try await curl(transport, "PUT", "/certificates/other", ["--data-binary", "not a certificate"])
                    #expect(garbage.0 == 400 && garbage.1.contains("Invalid certificate."))
                    #expect(try await curl(transport, "GET", "/certificates/other").0 == 404)
                }
                // Over TCP, the API's keys apply.
                let anonymous = try await curl(Transport(name: "none", arguments: [], base: "http://127.0.0.1:\(port)/unit"), "GET", "/certificates")
                #expect(anonymous.0 == 401)
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }
}

extension JSONValue {
    var objectKeys: [String] { if case .object(let members) = self { return members.map(\.0) }; return [] }
}
