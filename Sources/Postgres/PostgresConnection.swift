import CLibPQ
import Foundation

/// One libpq connection, used by one owner at a time (the pool hands a connection to one
/// owner at a time, which is why `@unchecked Sendable` is sound here). Calls that may block for
/// long (connect, reset, prepare, an answer slower than the inline wait) run on its own thread
/// (`thread`; the listener's connection lives on the listener's thread); the `…Inline` calls
/// run on the caller's thread and block it for at most their wait.
final class PostgresConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    /// The thread its calls run on (nil for the listener's connection).
    private let ownThread: ConnectionThread?
    /// SQL text + parameter types → server-side prepared statement name.
    private var statements: [StatementKey: String] = [:]
    private static let statementCacheLimit = 512

    /// Connects with a URL (`postgres://…`) or a keyword string (`host=a,b … target_session_attrs=read-write`).
    static func connect(_ conninfo: String, applicationName: String, thread: ConnectionThread? = nil) throws -> PostgresConnection {
        // Our session defaults come first; whatever the user's string says overrides them.
        let keywords = ["application_name", "client_encoding", "options", "connect_timeout", "dbname"]
        let values = [applicationName, "UTF8", "-c TimeZone=UTC -c DateStyle=ISO", "10", conninfo]
        let handle = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let handle else {
            throw PostgresError(kind: .connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.errorMessage(handle)
            PQfinish(handle)
            throw PostgresError(kind: .connectionFailed, message: message)
        }
        // Server notices ("relation already exists, skipping") are not errors; libpq
        // would print them to stderr, mixing them into command output.
        PQsetNoticeReceiver(handle, { _, _ in }, nil)
        return PostgresConnection(handle: handle, thread: thread)
    }

    private init(handle: OpaquePointer, thread: ConnectionThread?) {
        self.handle = handle
        self.ownThread = thread
    }

    deinit {
        PQfinish(handle)
        ownThread?.stop()
    }

    /// The thread that runs this connection's calls; every pooled connection has one.
    var thread: ConnectionThread {
        guard let ownThread else { preconditionFailure("a pooled connection always has its own thread") }
        return ownThread
    }

    var isBroken: Bool { PQstatus(handle) != CONNECTION_OK }

    /// True while a transaction block is open on this connection.
    var isInTransaction: Bool {
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Notices a connection the server closed while it sat idle in the pool (server restart,
    /// idle timeout): true when it must be reset before use. Never blocks: it reads only what
    /// is already there, and libpq marks the connection bad once it reads the EOF. Only looks
    /// outside a transaction block, where an idle connection has nothing to read unless the
    /// server said goodbye (an error message, then EOF).
    private func isClosedByServer() -> Bool {
        var reads = 0
        while PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) == PQTRANS_IDLE, reads < 4 {
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            _ = PQconsumeInput(handle)
            while let notify = PQnotifies(handle) { PQfreemem(notify) } // not ours to deliver
            reads += 1
        }
        return PQstatus(handle) != CONNECTION_OK
    }

    /// Reconnects a connection the server closed (see `isClosedByServer`); blocks while it connects.
    func reconnectIfClosed() throws {
        guard isClosedByServer() else { return }
        statements.removeAll()
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(kind: .connectionFailed, message: Self.errorMessage(handle))
        }
    }

    /// Runs one statement with bound parameters through a cached prepared statement.
    func query(_ query: PostgresQuery) throws -> PostgresRows {
        try reconnectIfClosed()
        let types = query.binds.map(\.type.oid)
        let key = StatementKey(sql: query.sql, types: types)
        var name = statements[key]
        if name == nil && statements.count < Self.statementCacheLimit {
            let newName = "cf\(statements.count)"
            let result = types.withUnsafeBufferPointer { typePointer in
                PQprepare(handle, newName, query.sql, Int32(types.count), typePointer.baseAddress)
            }
            try consume(result)
            statements[key] = newName
            name = newName
        }
        let result = try withParameters(query.binds) { count, values, lengths, formats in
            if let name {
                return PQexecPrepared(handle, name, count, values, lengths, formats, 0)
            }
            return types.withUnsafeBufferPointer { typePointer in
                PQexecParams(handle, query.sql, count, typePointer.baseAddress, values, lengths, formats, 0)
            }
        }
        return try consume(result)
    }

    // MARK: - answered on the caller's thread

    /// Sends a statement whose plan is already prepared here and waits up to WAIT on the
    /// calling thread for its answer. `.notSent` when it needs the blocking path (first use of
    /// the statement on this connection, or a reconnect); `.pending` when the answer had not
    /// come by then (`finishPending` collects it). See `PostgresTransaction.query` for why.
    func queryInline(_ query: PostgresQuery, wait: Duration) throws -> InlineAnswer {
        let types = query.binds.map(\.type.oid)
        guard let name = statements[StatementKey(sql: query.sql, types: types)], !isClosedByServer() else { return .notSent }
        let sent = try withParameters(query.binds) { count, values, lengths, formats in
            PQsendQueryPrepared(handle, name, count, values, lengths, formats, 0)
        }
        return try awaitAnswer(sent: sent == 1, wait: wait)
    }

    /// `simpleQuery` the same way (transaction control: BEGIN, COMMIT, ROLLBACK).
    func simpleQueryInline(_ sql: String, wait: Duration) throws -> InlineAnswer {
        guard !isClosedByServer() else { return .notSent }
        return try awaitAnswer(sent: PQsendQuery(handle, sql) == 1, wait: wait)
    }

    /// Collects the answer of a statement `.pending` left; blocks until it is complete.
    func finishPending() throws -> PostgresRows {
        try consume(collectResults())
    }

    /// Polls the socket until libpq holds the whole answer or WAIT has passed. A blocking
    /// poll(2) with a timeout: the thread sleeps in the kernel like pgbench's own read does.
    private func awaitAnswer(sent: Bool, wait: Duration) throws -> InlineAnswer {
        guard sent else { return .answered(try consume(nil)) }
        let deadline = ContinuousClock.now + wait
        while PQisBusy(handle) == 1 {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { return .pending }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 && errno == EINTR { continue }
            // A read error marks the connection bad; the results then say so without blocking.
            if ready < 0 || (ready > 0 && PQconsumeInput(handle) == 0) { break }
        }
        return .answered(try consume(collectResults()))
    }

    /// Every result of what was sent, as PQexec reports it: the last one, or the first error.
    private func collectResults() -> OpaquePointer? {
        var kept: OpaquePointer?
        var failed = false
        while let result = PQgetResult(handle) {
            if failed {
                PQclear(result)
                continue
            }
            if let kept { PQclear(kept) }
            kept = result
            let status = PQresultStatus(result)
            failed = status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY
        }
        return kept
    }

    /// Runs SQL text without parameters; several statements may be separated by `;`.
    /// Only for trusted SQL: migrations and transaction control.
    @discardableResult
    func simpleQuery(_ sql: String) throws -> PostgresRows {
        try reconnectIfClosed()
        return try consume(PQexec(handle, sql))
    }

    /// Turns a result into rows or a typed error, and frees it.
    @discardableResult
    private func consume(_ result: OpaquePointer?) throws -> PostgresRows {
        guard let result else {
            throw PostgresError(kind: isBroken ? .connectionLost : .connectionFailed, message: Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return Self.rows(of: result)
        default:
            if isBroken {
                throw PostgresError(kind: .connectionLost, message: Self.errorMessage(handle))
            }
            func field(_ code: Character) -> String? {
                guard let pointer = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
                return String(cString: pointer)
            }
            let sqlState = field("C").map(SQLState.init)
            // A server shutting down answers 57P01 and closes: treat as lost for retry decisions.
            let kind: PostgresError.Kind = sqlState == .adminShutdown ? .connectionLost : .server
            throw PostgresError(
                kind: kind, sqlState: sqlState, constraint: field("n"),
                message: field("M") ?? Self.errorMessage(handle), detail: field("D"))
        }
    }

    private static func rows(of result: OpaquePointer) -> PostgresRows {
        let rowCount = Int(PQntuples(result))
        let columnCount = Int(PQnfields(result))
        var columns: [String] = []
        var types: [PostgresType] = []
        columns.reserveCapacity(columnCount)
        for column in 0..<columnCount {
            columns.append(String(cString: PQfname(result, Int32(column))))
            types.append(PostgresType(oid: PQftype(result, Int32(column))))
        }
        var values: [[String?]] = []
        values.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var rowValues: [String?] = []
            rowValues.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    rowValues.append(nil)
                } else {
                    rowValues.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                }
            }
            values.append(rowValues)
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? rowCount
        return PostgresRows(columns: columns, types: types, values: values, affectedRows: affected)
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String {
        guard let pointer = PQerrorMessage(handle) else { return "unknown libpq error" }
        return String(cString: pointer).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - listening

    /// The socket, for waiting on notifications with poll(2).
    var socket: Int32 { PQsocket(handle) }

    /// Reads what the server sent and returns the notifications among it.
    func drainNotifications() throws -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else {
            throw PostgresError(kind: .connectionLost, message: Self.errorMessage(handle))
        }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let value = notify.pointee
            notifications.append(
                PostgresNotification(
                    channel: String(cString: value.relname), payload: String(cString: value.extra), pid: value.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }

    /// Quotes an identifier (a channel name for LISTEN) the server's way.
    func quoteIdentifier(_ identifier: String) throws -> String {
        guard let quoted = PQescapeIdentifier(handle, identifier, identifier.utf8.count) else {
            throw PostgresError(kind: .server, message: Self.errorMessage(handle))
        }
        defer { PQfreemem(quoted) }
        return String(cString: quoted)
    }
}

/// How a statement sent from the caller's thread came out.
enum InlineAnswer {
    case answered(PostgresRows)
    /// Sent; the answer is still to come (collect it with `finishPending`).
    case pending
    /// Nothing sent: run it the blocking way.
    case notSent
}

/// A prepared statement's identity: the same text with other parameter types is another statement.
private struct StatementKey: Hashable {
    let sql: String
    let types: [UInt32]
}

/// Calls BODY with C arrays for libpq's parameter arguments (values, lengths, formats).
private func withParameters<R>(
    _ binds: [PostgresBind],
    _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) throws -> R
) throws -> R {
    if binds.isEmpty { return try body(0, nil, nil, nil) }
    // libpq takes text parameters as C strings: a NUL would silently cut the value short.
    for case .text(let text, _) in binds where text.utf8.contains(0) {
        throw PostgresError(
            kind: .server, sqlState: .characterNotInRepertoire,
            message: "a text parameter contains a NUL character, which PostgreSQL text cannot hold")
    }
    var buffers: [UnsafeMutableRawPointer?] = []
    var lengths: [Int32] = []
    var formats: [Int32] = []
    buffers.reserveCapacity(binds.count)
    defer { buffers.forEach { free($0) } }
    for bind in binds {
        switch bind {
        case .null:
            buffers.append(nil); lengths.append(0); formats.append(0)
        case .text(let text, _):
            buffers.append(UnsafeMutableRawPointer(strdup(text))); lengths.append(0); formats.append(0)
        case .binary(let bytes, _):
            let buffer = malloc(max(bytes.count, 1))!
            if !bytes.isEmpty { bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
            buffers.append(buffer); lengths.append(Int32(bytes.count)); formats.append(1)
        }
    }
    let values = buffers.map { UnsafePointer<CChar>($0?.assumingMemoryBound(to: CChar.self)) }
    return try values.withUnsafeBufferPointer { valuePointer in
        try lengths.withUnsafeBufferPointer { lengthPointer in
            try formats.withUnsafeBufferPointer { formatPointer in
                try body(Int32(binds.count), valuePointer.baseAddress, lengthPointer.baseAddress, formatPointer.baseAddress)
            }
        }
    }
}

/// Calls BODY with a NULL-terminated C array of the strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
