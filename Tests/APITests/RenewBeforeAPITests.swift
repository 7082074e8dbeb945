import API
import CertFleetCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Store
import TestSupport
import Testing

/// `PATCH /v1/certificates/{ref}` with `renew_before`: renew_at follows, bad values are 422.
@Suite(.serialized) struct RenewBeforeAPITests {
    let fixtures = APIFixtures.shared

    @Test func renewBeforeMovesRenewAtAndNullRestoresTwoThirds() async throws {
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let writer = try await env.key(["certificates:read", "certificates:write"])
            let reader = try await env.key(["certificates:read"])
            try await env.application().test(.live) { client in
                let upload = try await client.call(.post, "/v1/certificates", key: writer, body: fixtures.body(name: "timed"))
                let uuid = try #require(upload.first?["uuid"]?.stringValue)
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline,
                    try await client.call(.get, "/v1/certificates/\(uuid)", key: writer).first?["state"]?.stringValue != "valid"
                {
                    try await Task.sleep(for: .milliseconds(200))
                }
                let facts = try #require(
                    try await env.db.query(
                        """
                        SELECT v.not_before, v.not_after, c.renew_at FROM certificates c
                        JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
                            WHERE c.id = \(UUID(uuidString: uuid)!)
                        """
                    ).first)
                let notBefore = try facts.decode(Date.self, "not_before"), notAfter = try facts.decode(Date.self, "not_after")
                let twoThirds = notBefore.addingTimeInterval(notAfter.timeIntervalSince(notBefore) * 2 / 3)
                #expect(abs(try facts.decode(Date.self, "renew_at").timeIntervalSince(twoThirds)) < 1)

                let patched = try await client.call(.patch, "/v1/certificates/timed", key: writer, body: #"{"renew_before":"10d"}"#)
                #expect(patched.status == .ok, "\(patched.text)")
                #expect(patched.first?["renew_before"]?.intValue == 10 * 86400)
                let renewAt = try #require(patched.first?["renew_at"]?.stringValue.flatMap(RFC3339.parse))
                #expect(abs(renewAt.timeIntervalSince(notAfter.addingTimeInterval(-10 * 86400))) < 2)

                let seconds = try await client.call(.patch, "/v1/certificates/timed", key: writer, body: #"{"renew_before":3600}"#)
                #expect(seconds.first?["renew_before"]?.intValue == 3600)
                let reset = try await client.call(.patch, "/v1/certificates/timed", key: writer, body: #"{"renew_before":null}"#)
                #expect(reset.first?["renew_before"] == .null)
                let restored = try #require(reset.first?["renew_at"]?.stringValue.flatMap(RFC3339.parse))
                #expect(abs(restored.timeIntervalSince(twoThirds)) < 2)

                for bad in [#"{"renew_before":"0"}"#, #"{"renew_before":"-5d"}"#, #"{"renew_before":"soon"}"#, #"{"renew_before":0}"#] {
                    let refused = try await client.call(.patch, "/v1/certificates/timed", key: writer, body: bad)
                    #expect(refused.status == .unprocessableContent, "\(bad): \(refused.text)")
                    #expect(refused.errorCode == "invalid_renew_before")
                }
                #expect(try await client.call(.patch, "/v1/certificates/timed", key: writer, body: #"{"name":"x"}"#).status == .badRequest)
                #expect(try await client.call(.patch, "/v1/certificates/timed", key: reader, body: #"{"renew_before":"1d"}"#).status == .forbidden)
                #expect(try await client.call(.patch, "/v1/certificates/nope", key: writer, body: #"{"renew_before":"1d"}"#).status == .notFound)
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }
}
