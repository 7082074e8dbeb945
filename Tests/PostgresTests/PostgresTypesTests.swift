import Foundation
import Postgres
import TestSupport
import Testing

@Suite("Postgres values against the real server")
struct PostgresTypesTests {
    let db = PostgresClient(TestStack.databaseURL, maxConnections: 4)

    @Test func everySupportedTypeRoundTrips() async throws {
        let id = UUID()
        let when = Date(timeIntervalSince1970: 1_763_904_540.123456)
        let bytes: [UInt8] = [0, 1, 2, 0x7f, 0x80, 0xff, 92, 120]
        let json = try PostgresJSON(encoding: ["b": 2, "a": 1])
        let tags = ["plain", "with,comma", "with \"quote\"", "back\\slash", "{brace}", "NULL", ""]
        let rows = try await db.query(
            """
            SELECT \("héllo ✓")::text AS text, \(Int32(-42))::int4 AS int, \(Int64.max)::int8 AS bigint,
                   \(true)::bool AS yes, \(false)::bool AS no, \(id)::uuid AS id, \(when)::timestamptz AS at,
                   \(PostgresBytes(bytes))::bytea AS bytes, \(json)::jsonb AS doc, \(tags)::text[] AS tags,
                   \(String?.none)::text AS nothing, \(Int(7)) AS seven
            """)
        let row = try #require(rows.first)
        #expect(try row.decode(String.self, "text") == "héllo ✓")
        #expect(try row.decode(Int32.self, "int") == -42)
        #expect(try row.decode(Int64.self, "bigint") == Int64.max)
        #expect(try row.decode(Bool.self, "yes") == true)
        #expect(try row.decode(Bool.self, "no") == false)
        #expect(try row.decode(UUID.self, "id") == id)
        #expect(try row.decode(Date.self, "at").timeIntervalSince1970 == when.timeIntervalSince1970)
        #expect(try row.decode(PostgresBytes.self, "bytes").bytes == bytes)
        #expect(try row.decode(PostgresJSON.self, "doc").decode([String: Int].self) == ["a": 1, "b": 2])
        #expect(try row.decode([String].self, "tags") == tags)
        #expect(try row.decode(String?.self, "nothing") == nil)
        #expect(row.isNull("nothing"))
        #expect(try row.decode(Int.self, "seven") == 7)
    }

    @Test func nullIntoNonOptionalIsADecodingError() async throws {
        let row = try #require(try await db.query("SELECT NULL::text AS value").first)
        let error = try #require(throws: PostgresError.self) { try row.decode(String.self, "value") }
        #expect(error.kind == .decoding)
        #expect(try row.decode(String?.self, "value") == nil)
    }

    @Test func timestampsFromOtherZonesDecodeToTheSameInstant() async throws {
        let row = try #require(
            try await db.query(
                """
                SELECT '2024-02-29 23:59:59.5+05:30'::timestamptz AS a, '2024-02-29T18:29:59.5Z'::timestamptz AS b
                """
            ).first)
        #expect(try row.decode(Date.self, "a") == row.decode(Date.self, "b"))
        #expect(try row.decode(Date.self, "b").timeIntervalSince1970 == 1_709_231_399.5)
    }

    @Test func valuesAreBoundNotSpliced() async throws {
        let hostile = "x'); DROP TABLE pg_class; --"
        let row = try #require(try await db.query("SELECT \(hostile)::text AS v").first)
        #expect(try row.decode(String.self, "v") == hostile)
    }

    @Test func tableRoundTripWithEveryColumnType() async throws {
        let table = "types_\(UInt32.random(in: 0...UInt32.max))"
        try await db.query(
            """
            CREATE TABLE \(unescaped: table) (id uuid PRIMARY KEY, name text, n int, big bigint, ok bool,
              at timestamptz, raw bytea, doc jsonb, tags text[])
            """)
        defer { Task { [db] in try? await db.query("DROP TABLE \(unescaped: table)") } }
        let id = UUID()
        let at = Date(timeIntervalSince1970: 1_700_000_000)
        try await db.query(
            """
            INSERT INTO \(unescaped: table) VALUES (\(id), \("n"), \(Int32(3)), \(Int64(1) << 40), \(true), \(at),
              \(Data([9, 8, 7])), \(PostgresJSON(text: #"{"k": [1, 2]}"#)), \(["a", "b"]))
            """)
        let row = try #require(try await db.query("SELECT * FROM \(unescaped: table) WHERE id = \(id)").first)
        #expect(try row.decode(String.self, "name") == "n")
        #expect(try row.decode(Int64.self, "big") == 1 << 40)
        #expect(try row.decode(Date.self, "at") == at)
        #expect(try row.decode(Data.self, "raw") == Data([9, 8, 7]))
        #expect(try row.decode(PostgresJSON.self, "doc").text == #"{"k": [1, 2]}"#)
        #expect(try row.decode([String].self, "tags") == ["a", "b"])
    }
}
