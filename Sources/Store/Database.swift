import Postgres

/// The connection pool API, Jobs and Scheduler hold and hand to Store's repositories.
/// Only Store (and the wiring) queries it: the modules above do not import Postgres.
public typealias Database = PostgresClient

/// A database failure as the layers above need to tell them apart, without seeing Postgres.
public enum DatabaseFailure: Sendable, Equatable {
    /// The server cannot be reached (or the pool is closed): retry later.
    case unavailable
    /// A value was refused by its column type or encoding (SQLSTATE class 22, e.g. NUL in text).
    case invalidValue
    /// Anything else: a defect or an operational problem, not the caller's.
    case other

    public init?(_ error: any Error) {
        guard let error = error as? PostgresError else { return nil }
        switch error.kind {
        case .connectionFailed, .connectionLost, .poolClosed: self = .unavailable
        default: self = error.sqlState?.errorClass == "22" ? .invalidValue : .other
        }
    }
}

public enum DatabaseHealth {
    /// One round trip, for readiness probes.
    public static func ping(_ db: Database) async throws {
        _ = try await db.query("SELECT 1 AS one")
    }
}
