import Foundation
import Logging
import NIOConcurrencyHelpers

/// How to reach PostgreSQL and how many connections to keep.
public struct PostgresConfiguration: Sendable {
    /// A libpq connection string: a URL (`postgres://user@host:5432/db`) or keywords
    /// (`host=h1,h2 port=5432,5433 dbname=certfleet target_session_attrs=read-write`).
    public var connectionString: String
    /// The most connections open at once (each with its own thread running its libpq calls).
    public var maxConnections: Int
    /// Shown in `pg_stat_activity`.
    public var applicationName: String
    /// How often a transaction is run again after a serialization failure, deadlock
    /// or a connection lost before COMMIT was sent.
    public var transactionAttempts: Int
    /// How long a statement's answer is awaited on the caller's thread before the wait moves
    /// to the connection's thread.
    ///
    /// Waiting right here costs one wake-up, as pgbench's own read does; the hop to the
    /// connection's thread and back costs two more context switches per statement (0.65 of
    /// `pgbench -S` against 0.8 asked, issue 21). Bounded, so a statement waiting on a lock held
    /// by a task that needs this cooperative thread to go on cannot deadlock: after the wait it
    /// is the connection's thread that blocks. Nothing else runs on the caller's executor
    /// afterwards, unlike a task executor preference (see `PostgresClient.withConnection`).
    ///
    /// The default (2 ms) covers a job's commit (about 1 ms); `apiInlineWait` is for a process
    /// whose statements are keyed reads and whose two cooperative threads serve requests.
    public var inlineWait: Duration

    public static let defaultInlineWait = Duration.milliseconds(2)
    /// A keyed read answers in 0.1 ms (p99 0.11–0.20 ms paced at 1,000/s on the 2-core machine),
    /// so 0.5 ms keeps nearly every API statement inline, and a slow answer (a renewal storm
    /// loading the cores) holds a cooperative thread, and the requests behind it, 0.5 ms, not 2.
    /// In 10,000-certificate storms the 90th percentile of the 10 s rounds' GET p99 was 14.4 ms
    /// with the API at 0.5 ms, 17.0 ms with it at 2 ms (README, "Renewal storm").
    public static let apiInlineWait = Duration.microseconds(500)

    public init(
        connectionString: String, maxConnections: Int = 8, applicationName: String = "certfleet", transactionAttempts: Int = 5,
        inlineWait: Duration = PostgresConfiguration.defaultInlineWait
    ) {
        self.connectionString = connectionString
        self.maxConnections = max(1, maxConnections)
        self.applicationName = applicationName
        self.transactionAttempts = max(1, transactionAttempts)
        self.inlineWait = inlineWait
    }
}

/// A bounded pool of libpq connections with an async API.
///
/// Blocking libpq calls run on each connection's own thread (`ConnectionThread`), never on
/// Swift's cooperative executor; each statement hops there and back. A connection the server closed is
/// noticed and reconnected before use, so the pool recovers by itself after a database restart.
public final class PostgresClient: Sendable {
    public let configuration: PostgresConfiguration
    let logger: Logger
    private let state = NIOLockedValueBox(PoolState())
    private let counts = NIOLockedValueBox(PostgresCounts())

    private struct PoolState {
        var idle: [PostgresConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<PostgresConnection?, Error>] = []
        var closed = false
    }

    public init(configuration: PostgresConfiguration, logger: Logger = Logger(label: "certfleet.postgres")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Convenience: a pool for CONNECTIONSTRING with default settings.
    public convenience init(_ connectionString: String, maxConnections: Int = 8) {
        self.init(configuration: PostgresConfiguration(connectionString: connectionString, maxConnections: maxConnections))
    }

    /// Closes every idle connection (and its thread; a lent one closes when returned). Later calls throw `.poolClosed`.
    public func shutdown() async {
        let (idle, waiters) = state.withLockedValue { state -> ([PostgresConnection], [CheckedContinuation<PostgresConnection?, Error>]) in
            state.closed = true
            defer { state.idle = []; state.waiters = [] }
            return (state.idle, state.waiters)
        }
        waiters.forEach { $0.resume(throwing: PostgresError(kind: .poolClosed, message: "pool closed")) }
        _ = idle // released here; deinit runs PQfinish and stops the connection's thread
    }

    /// What this pool's connections have sent so far (tests count the statements an operation costs).
    public var statementCounts: PostgresCounts { counts.withLockedValue { $0 } }

    /// Called before each statement is sent (so whoever sees its effect in the database sees it
    /// counted): STARTSTRANSACTION when no transaction block is open, i.e. it is a BEGIN or a
    /// transaction of its own.
    func counted(startsTransaction: Bool) {
        counts.withLockedValue {
            $0.statements += 1
            if startsTransaction { $0.transactions += 1 }
        }
    }

    // MARK: - the public query API

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        try await withConnection { connection in try await connection.query(query) }
    }

    /// Runs BODY in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    ///
    /// Serialization failures, deadlocks and a connection lost before COMMIT run
    /// the whole body again (up to `transactionAttempts` times), so BODY must not
    /// have effects outside the database.
    public func transaction<T: Sendable>(
        isolation: TransactionIsolation = .readCommitted,
        _ body: (PostgresTransaction) async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in
                    try await connection.runTransaction(isolation: isolation, body)
                }
            } catch let error as PostgresError where attempt < configuration.transactionAttempts && error.isRetryableTransaction {
                logger.debug("transaction retried", metadata: ["attempt": "\(attempt)", "reason": "\(error.sqlState?.code ?? "connection")"])
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }

    /// Lends one connection to BODY; its statements run on the connection's thread.
    ///
    /// BODY itself stays on the caller's executor. Running it on the connection's thread (as
    /// its task executor preference) saved the hops, but the preference is inherited by every
    /// task the body starts, so unrelated work (DNS over UDP in the same process) stalled
    /// behind blocking libpq calls: the full test run timed out DNS queries in three of three runs.
    public func withConnection<T: Sendable>(_ body: (PostgresTransaction) async throws -> T) async throws -> T {
        let connection = try await checkout()
        let lease = PostgresTransaction(connection: connection, pool: self)
        do {
            let value = try await body(lease)
            release(connection)
            return value
        } catch {
            release(connection)
            throw error
        }
    }

    // MARK: - pool mechanics

    private enum Checkout { case ready(PostgresConnection), open, wait }

    private func checkout() async throws -> PostgresConnection {
        let decision: Checkout = try state.withLockedValue { state in
            if state.closed { throw PostgresError(kind: .poolClosed, message: "pool closed") }
            if let connection = state.idle.popLast() { return .ready(connection) }
            if state.open < configuration.maxConnections { state.open += 1; return .open }
            return .wait
        }
        switch decision {
        case .ready(let connection):
            // Its health is checked by the first statement, on its own thread.
            return connection
        case .open:
            return try await openConnection()
        case .wait:
            let handed = try await withCheckedThrowingContinuation { continuation in
                state.withLockedValue { $0.waiters.append(continuation) }
            }
            // nil: a slot was freed by a broken connection; open a new one in its place.
            if let handed { return handed }
            return try await openConnection()
        }
    }

    private func openConnection() async throws -> PostgresConnection {
        let conninfo = configuration.connectionString, name = configuration.applicationName
        let thread = ConnectionThread(name: "certfleet-pg")
        do {
            return try await thread.run { try PostgresConnection.connect(conninfo, applicationName: name, thread: thread) }
        } catch {
            thread.stop()
            discard()
            throw error
        }
    }

    /// Returns a connection to the pool, or drops it when it is broken or mid-transaction.
    func release(_ connection: PostgresConnection) {
        if connection.isBroken || connection.isInTransaction {
            discard()
            return
        }
        let waiter: CheckedContinuation<PostgresConnection?, Error>? = state.withLockedValue { state in
            if state.closed { state.open -= 1; return nil }
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }

    /// Gives up a connection slot (broken connection or failed connect).
    private func discard() {
        let waiter: CheckedContinuation<PostgresConnection?, Error>? = state.withLockedValue { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() } // the waiter takes over the slot
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: nil)
    }
}

/// Statements sent and transactions begun (a BEGIN, or a statement outside a transaction
/// block: its own transaction), counted by the pool as they are sent.
public struct PostgresCounts: Sendable, Equatable {
    public var statements = 0
    public var transactions = 0

    public init(statements: Int = 0, transactions: Int = 0) {
        self.statements = statements
        self.transactions = transactions
    }

    /// What was sent since EARLIER.
    public static func - (later: PostgresCounts, earlier: PostgresCounts) -> PostgresCounts {
        PostgresCounts(statements: later.statements - earlier.statements, transactions: later.transactions - earlier.transactions)
    }
}

/// Transaction isolation levels.
public enum TransactionIsolation: String, Sendable {
    case readCommitted = "READ COMMITTED"
    case repeatableRead = "REPEATABLE READ"
    case serializable = "SERIALIZABLE"
}

extension PostgresError {
    /// Failures after which running the whole transaction again is safe and may succeed.
    var isRetryableTransaction: Bool {
        if kind == .connectionLost || kind == .connectionFailed { return !commitMayHaveHappened }
        return sqlState?.isRetryableTransactionFailure ?? false
    }

    var commitMayHaveHappened: Bool { detail == PostgresTransaction.commitInDoubt }
}

extension PostgresConfiguration {
    /// The same connection string aimed at another database on the same server(s).
    ///
    /// URLs are edited as text: a multi-host URL (`postgres://u@h1:5432,h2:5433/db?…`)
    /// is not a valid `URLComponents` URL, yet libpq accepts it.
    public static func connectionString(_ connectionString: String, replacingDatabase database: String) -> String {
        if let scheme = connectionString.range(of: "://"),
            connectionString.hasPrefix("postgres://") || connectionString.hasPrefix("postgresql://")
        {
            let rest = connectionString[scheme.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            let queryStart = rest[authorityEnd...].firstIndex(of: "?") ?? rest.endIndex
            let encoded = database.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? database
            return String(connectionString[..<authorityEnd]) + "/" + encoded + String(rest[queryStart...])
        }
        // In keyword strings a later keyword overrides an earlier one.
        let quoted = database.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
        return connectionString + " dbname='\(quoted)'"
    }
}
