import Foundation
import Postgres
import TestSupport
import Testing

/// Fault tests run a private PostgreSQL started by the project's own scripts,
/// so restarting it cannot disturb the tests that share the main instance.
@Suite("Postgres recovery", .serialized)
struct PostgresRecoveryTests {
    /// A PostgreSQL of its own, started by `deploy/local/ctl`, stopped and removed by `remove()`.
    struct PrivatePostgres {
        let directory: URL
        let port = TestStack.freePort()
        var environment: [String: String] { ["CERTFLEET_STACK_DIR": directory.path, "CERTFLEET_PG_PORT": String(port)] }
        var url: String { "postgres://certfleet@127.0.0.1:\(port)/certfleet" }

        /// Starts one; BODY runs with it, and it is stopped and removed afterwards, also when BODY throws.
        static func with(_ name: String, _ body: (PrivatePostgres) async throws -> Void) async throws {
            let server = PrivatePostgres(directory: TestStack.privateStackDirectory(name))
            try await server.ctl("start")
            try await TestStack.using(server, tearDown: { await $0.remove() }, body)
        }

        func ctl(_ action: String) async throws { try await TestStack.ctl([action, "postgres"], environment: environment) }

        private func remove() async {
            _ = try? await ctl("stop")
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test func poolRecoversAfterAServerRestart() async throws {
        try await PrivatePostgres.with("pg-restart") { server in
            let db = PostgresClient(server.url, maxConnections: 3)
            // Open all three connections so every one of them goes stale across the restart.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { try await db.query("SELECT pg_sleep(0.05)") } }
                try await group.waitForAll()
            }
            let before = try await db.query("SELECT pg_postmaster_start_time() AS t").first!.decode(Date.self, "t")

            try await server.ctl("restart")

            for _ in 0..<6 {
                let after = try await db.query("SELECT pg_postmaster_start_time() AS t").first!.decode(Date.self, "t")
                #expect(after > before)
            }
            await db.shutdown()
        }
    }

    @Test func queriesFailTypedWhileTheServerIsDownAndSucceedAfter() async throws {
        try await PrivatePostgres.with("pg-down") { server in
            let db = PostgresClient(server.url, maxConnections: 2)
            try await db.query("SELECT 1")
            try await server.ctl("stop")
            let error = await #expect(throws: PostgresError.self) { try await db.query("SELECT 1") }
            #expect(error?.isConnectivity == true)
            try await server.ctl("start")
            let row = try #require(try await db.query("SELECT 41 + 1 AS v").first)
            #expect(try row.decode(Int.self, "v") == 42)
            await db.shutdown()
        }
    }
}
