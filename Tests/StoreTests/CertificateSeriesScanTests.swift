import Foundation
import Postgres
import Store
import TestSupport
import Testing

/// The per-certificate `/metrics` reads (migration 0017): a read after a watermark sees every
/// write committed since, including one whose transaction was open during the previous read
/// and committed after it (what a timestamp watermark would miss).
@Suite("Certificate series scan")
struct CertificateSeriesScanTests {
    @Test func aWriteCommittedAfterAReadIsInTheNextOneWhateverItsStart() async throws {
        let scratch = try await ScratchDatabase.create()
        let db = try await scratch.migratedClient(maxConnections: 3)
        let project = try await db.query("INSERT INTO projects (name) VALUES ('p') RETURNING id").first!.decode(UUID.self, "id")
        func insert(_ name: String) async throws -> UUID {
            try await db.query("INSERT INTO certificates (project_id, name, source) VALUES (\(project), \(name), 'uploaded') RETURNING id")
                .first!.decode(UUID.self, "id")
        }
        let early = try await insert("early")
        let gone = try await insert("gone")

        // Start-up reads page by page (one row per page here): together, every live certificate once.
        let first = try await CertificateSeriesScan.all(db, after: nil, limit: 1)
        let rest = try await CertificateSeriesScan.all(db, after: try #require(first.rows.first?.id), limit: 1)
        let end = try await CertificateSeriesScan.all(db, after: try #require(rest.rows.first?.id), limit: 1)
        #expect(end.rows.isEmpty)
        #expect([first.rows.map(\.name), rest.rows.map(\.name)].flatMap { $0 }.sorted() == ["early", "gone"])
        #expect((first.rows + rest.rows).allSatisfy { $0.live && $0.state == "pending" && $0.notAfter == nil && $0.issuer == "" })
        // Reads may return rows again (the watermark is the oldest transaction running anywhere
        // in the cluster, and other tests run), never miss one: the assertions are about content.

        // A transaction writes `early` and stays open across the next read.
        let (written, wrote) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        let open = Task {
            try await db.transaction { tx in
                try await tx.query("UPDATE certificates SET state = 'error' WHERE id = \(early)")
                wrote.yield()
                for await _ in released { break }
            }
        }
        for await _ in written { break }
        try await db.query("UPDATE certificates SET state = 'deleted', deleted_at = now() WHERE id = \(gone)")
        let second = try await CertificateSeriesScan.changed(db, since: first.watermark)
        #expect(second.rows.contains { $0.id == gone && !$0.live })
        #expect(!second.rows.contains { $0.id == early && $0.state == "error" }, "an uncommitted write is not visible yet")

        release.yield()
        try await open.value
        let third = try await CertificateSeriesScan.changed(db, since: second.watermark)
        #expect(third.rows.contains { $0.id == early && $0.state == "error" }, "\(third.rows)")
        #expect(try await CertificateSeriesScan.projectNames(db) == [project: "p"])
        await db.shutdown()
        await scratch.drop()
    }
}
