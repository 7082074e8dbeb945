import Foundation
import Postgres
import Testing
import TestSupport

/// Fault tests run a private PostgreSQL started by the project's own scripts,
/// so restarting it cannot disturb the tests that share the main instance.
@Suite("Postgres recovery", .serialized)
struct PostgresRecoveryTests {
    @Test func poolRecoversAfterAServerRestart() async throws {
        let dir = TestStack.privateStackDirectory("pg-restart")
        let port = TestStack.freePort()
        let environment = ["CERTFLEET_STACK_DIR": dir.path, "CERTFLEET_PG_PORT": String(port)]
        try TestStack.ctl(["start", "postgres"], environment: environment)
        defer {
            _ = try? TestStack.ctl(["stop", "postgres"], environment: environment)
            try? FileManager.default.removeItem(at: dir)
        }
        let db = PostgresClient("postgres://certfleet@127.0.0.1:\(port)/certfleet", maxConnections: 3)
        // Open all three connections so every one of them goes stale across the restart.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { try await db.query("SELECT pg_sleep(0.05)") } }
            try await group.waitForAll()
        }
        let before = try await db.query("SELECT pg_postmaster_start_time() AS t").first!.decode(Date.self, "t")

        try TestStack.ctl(["restart", "postgres"], environment: environment)

        for _ in 0..<6 {
            let after = try await db.query("SELECT pg_postmaster_start_time() AS t").first!.decode(Date.self, "t")
            #expect(after > before)
        }
        await db.shutdown()
    }

    @Test func queriesFailTypedWhileTheServerIsDownAndSucceedAfter() async throws {
        let dir = TestStack.privateStackDirectory("pg-down")
        let port = TestStack.freePort()
        let environment = ["CERTFLEET_STACK_DIR": dir.path, "CERTFLEET_PG_PORT": String(port)]
        try TestStack.ctl(["start", "postgres"], environment: environment)
        defer {
            _ = try? TestStack.ctl(["stop", "postgres"], environment: environment)
            try? FileManager.default.removeItem(at: dir)
        }
        let db = PostgresClient("postgres://certfleet@127.0.0.1:\(port)/certfleet", maxConnections: 2)
        try await db.query("SELECT 1")
        try TestStack.ctl(["stop", "postgres"], environment: environment)
        let error = await #expect(throws: PostgresError.self) { try await db.query("SELECT 1") }
        #expect(error?.isConnectivity == true)
        try TestStack.ctl(["start", "postgres"], environment: environment)
        let row = try #require(try await db.query("SELECT 41 + 1 AS v").first)
        #expect(try row.decode(Int.self, "v") == 42)
        await db.shutdown()
    }
}
