/// A five-character SQLSTATE code, as PostgreSQL reports it.
///
/// A struct (not an enum) so new codes need no API change; the common ones are named.
public struct SQLState: Hashable, Sendable, CustomStringConvertible {
    public let code: String
    public init(_ code: String) { self.code = code }

    /// The two-character class, e.g. `23` (integrity constraint violation).
    public var errorClass: String { String(code.prefix(2)) }
    public var description: String { code }

    public static let uniqueViolation = SQLState("23505")
    public static let foreignKeyViolation = SQLState("23503")
    public static let notNullViolation = SQLState("23502")
    public static let checkViolation = SQLState("23514")
    public static let exclusionViolation = SQLState("23P01")
    public static let serializationFailure = SQLState("40001")
    public static let deadlockDetected = SQLState("40P01")
    public static let lockNotAvailable = SQLState("55P03")
    public static let queryCanceled = SQLState("57014")
    public static let adminShutdown = SQLState("57P01")
    public static let cannotConnectNow = SQLState("57P03")
    public static let readOnlySQLTransaction = SQLState("25006")
    public static let undefinedTable = SQLState("42P01")
    public static let syntaxError = SQLState("42601")
    /// Also raised before sending a text parameter that holds NUL (PostgreSQL text cannot).
    public static let characterNotInRepertoire = SQLState("22021")

    /// Errors after which running the same transaction again may succeed.
    public var isRetryableTransactionFailure: Bool {
        self == .serializationFailure || self == .deadlockDetected
    }
}

/// Every failure of the Postgres module.
///
/// `description` stays generic on purpose (it may reach logs); the server's
/// message is in `message`, for callers that decide what is safe to show.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The server answered with an error (see `sqlState`).
        case server
        /// No connection could be made (wrong address, server down, auth failed).
        case connectionFailed
        /// The connection broke while in use; the statement's outcome is unknown.
        case connectionLost
        /// A value could not be decoded into the requested Swift type.
        case decoding
        /// The pool was shut down.
        case poolClosed
    }

    public let kind: Kind
    /// Set for `.server` errors.
    public let sqlState: SQLState?
    /// The violated constraint, for integrity errors.
    public let constraint: String?
    /// The server's (or libpq's) primary message.
    public let message: String
    public let detail: String?

    public init(kind: Kind, sqlState: SQLState? = nil, constraint: String? = nil, message: String, detail: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.constraint = constraint
        self.message = message
        self.detail = detail
    }

    public var description: String {
        switch kind {
        case .server:
            var text = "PostgreSQL error \(sqlState?.code ?? "?"): \(message)"
            if let constraint { text += " (constraint \(constraint))" }
            return text
        case .connectionFailed: return "cannot connect to PostgreSQL: \(message)"
        case .connectionLost: return "connection to PostgreSQL lost: \(message)"
        case .decoding: return "cannot decode PostgreSQL value: \(message)"
        case .poolClosed: return "the PostgreSQL pool is shut down"
        }
    }

    /// True for errors that mean "the database is unreachable right now" (retry later).
    public var isConnectivity: Bool {
        switch kind {
        case .connectionFailed, .connectionLost: return true
        case .server:
            return sqlState == .adminShutdown || sqlState == .cannotConnectNow
                || sqlState == .readOnlySQLTransaction || sqlState?.errorClass == "08"
        case .decoding, .poolClosed: return false
        }
    }

    public static func decoding(_ message: String) -> PostgresError {
        PostgresError(kind: .decoding, message: message)
    }
}
