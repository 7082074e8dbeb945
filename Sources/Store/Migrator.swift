import Foundation
import Logging
import Postgres

/// One SQL file of `schemas/migrations/`, named `NNNN_description.sql`.
public struct Migration: Sendable, Equatable {
    /// The number before the first underscore; files apply in this order.
    public let version: String
    public let name: String
    public let sql: String

    public init(version: String, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

extension Migration {
    /// The first line of a migration that must run outside a transaction.
    static let noTransactionMarker = "-- certfleet:no-transaction"

    var runsOutsideTransaction: Bool { sql.hasPrefix(Self.noTransactionMarker) }

    /// The statements of a no-transaction migration: split where a line ends with `;`
    /// outside a `$$`-quoted function body; comment lines and blanks dropped.
    var statements: [String] {
        var statements: [String] = [], current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") || trimmed.isEmpty { continue }
            current += line + "\n"
            // A line with an odd number of `$$` opens or closes a body.
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && trimmed.hasSuffix(";") {
                statements.append(current)
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { statements.append(current) }
        return statements
    }
}

/// Why migrating refused or failed.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    /// An applied migration's file was edited afterwards: the database and the files disagree.
    case checksumMismatch(version: String, name: String)
    /// A file name does not follow `NNNN_description.sql`, or two files share a version.
    case badFileName(String)
    /// No migrations directory was found.
    case directoryNotFound([String])

    public var description: String {
        switch self {
        case .checksumMismatch(let version, let name):
            return "migration \(version) (\(name)) was changed after it was applied; restore the file and add a new migration instead"
        case .badFileName(let file):
            return "migration file '\(file)' must be named NNNN_description.sql with a unique NNNN"
        case .directoryNotFound(let tried):
            return "no migrations directory found (tried \(tried.joined(separator: ", "))); pass --migrations DIR or set CERTFLEET_MIGRATIONS_DIR"
        }
    }
}

/// Applies pending migrations in order, each in its own transaction (or, marked
/// `-- certfleet:no-transaction`, statement by statement for `CREATE INDEX CONCURRENTLY`),
/// recording each with a checksum. Safe to run from several processes at once: an advisory
/// lock serialises them, and the loser finds everything applied.
public struct Migrator: Sendable {
    /// Key of the advisory lock (any constant; 'cfmigrat' in ASCII).
    static let lockKey: Int64 = 0x6366_6D69_6772_6174

    /// Applied migrations whose file later changed in comments only: the checksum recorded
    /// before the change is still accepted (and replaced). 0003 named a 0002 that never existed.
    static let amendedComments = ["0003": "d30d829f4a62c601bd1734c6001f47a3d42776568d50a2452ebbd6a5be9586cc"]
    let db: PostgresClient
    let migrations: [Migration]
    let logger: Logger

    public init(db: PostgresClient, migrations: [Migration], logger: Logger = Logger(label: "certfleet.migrate")) {
        self.db = db
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.logger = logger
    }

    /// Reads `*.sql` from DIRECTORY.
    public static func load(from directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }.sorted()
        var seen = Set<String>()
        return try files.map { file in
            let stem = String(file.dropLast(4))
            guard let underscore = stem.firstIndex(of: "_"), stem[..<underscore].allSatisfy(\.isNumber),
                !stem[..<underscore].isEmpty, seen.insert(String(stem[..<underscore])).inserted
            else { throw MigrationError.badFileName(file) }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: String(stem[..<underscore]), name: String(stem[stem.index(after: underscore)...]), sql: sql)
        }
    }

    /// The migrations directory: EXPLICIT, else `$CERTFLEET_MIGRATIONS_DIR`, else
    /// `schemas/migrations` under the working directory or beside the executable's checkout.
    public static func locateDirectory(explicit: String?) throws -> URL {
        var candidates: [String] = []
        if let explicit { candidates.append(explicit) }
        if let fromEnvironment = ProcessInfo.processInfo.environment["CERTFLEET_MIGRATIONS_DIR"] { candidates.append(fromEnvironment) }
        candidates.append(FileManager.default.currentDirectoryPath + "/schemas/migrations")
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        for _ in 0..<4 { // .build/<triple>/debug/certfleet → checkout root
            candidates.append(directory.appendingPathComponent("schemas/migrations").path)
            candidates.append(directory.appendingPathComponent("share/certfleet/migrations").path)
            directory.deleteLastPathComponent()
        }
        var isDirectory: ObjCBool = false
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory) && isDirectory.boolValue {
            return URL(fileURLWithPath: candidate)
        }
        throw MigrationError.directoryNotFound(Array(candidates.prefix(3)))
    }

    /// Applies what is pending and returns it (empty when the database is current).
    ///
    /// One connection holds a session advisory lock for the whole run; a concurrent migrator
    /// polls for it with `pg_try_advisory_lock` between short sleeps instead of blocking in a
    /// statement, because `CREATE INDEX CONCURRENTLY` waits for every open snapshot, a
    /// blocked lock request's included (that wait would be a deadlock).
    @discardableResult
    public func migrate() async throws -> [Migration] {
        try await db.withConnection { connection -> [Migration] in
            while try await !connection.query("SELECT pg_try_advisory_lock(\(Self.lockKey)) AS locked").first!.decode(Bool.self, "locked") {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...150)))
            }
            do {
                let applied = try await applyPending(on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                return applied
            } catch {
                _ = try? await connection.simpleQuery("ROLLBACK")
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))")
                throw error
            }
        }
    }

    private func applyPending(on connection: PostgresTransaction) async throws -> [Migration] {
        try await connection.simpleQuery(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        var applied: [Migration] = []
        for migration in migrations {
            let checksum = try await connection.query("SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex') AS c")
                .first!.decode(String.self, "c")
            if let row = try await connection.query("SELECT checksum FROM schema_migrations WHERE version = \(migration.version)").first {
                let recorded = try row.decode(String.self, "checksum")
                if recorded != checksum && Self.amendedComments[migration.version] == recorded {
                    try await connection.query("UPDATE schema_migrations SET checksum = \(checksum) WHERE version = \(migration.version)")
                    continue
                }
                guard recorded == checksum else {
                    throw MigrationError.checksumMismatch(version: migration.version, name: migration.name)
                }
                continue
            }
            let record: PostgresQuery = """
                INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(checksum))
                """
            if migration.runsOutsideTransaction {
                // Statement by statement (CREATE INDEX CONCURRENTLY refuses a transaction); each is
                // idempotent, so a run that stopped half-way repeats the ones done.
                for statement in migration.statements { try await connection.simpleQuery(statement) }
                try await connection.query(record)
            } else {
                // The file and its record commit together, or neither does.
                try await connection.simpleQuery("BEGIN")
                try await connection.simpleQuery(migration.sql)
                try await connection.query(record)
                try await connection.simpleQuery("COMMIT")
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration)
        }
        return applied
    }

    /// Versions recorded as applied, in order.
    public func appliedVersions() async throws -> [String] {
        let exists = try await db.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS e").first!.decode(Bool.self, "e")
        guard exists else { return [] }
        return try await db.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.decode(String.self, "version") }
    }
}
