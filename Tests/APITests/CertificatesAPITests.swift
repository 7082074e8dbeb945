import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Store
import TestSupport
import Testing

/// End-to-end over HTTP: the API in-process (live server on a free port), a real
/// `certfleet worker` process, a private database and AMQP prefix.
@Suite(.serialized) struct CertificatesAPITests {
    let fixtures = APIFixtures.shared

    /// Polls GET until the certificate leaves `pending`.
    func settled(_ client: some TestClientProtocol, _ ref: String, key: String) async throws -> Answer {
        let deadline = ContinuousClock.now + .seconds(60)
        var answer = try await client.call(.get, "/v1/certificates/\(ref)", key: key)
        while ContinuousClock.now < deadline, answer.first?["state"]?.stringValue == "pending" {
            try await Task.sleep(for: .milliseconds(200))
            answer = try await client.call(.get, "/v1/certificates/\(ref)", key: key)
        }
        return answer
    }

    @Test func uploadValidateReadBindDelete() async throws {
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let exporter = try await env.key(["certificates:read", "keys:export"])
            let stranger = try await env.key(["admin", "keys:export"], project: env.otherProject)
            try await env.application().test(.live) { client in
                // Upload → 202 pending with a job; the same Idempotency-Key → the same job.
                let upload = try await client.call(
                    .post, "/v1/certificates", key: writer, body: fixtures.body(name: "web"),
                    headers: [HeaderName("Idempotency-Key")!: "upload-1"])
                #expect(upload.status == .accepted, "\(upload.text)")
                let created = try #require(upload.first)
                #expect(created["state"]?.stringValue == "pending")
                #expect(created["name"]?.stringValue == "web")
                let uuid = try #require(created["uuid"]?.stringValue)
                let job = try #require(created["job"]?.stringValue)
                let replay = try await client.call(
                    .post, "/v1/certificates", key: writer, body: fixtures.body(name: "web"),
                    headers: [HeaderName("Idempotency-Key")!: "upload-1"])
                #expect(replay.status == .accepted)
                #expect(replay.first?["job"]?.stringValue == job)

                // The name is taken now.
                let taken = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(name: "web"))
                #expect(taken.status == .conflict)
                #expect(taken.errorCode == "name_taken")

                // The worker validates it.
                let valid = try await settled(client, uuid, key: writer)
                let document = try #require(valid.first)
                #expect(document["state"]?.stringValue == "valid", "\(valid.text); worker: \(env.processStatus)")
                #expect(document["common_name"]?.stringValue == "api.example.com")
                #expect(document["subject"]?.stringValue == "CN=api.example.com,O=CertFleet Test")
                #expect(document["sans"]?.arrayValue.compactMap(\.stringValue) == ["api.example.com", "*.api.example.com"])
                #expect(document["tls_type"]?.stringValue == "one-way")
                #expect(document["source"]?.stringValue == "uploaded")
                #expect(document["key"]?.stringValue == "ECDSA (P-256)")
                #expect(document["chain"]?.arrayValue.count == 1)
                #expect(document["serial_number"]?.stringValue?.isEmpty == false)
                #expect(document["not_after"]?.stringValue != nil)
                let etag = try #require(valid.headers[.eTag])
                #expect(!valid.text.contains("PRIVATE KEY"))

                // details=false, batch by name (one missing → per-item error), list by common_name, path addressing.
                let summary = try await client.call(.get, "/v1/certificates/web?details=false", key: writer)
                #expect(summary.first?["subject"] == nil && summary.first?["state"]?.stringValue == "valid")
                let batch = try await client.call(.get, "/v1/certificates?name=web,nope", key: writer)
                let items = batch.json?["data"]?["certificates"]?.arrayValue ?? []
                #expect(items.count == 2)
                #expect(items.first?["status"]?.stringValue == "success")
                #expect(items.last?["status"]?.stringValue == "error")
                #expect(items.last?["error"]?["code"]?.stringValue == "certificate_not_found")
                let byBody = try await client.call(
                    .get, "/v1/certificates?details=false", key: writer, body: #"[{"name":"web"},{"uuid":"\#(uuid)"}]"#)
                #expect(byBody.json?["data"]?["certificates"]?.arrayValue.compactMap { $0["uuid"]?.stringValue } == [uuid, uuid], "\(byBody.text)")
                let listed = try await client.call(.get, "/v1/certificates/list?common_name=api.example.com", key: writer)
                #expect(listed.first?["uuid"]?.stringValue == uuid)
                let byDomain = try await client.call(.get, "/v1/certificates/list?domain=www.api.example.com", key: writer)
                #expect(byDomain.first?["uuid"]?.stringValue == uuid)
                let path = try await client.call(.get, "/v1/certificates/web/chain/0/subject/alt_names/0", key: writer)
                #expect(path.json?["data"]?.stringValue == "api.example.com", "\(path.text)")
                let badPath = try await client.call(.get, "/v1/certificates/web/chain/7/subject", key: writer)
                #expect(badPath.status == .notFound)
                #expect(badPath.json?["error"]?["details"]?["segment"]?.stringValue == "7")
                let matched = try await client.call(.get, "/v1/match?host=www.api.example.com", key: writer)
                #expect(matched.json?["data"]?["match"]?.stringValue == "wildcard", "\(matched.text)")
                let jobAnswer = try await client.call(.get, "/v1/jobs/\(job)", key: writer)
                #expect(jobAnswer.json?["data"]?["jobs"]?.arrayValue.first?["state"]?.stringValue == "succeeded")

                // PEM: the chain for readers, the key only with keys:export.
                let fullchain = try await client.call(.get, "/v1/certificates/web/pem?type=fullchain", key: writer)
                #expect(fullchain.status == .ok)
                #expect(fullchain.text.contains("BEGIN CERTIFICATE") && !fullchain.text.contains("PRIVATE KEY"))
                let refused = try await client.call(.get, "/v1/certificates/web/pem?type=key", key: writer)
                #expect(refused.status == .forbidden)
                #expect(!refused.text.contains("PRIVATE KEY"))
                let exported = try await client.call(.get, "/v1/certificates/web/pem?type=key", key: exporter)
                #expect(exported.status == .ok)
                #expect(exported.text == fixtures.key)
                let events = try await client.call(.get, "/v1/certificates/web/events", key: writer)
                let types = events.json?["data"]?["events"]?.arrayValue.compactMap { $0["type"]?.stringValue } ?? []
                #expect(types.first == "created" && types.contains("key_exported"), "\(types)")

                // Another project's key sees nothing.
                for uri in ["/v1/certificates/\(uuid)", "/v1/certificates/web", "/v1/certificates/web/pem?type=key", "/v1/jobs/\(job)"] {
                    let answer = try await client.call(.get, uri, key: stranger)
                    #expect(answer.status == .notFound, "\(uri): \(answer.status)")
                }
                let strangerDelete = try await client.call(.delete, "/v1/certificates/\(uuid)", key: stranger)
                #expect(strangerDelete.status == .notFound)

                // If-Match with a stale ETag → 412.
                let stale = try await client.call(
                    .put, "/v1/certificates/web", key: writer, body: fixtures.body(),
                    headers: [.ifMatch: "\"1\""])
                #expect(stale.status == .preconditionFailed, "\(stale.text)")
                #expect(stale.errorCode == "version_mismatch")

                // The right ETag: a new version is validated under the same uuid.
                let fresh = try await client.call(.get, "/v1/certificates/web", key: writer)
                let reimport = try await client.call(
                    .put, "/v1/certificates/web", key: writer, body: fixtures.body(),
                    headers: [.ifMatch: fresh.headers[.eTag] ?? ""])
                #expect(reimport.status == .accepted, "\(reimport.text)")
                #expect(reimport.first?["uuid"]?.stringValue == uuid)
                let reimportJob = try #require(reimport.first?["job"]?.stringValue)
                var jobState: String?
                for _ in 0..<300 where jobState != "succeeded" && jobState != "failed" {
                    try await Task.sleep(for: .milliseconds(100))
                    jobState = try await client.call(.get, "/v1/jobs/\(reimportJob)", key: writer)
                        .json?["data"]?["jobs"]?.arrayValue.first?["state"]?.stringValue
                }
                #expect(jobState == "succeeded", "worker: \(env.processStatus)")
                let reimported = try await client.call(.get, "/v1/certificates/web", key: writer)
                #expect(reimported.first?["state"]?.stringValue == "valid")
                #expect(reimported.headers[.eTag] != fresh.headers[.eTag])

                // Bound → delete refused (409, listing the consumer); unbind → delete → gone.
                let bound = try await client.call(.put, "/v1/certificates/web/bindings/edge-1", key: writer)
                #expect(bound.status == .created, "\(bound.text)")
                let groups = try await client.call(.get, "/v1/certificates/web", key: writer)
                #expect(groups.first?["service_groups"]?.arrayValue.first?["name"]?.stringValue == "edge-1")
                let inUse = try await client.call(.delete, "/v1/certificates/web", key: writer)
                #expect(inUse.status == .conflict)
                #expect(inUse.errorCode == "certificate_in_use")
                #expect(inUse.json?["error"]?["details"]?["consumers"]?.arrayValue.first?.stringValue == "edge-1")
                let unbound = try await client.call(.delete, "/v1/certificates/web/bindings/edge-1", key: writer)
                #expect(unbound.status == .noContent)
                let current = try await client.call(.get, "/v1/certificates/web", key: writer)
                let deleted = try await client.call(
                    .delete, "/v1/certificates/web", key: writer,
                    headers: [.ifMatch: current.headers[.eTag] ?? etag])
                #expect(deleted.status == .accepted, "\(deleted.text)")
                #expect(deleted.first?["state"]?.stringValue == "deleting")
                var gone = false
                for _ in 0..<300 where !gone {
                    gone = try await client.call(.get, "/v1/certificates/\(uuid)", key: writer).status == .notFound
                    if !gone { try await Task.sleep(for: .milliseconds(200)) }
                }
                #expect(gone, "worker: \(env.processStatus)")
                // Binding a deleted certificate is refused.
                let late = try await client.call(.put, "/v1/certificates/\(uuid)/bindings/edge-2", key: writer)
                #expect(late.status == .notFound)
            }
            // No private key bytes in the worker's log.
            let keyBody = fixtures.key.split(separator: "\n").dropFirst().first.map(String.init) ?? "unused"
            for file in env.logFiles where file.pathExtension == "log" {
                let log = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                #expect(!log.contains(keyBody) && !log.contains("PRIVATE KEY"), "\(file.lastPathComponent)")
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    @Test func mismatchedKeyEndsInError() async throws {
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            try await env.application().test(.live) { client in
                let upload = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(key: fixtures.otherKey))
                #expect(upload.status == .accepted)
                let uuid = try #require(upload.first?["uuid"]?.stringValue)
                #expect(upload.first?["name"]?.stringValue?.hasPrefix("api.example.com-") == true)
                let settled = try await settled(client, uuid, key: writer)
                #expect(settled.first?["state"]?.stringValue == "error", "\(settled.text)")
                #expect(settled.first?["error"]?["code"]?.stringValue == "key_mismatch")
                let name = try #require(settled.first?["name"]?.stringValue)

                let renew = try await client.call(.post, "/v1/certificates/\(name)/renew", key: writer)
                #expect(renew.status == .conflict)
                #expect(renew.errorCode == "not_renewable")

                // Batch delete: one success, one per-item error, one answer.
                let batch = try await client.call(.delete, "/v1/certificates?name=\(name),missing", key: writer)
                #expect(batch.status == .accepted, "\(batch.text)")
                let items = batch.json?["data"]?["certificates"]?.arrayValue ?? []
                #expect(items.map { $0["status"]?.stringValue } == ["success", "error"])
                #expect(items.first?["state"]?.stringValue == "deleting")
                #expect(items.last?["error"]?["code"]?.stringValue == "certificate_not_found")
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    @Test func authErrorsAndLimits() async throws {
        let env = try await APIEnvironment()
        do {
            let reader = try await env.key(["certificates:read"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let admin = try await env.key(["admin"])
            let app = env.application(APIConfiguration(bodyLimit: 64 * 1024, writeRate: 1, writeBurst: 3))
            try await app.test(.live) { client in
                #expect(try await client.call(.get, "/healthz", key: nil).status == .ok)
                #expect(try await client.call(.get, "/readyz", key: nil).status == .ok)

                let none = try await client.call(.get, "/v1/certificates/list", key: nil)
                #expect(none.status == .unauthorized)
                #expect(none.json?["status"]?.stringValue == "error")
                #expect(none.errorCode == "unauthorized")
                #expect(try await client.call(.get, "/v1/certificates/list", key: "cf_nope").status == .unauthorized)

                let forbidden = try await client.call(.post, "/v1/certificates", key: reader, body: fixtures.body())
                #expect(forbidden.status == .forbidden)
                #expect(forbidden.errorCode == "missing_scope")

                let malformed = try await client.call(.post, "/v1/certificates", key: writer, body: "{not json")
                #expect(malformed.status == .badRequest)

                let garbage = try await client.call(
                    .post, "/v1/certificates", key: writer,
                    body: #"{"chain":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n","pkey":"x"}"#)
                #expect(garbage.status == .unprocessableContent, "\(garbage.text)")
                #expect(garbage.errorCode?.isEmpty == false)
                #expect(!garbage.text.contains("Swift") && !garbage.text.contains("at /"))

                let cnMismatch = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(cn: "other.example.com"))
                #expect(cnMismatch.status == .unprocessableContent)
                #expect(cnMismatch.errorCode == "cn_mismatch")

                let huge = try await client.call(
                    .post, "/v1/certificates", key: try await env.key(["certificates:write"]),
                    body: JSONValue.object([("chain", .string(String(repeating: "A", count: 100_000)))]).serialized())
                #expect(huge.status == .contentTooLarge, "\(huge.status)")

                #expect(try await client.call(.get, "/v1/nothing-here", key: reader).status == .notFound)

                // Key administration: admin only; a revoked key stops working.
                #expect(try await client.call(.get, "/v1/keys", key: writer).status == .forbidden)
                let created = try await client.call(.post, "/v1/keys", key: admin, body: #"{"name":"ci","scopes":["certificates:read"]}"#)
                #expect(created.status == .created, "\(created.text)")
                let newKey = try #require(created.json?["data"]?["keys"]?.arrayValue.first)
                let secret = try #require(newKey["secret"]?.stringValue)
                let id = try #require(newKey["id"]?.stringValue)
                #expect(try await client.call(.get, "/v1/certificates/list", key: secret).status == .ok)
                let listed = try await client.call(.get, "/v1/keys", key: admin)
                #expect(listed.json?["data"]?["keys"]?.arrayValue.contains { $0["id"]?.stringValue == id } == true)
                #expect(!listed.text.contains(secret))
                // last_used_at is written off the request's path: wait for it.
                var lastUsed: String?
                for _ in 0..<100 where lastUsed == nil {
                    let keys = try await client.call(.get, "/v1/keys", key: admin).json?["data"]?["keys"]?.arrayValue ?? []
                    lastUsed = keys.first { $0["id"]?.stringValue == id }?["last_used_at"]?.stringValue
                    if lastUsed == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(lastUsed != nil, "a used key shows last_used_at")
                #expect(try await client.call(.delete, "/v1/keys/\(id)", key: admin).status == .noContent)
                #expect(try await client.call(.get, "/v1/certificates/list", key: secret).status == .unauthorized)
                let badScope = try await client.call(.post, "/v1/keys", key: admin, body: #"{"scopes":["root"]}"#)
                #expect(badScope.status == .unprocessableContent)

                // The write limit: burst 3, then 429 with Retry-After.
                var limited: Answer?
                for _ in 0..<10 where limited == nil {
                    let answer = try await client.call(.delete, "/v1/certificates/nothing", key: writer)
                    if answer.status == .tooManyRequests { limited = answer }
                }
                let answer = try #require(limited)
                #expect(answer.headers[.retryAfter] != nil)
                #expect(answer.errorCode == "rate_limited")
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    /// openapi-spec-validator from PyPI, in the git-ignored `.venv-tools`.
    @Test func openAPIDocumentIsValid() async throws {
        let spec = TestStack.root.appendingPathComponent("schemas/openapi.yaml").path
        let python = try await TestStack.toolsPython()
        let output = try await TestStack.run(python, ["-m", "openapi_spec_validator", spec])
        #expect(output.contains("OK"), "\(output)")
    }
}
