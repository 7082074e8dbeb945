import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Postgres errors and transactions")
struct PostgresErrorTests {
    let db = PostgresClient(TestStack.databaseURL, maxConnections: 4)

    private func makeTable() async throws -> String {
        let table = "t_\(UInt32.random(in: 0...UInt32.max))"
        try await db.query(
            "CREATE TABLE \(unescaped: table) (id int PRIMARY KEY, n int NOT NULL DEFAULT 0, CONSTRAINT \(unescaped: table)_n_small CHECK (n < 1000))"
        )
        return table
    }

    private func drop(_ table: String) async {
        _ = try? await db.query("DROP TABLE \(unescaped: table)")
    }

    @Test func uniqueViolationIsTypedWithTheConstraintName() async throws {
        let table = try await makeTable()
        try await db.query("INSERT INTO \(unescaped: table) (id) VALUES (\(1))")
        let error = await #expect(throws: PostgresError.self) {
            try await db.query("INSERT INTO \(unescaped: table) (id) VALUES (\(1))")
        }
        #expect(error?.kind == .server)
        #expect(error?.sqlState == .uniqueViolation)
        #expect(error?.sqlState?.errorClass == "23")
        #expect(error?.constraint == "\(table)_pkey")
        #expect(error?.message.contains("duplicate key") == true)
        await drop(table)
    }

    @Test func checkViolationNamesItsConstraint() async throws {
        let table = try await makeTable()
        let error = await #expect(throws: PostgresError.self) {
            try await db.query("INSERT INTO \(unescaped: table) (id, n) VALUES (\(1), \(5000))")
        }
        #expect(error?.sqlState == .checkViolation)
        #expect(error?.constraint == "\(table)_n_small")
        await drop(table)
    }

    @Test func syntaxErrorIsTypedAndTheConnectionStaysUsable() async throws {
        let error = await #expect(throws: PostgresError.self) { try await db.query("SELEC 1") }
        #expect(error?.sqlState == .syntaxError)
        let row = try #require(try await db.query("SELECT 1 AS one").first)
        #expect(try row.decode(Int.self, "one") == 1)
    }

    struct Boom: Error {}

    @Test func aTransactionThatThrowsRollsBack() async throws {
        let table = try await makeTable()
        await #expect(throws: Boom.self) {
            try await db.transaction { tx in
                try await tx.query("INSERT INTO \(unescaped: table) (id) VALUES (\(1))")
                throw Boom()
            }
        }
        let count = try await db.query("SELECT count(*) AS c FROM \(unescaped: table)").first!.decode(Int.self, "c")
        #expect(count == 0)
        let committed = try await db.transaction { tx in
            try await tx.query("INSERT INTO \(unescaped: table) (id) VALUES (\(2))").affectedRows
        }
        #expect(committed == 1)
        #expect(try await db.query("SELECT id FROM \(unescaped: table)").first!.decode(Int.self, "id") == 2)
        await drop(table)
    }

    @Test func serializationFailureIsRetried() async throws {
        let table = try await makeTable()
        try await db.query("INSERT INTO \(unescaped: table) (id, n) VALUES (\(1), \(0))")
        let attempts = Counter()
        let gate = Gate(parties: 2)
        // Two serializable read-modify-write transactions of the same row: one must fail
        // with 40001 on its first attempt; the pool runs it again and both increments land.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await db.transaction(isolation: .serializable) { tx in
                        let attempt = await attempts.increment()
                        let n = try await tx.query("SELECT n FROM \(unescaped: table) WHERE id = \(1)").first!.decode(Int.self, "n")
                        if attempt <= 2 { await gate.arrive() } // both read before either writes
                        try await tx.query("UPDATE \(unescaped: table) SET n = \(n + 1) WHERE id = \(1)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let n = try await db.query("SELECT n FROM \(unescaped: table) WHERE id = \(1)").first!.decode(Int.self, "n")
        #expect(n == 2)
        #expect(await attempts.value == 3)
        await drop(table)
    }

    @Test func unreachableServerIsAConnectionError() async throws {
        let db = PostgresClient("postgres://nobody@127.0.0.1:\(TestStack.freePort())/none", maxConnections: 1)
        let error = await #expect(throws: PostgresError.self) { try await db.query("SELECT 1") }
        #expect(error?.kind == .connectionFailed)
        #expect(error?.isConnectivity == true)
        await db.shutdown()
    }

    @Test func keywordStringWithSeveralHostsFindsTheServer() async throws {
        // The first host refuses connections; libpq moves on to the second.
        let port = TestStack.env("CERTFLEET_PG_PORT", default: "55432")
        let conninfo = "host=127.0.0.1,127.0.0.1 port=\(TestStack.freePort()),\(port) user=certfleet dbname=certfleet target_session_attrs=read-write"
        let db = PostgresClient(conninfo, maxConnections: 1)
        let row = try #require(try await db.query("SELECT current_database() AS db").first)
        #expect(try row.decode(String.self, "db") == "certfleet")
        await db.shutdown()
    }
}

actor Counter {
    private(set) var value = 0
    func increment() -> Int { value += 1; return value }
}

/// Suspends callers until PARTIES of them have arrived.
actor Gate {
    private let parties: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var arrived = 0
    init(parties: Int) { self.parties = parties }
    func arrive() async {
        arrived += 1
        if arrived >= parties {
            waiting.forEach { $0.resume() }
            waiting = []
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}
