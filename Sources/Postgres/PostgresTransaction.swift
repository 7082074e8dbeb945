/// A connection lent to one caller: inside `transaction {}` every statement runs
/// in the same transaction; inside `withConnection {}` each statement commits alone.
public struct PostgresTransaction: Sendable {
    let connection: PostgresConnection
    let pool: PostgresClient

    /// How long a statement's answer is awaited on the caller's thread (`PostgresConfiguration.inlineWait`).
    var inlineWait: Duration { pool.configuration.inlineWait }

    /// Runs one statement with bound parameters.
    @discardableResult
    public func query(_ query: PostgresQuery) async throws -> PostgresRows {
        let connection = self.connection
        pool.counted(startsTransaction: !connection.isInTransaction)
        return try await finish(connection.queryInline(query, wait: inlineWait)) { try connection.query(query) }
    }

    /// Runs trusted SQL text without parameters (several statements allowed).
    /// For migrations and fixed statements only; values always go through `query`.
    @discardableResult
    public func simpleQuery(_ sql: String) async throws -> PostgresRows {
        let connection = self.connection
        pool.counted(startsTransaction: !connection.isInTransaction)
        return try await finish(connection.simpleQueryInline(sql, wait: inlineWait)) { try connection.simpleQuery(sql) }
    }

    /// The rows of an inline attempt, finished on the connection's thread when it could not be.
    private func finish(_ answer: InlineAnswer, blocking: @escaping @Sendable () throws -> PostgresRows) async throws -> PostgresRows {
        let connection = self.connection
        switch answer {
        case .answered(let rows): return rows
        case .pending: return try await connection.thread.run { try connection.finishPending() }
        case .notSent: return try await connection.thread.run(blocking)
        }
    }

    static let commitInDoubt = "the connection broke while COMMIT was in flight"

    func runTransaction<T: Sendable>(isolation: TransactionIsolation, _ body: (PostgresTransaction) async throws -> T) async throws -> T {
        try await simpleQuery("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
        let value: T
        do {
            value = try await body(self)
        } catch {
            if !connection.isBroken { _ = try? await simpleQuery("ROLLBACK") }
            throw error
        }
        do {
            try await simpleQuery("COMMIT")
        } catch let error as PostgresError where error.kind == .connectionLost {
            // The server may or may not have committed: never retry blindly.
            throw PostgresError(kind: .connectionLost, message: error.message, detail: Self.commitInDoubt)
        } catch {
            if !connection.isBroken { _ = try? await simpleQuery("ROLLBACK") }
            throw error
        }
        return value
    }
}
