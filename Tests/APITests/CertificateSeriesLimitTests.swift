import API
import Foundation
import HummingbirdTesting
import Postgres
import Testing

/// Issue 20: the per-certificate series cost the API memory in proportion to the fleet, so they
/// are kept only up to `certificateMetricsLimit` live certificates. Past it they are dropped and
/// `certfleet_certificate_series_limited` says so; back under it they are served again.
@Suite("Certificate series limit")
struct CertificateSeriesLimitTests {
    @Test func seriesAreLeftOutPastTheLimitAndServedAgainUnderIt() async throws {
        try await APIEnvironment.with { env in
            var configuration = APIConfiguration(port: 0)
            // The background refresh and a scrape's own share one read; a scrape sees a change within this.
            configuration.certificateMetricsInterval = .milliseconds(100)
            configuration.certificateMetricsLimit = 2
            @Sendable func insert(_ name: String) async throws {
                try await env.db.query(
                    """
                    INSERT INTO certificates (project_id, name, common_name, sans, source, state)
                    VALUES (\(env.project), \(name), 'limited.example.com', ARRAY['limited.example.com'], 'uploaded', 'pending')
                    """)
            }
            try await env.application(configuration).test(.live) { client in
                /// The exposition once it satisfies CONDITION (or the last one read, after 30 s).
                func metrics(until condition: (String) -> Bool) async throws -> String {
                    var text = ""
                    for _ in 0..<300 {
                        text = try await client.call(.get, "/metrics", key: nil).text
                        if condition(text) { break }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return text
                }
                try await insert("first")
                try await insert("second")
                let under = try await metrics { Self.readyLines($0).count == 6 }
                #expect(under.contains("certfleet_certificate_series_limited 0\n"), "\(under)")
                #expect(Self.readyLines(under).count == 6, "two certificates, three conditions each: \(Self.readyLines(under))")

                try await insert("third")
                let over = try await metrics { $0.contains("certfleet_certificate_series_limited 1\n") }
                #expect(over.contains("certfleet_certificate_series_limited 1\n"), "\(over)")
                #expect(Self.readyLines(over).isEmpty, "\(Self.readyLines(over))")
                #expect(over.contains("# TYPE certfleet_certificate_ready_status gauge"), "the families stay declared")

                try await env.db.query("UPDATE certificates SET state = 'deleted', deleted_at = now() WHERE name = 'first'")
                let again = try await metrics { $0.contains("certfleet_certificate_series_limited 0\n") }
                #expect(again.contains("certfleet_certificate_series_limited 0\n"), "\(again)")
                let names = Set(Self.readyLines(again).compactMap { line in line.split(separator: "\"").dropFirst().first })
                #expect(names == ["second", "third"], "\(Self.readyLines(again))")
            }
        }
    }

    static func readyLines(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { $0.hasPrefix("certfleet_certificate_ready_status{") }
    }
}
