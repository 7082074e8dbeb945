import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Testing

/// Issue 20's bad input on paging: a cursor is an authenticated token, valid only for the
/// project and filters it was made for; anything else is 400 `invalid_cursor` before any query.
@Suite("List paging")
struct ListPagingTests {
    @Test func cursorsPageThroughEverythingOnceAndAlteredOnesAreRefused() async throws {
        try await APIEnvironment.with { env in
            let reader = try await env.key(["certificates:read"])
            try await env.db.query(
                """
                INSERT INTO certificates (project_id, name, common_name, sans, source, state)
                SELECT \(env.project), 'paged-' || i, 'paged.example.com', ARRAY['paged.example.com'], 'uploaded', 'pending'
                FROM generate_series(1, 5) AS i
                """)
            try await env.application().test(.live) { client in
                var seen: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let uri = "/v1/certificates/list?common_name=paged.example.com&limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.call(.get, uri, key: reader)
                    #expect(page.status == .ok, "\(page.text)")
                    seen += page.json?["data"]?["certificates"]?.arrayValue.compactMap { $0["name"]?.stringValue } ?? []
                    cursor = page.json?["data"]?["next_cursor"]?.stringValue
                    pages += 1
                } while cursor != nil && pages < 10
                #expect(Set(seen) == Set((1...5).map { "paged-\($0)" }) && seen.count == 5, "\(seen)")
                #expect(pages == 3)

                let first = try await client.call(.get, "/v1/certificates/list?common_name=paged.example.com&limit=2", key: reader)
                let token = try #require(first.json?["data"]?["next_cursor"]?.stringValue)
                #expect(UUID(uuidString: token) == nil, "the cursor is opaque, not the bare uuid")
                var altered = Array(token)
                altered[3] = altered[3] == "A" ? "B" : "A"
                let lastID = try #require(first.json?["data"]?["certificates"]?.arrayValue.last?["uuid"]?.stringValue)
                for (label, bad) in [
                    ("altered", String(altered)), ("a bare uuid", lastID), ("garbage", "%27%3B--"),
                    ("truncated", String(token.dropLast(4))), ("long", String(repeating: "A", count: 200)),
                ] {
                    let answer = try await client.call(.get, "/v1/certificates/list?common_name=paged.example.com&limit=2&cursor=\(bad)", key: reader)
                    #expect(answer.status == .badRequest && answer.errorCode == "invalid_cursor", "\(label): \(answer.text)")
                }
                // Valid, but made for other filters: refused too, not a page of something else.
                let other = try await client.call(.get, "/v1/certificates/list?state=pending&limit=2&cursor=\(token)", key: reader)
                #expect(other.status == .badRequest && other.errorCode == "invalid_cursor", "\(other.text)")
                // No limit: the default page (100), never everything.
                let all = try await client.call(.get, "/v1/certificates/list", key: reader)
                #expect(all.status == .ok && all.json?["data"]?["certificates"]?.arrayValue.count == 5)
            }
        }
    }

    @Test func metricsCountFromMaintainedStateNotFromTheTables() async throws {
        try await APIEnvironment.with { env in
            var configuration = APIConfiguration(port: 0)
            configuration.metricsSnapshotInterval = .zero
            try await env.application(configuration).test(.live) { client in
                let before = try await Self.wholeScrape(client)
                #expect(!before.text.contains(#"certfleet_certificates{state="pending"}"#), "\(before.text)")
                try await env.db.query(
                    """
                    INSERT INTO certificates (project_id, name, common_name, sans, source, state)
                    VALUES (\(env.project), 'counted-1', 'c.example.com', ARRAY['c.example.com'], 'uploaded', 'pending'),
                           (\(env.project), 'counted-2', 'c.example.com', ARRAY['c.example.com'], 'uploaded', 'pending')
                    """)
                try await env.db.query("UPDATE certificates SET state = 'error' WHERE name = 'counted-2'")
                let after = try await Self.wholeScrape(client)
                #expect(after.text.contains(#"certfleet_certificates{state="pending"} 1"#), "\(after.text)")
                #expect(after.text.contains(#"certfleet_certificates{state="error"} 1"#), "\(after.text)")
                // The counts are the triggers' (state_counts), not an aggregate: a row written with
                // the triggers off is not counted.
                _ = try await env.db.withConnection { connection in
                    try await connection.simpleQuery(
                        """
                        SET session_replication_role = replica;
                        INSERT INTO certificates (project_id, name, common_name, source, state)
                        VALUES ('\(env.project.uuidString.lowercased())', 'uncounted', 'u.example.com', 'uploaded', 'pending');
                        SET session_replication_role = DEFAULT;
                        """)
                }
                let last = try await Self.wholeScrape(client)
                #expect(last.text.contains(#"certfleet_certificates{state="pending"} 1"#), "\(last.text)")
            }
        }
    }

    /// A scrape answers even when the database does not: the part that did not answer within
    /// its limit is left out (and said so), and a later scrape has it again. The lock is held
    /// until the scrape returns, so a scrape that waited for it would never return.
    @Test func aScrapeLeavesOutAPartThatDoesNotAnswer() async throws {
        try await APIEnvironment.with { env in
            var configuration = APIConfiguration(port: 0)
            configuration.metricsSnapshotInterval = .seconds(60)
            configuration.metricsPartLimit = .seconds(1)
            try await env.application(configuration).test(.live) { client in
                try await env.db.transaction { transaction in
                    try await transaction.simpleQuery("LOCK TABLE state_counts IN ACCESS EXCLUSIVE MODE")
                    let partial = try await client.call(.get, "/metrics", key: nil)
                    #expect(partial.status == .ok)
                    #expect(partial.text.contains("# The database did not answer within"), "\(partial.text)")
                    #expect(!partial.text.contains("# TYPE certfleet_certificates gauge"), "\(partial.text)")
                }
                // A partial scrape is not kept for the snapshot interval: a later one is whole
                // (several tries: on a busy machine the database's part can itself be late).
                let whole = try await Self.wholeScrape(client)
                #expect(whole.text.contains("# TYPE certfleet_certificates gauge"), "\(whole.text)")
                #expect(whole.text.contains("# TYPE certfleet_queue_messages gauge"), "\(whole.text)")
            }
        }
    }

    /// A scrape with every part: on a busy machine (the full suite) a part can miss its limit.
    static func wholeScrape(_ client: some TestClientProtocol) async throws -> Answer {
        var scrape = try await client.call(.get, "/metrics", key: nil)
        for _ in 0..<20 where scrape.text.contains("did not answer") {
            try await Task.sleep(for: .milliseconds(500))
            scrape = try await client.call(.get, "/metrics", key: nil)
        }
        return scrape
    }
}
