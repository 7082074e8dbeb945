import API
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// EMQX Cloud's per-deployment TLS examples against `/v1/consumers/{consumer}/tls`.
@Suite(.serialized) struct ConsumersAPITests {
    let fixtures = APIFixtures.shared

    func tlsBody(_ type: String, cacert: String? = nil) -> String {
        var fields: [(String, JSONValue)] = [("tlsType", .string(type)), ("cert", .string(fixtures.chain)), ("key", .string(fixtures.key))]
        if let cacert { fields.append(("cacert", .string(cacert))) }
        return JSONValue.object(fields).serialized()
    }

    /// Waits through the general certificates resource (the TLS resource's own read budget is small).
    func waitForJobs(_ client: some TestClientProtocol, certificate: String, key: String) async throws {
        for _ in 0..<300 {
            let jobs = try await client.call(.get, "/v1/jobs?certificate=\(certificate)", key: key).json?["data"]?["jobs"]?.arrayValue ?? []
            if !jobs.isEmpty && jobs.allSatisfy({ ["succeeded", "failed"].contains($0["state"]?.stringValue ?? "") }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func emqxExamplesAndTheHourlyWriteLimit() async throws {
        let env = try await APIEnvironment()
        do {
            let key = try await env.key(["certificates:read", "certificates:write"])
            let clientCA = try SelfSignedFixture.makeCA(subject: "/CN=CertFleet Test Client CA")
            try await env.application().test(.live) { client in
                // POST one-way → pending (no worker runs yet, so it cannot be valid).
                let created = try await client.call(.post, "/v1/consumers/deployment-1/tls", key: key, body: tlsBody("one-way"))
                #expect(created.status == .ok, "\(created.text)")
                #expect(created.json?["tlsType"] == .string("one-way"))
                #expect(created.json?["status"] == .string("pending"))
                let expire = created.json?["expire"]?.stringValue ?? ""
                #expect(expire.wholeMatch(of: /20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-5][0-9]/) != nil, "\(expire)")
                let uuid = try #require(created.json?["certificate"]?["uuid"]?.stringValue)
                let pending = try await client.call(.get, "/v1/consumers/deployment-1/tls", key: key)
                #expect(pending.json?["status"] == .string("pending"))

                // A worker validates it → running, and it is bound to the consumer.
                try env.start(["worker"])
                try await waitForJobs(client, certificate: uuid, key: key)
                let running = try await client.call(.get, "/v1/consumers/deployment-1/tls", key: key)
                #expect(running.json?["status"] == .string("running"), "\(running.text); worker: \(env.processStatus)")
                let document = try await client.call(.get, "/v1/certificates/\(uuid)", key: key)
                #expect(document.first?["service_groups"]?.arrayValue.first?["name"] == .string("deployment-1"))

                // PUT two-way without cacert → 422; with it → running, two-way.
                let noCA = try await client.call(.put, "/v1/consumers/deployment-1/tls", key: key, body: tlsBody("two-way"))
                #expect(noCA.status == .unprocessableContent)
                #expect(noCA.errorCode == "cacert_missing")
                let twoWay = try await client.call(.put, "/v1/consumers/deployment-1/tls", key: key, body: tlsBody("two-way", cacert: clientCA))
                #expect(twoWay.status == .ok, "\(twoWay.text)")
                #expect(twoWay.json?["tlsType"] == .string("two-way"))
                try await waitForJobs(client, certificate: uuid, key: key)
                let updated = try await client.call(.get, "/v1/consumers/deployment-1/tls", key: key)
                #expect(updated.json?["status"] == .string("running"), "\(updated.text)")
                #expect(updated.json?["tlsType"] == .string("two-way"))

                // DELETE → 204, unbound, and the certificate (used by nothing else) goes.
                let deleted = try await client.call(.delete, "/v1/consumers/deployment-1/tls", key: key)
                #expect(deleted.status == .noContent)
                #expect(try await client.call(.get, "/v1/consumers/deployment-1/tls", key: key).status == .notFound)
                var gone = false
                for _ in 0..<300 where !gone {
                    gone = try await client.call(.get, "/v1/certificates/\(uuid)", key: key).status == .notFound
                    if !gone { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(gone)

                // Four writes so far (POST, PUT 422, PUT, DELETE): two more pass, the seventh is refused.
                for attempt in 5...6 {
                    let write = try await client.call(.post, "/v1/consumers/deployment-\(attempt)/tls", key: key, body: tlsBody("one-way"))
                    #expect(write.status == .ok, "write \(attempt): \(write.text)")
                }
                let limited = try await client.call(.post, "/v1/consumers/deployment-7/tls", key: key, body: tlsBody("one-way"))
                #expect(limited.status == .tooManyRequests)
                #expect(limited.errorCode == "rate_limited")
                let retryAfter = Int(limited.headers[.retryAfter] ?? "") ?? 0
                #expect(retryAfter > 60, "one write per 10 minutes comes back: \(retryAfter)")
                // The rest of the API keeps its own budget.
                #expect(try await client.call(.get, "/v1/certificates/list", key: key).status == .ok)
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }

    /// Upload and binding are one transaction: concurrent creates for one consumer leave exactly
    /// one certificate bound to it (the others answer 409 `tls_exists`, creating nothing), and a
    /// retried create after success is refused the same way instead of adding a second certificate.
    @Test func concurrentAndRetriedCreatesBindOneCertificate() async throws {
        try await APIEnvironment.with { env in
            let key = try await env.key(["certificates:read", "certificates:write"])
            try await env.application().test(.live) { client in
                let body = tlsBody("one-way")
                let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<4 {
                        group.addTask { Int(try await client.call(.post, "/v1/consumers/edge-1/tls", key: key, body: body).status.code) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(answers.filter { $0 == 200 }.count == 1, "\(answers)")
                #expect(answers.filter { $0 == 409 }.count == 3, "\(answers)")
                let retried = try await client.call(.post, "/v1/consumers/edge-1/tls", key: key, body: body)
                #expect(retried.status == .conflict)
                #expect(retried.errorCode == "tls_exists")
                let listed = try await client.call(.get, "/v1/certificates", key: key).json?["data"]?["certificates"]?.arrayValue ?? []
                #expect(listed.count == 1, "one certificate in the project, not one per request: \(listed.count)")
                #expect(listed.first?["service_groups"]?.arrayValue.first?["name"] == .string("edge-1"))
            }
        }
    }
}
