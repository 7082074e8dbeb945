import Foundation

/// A PostgreSQL type OID (`pg_type.oid`), as bound parameters and result columns carry it.
public struct PostgresType: Hashable, Sendable {
    public let oid: UInt32
    public init(oid: UInt32) { self.oid = oid }

    /// Let the server infer the type from context (used for text, so one Swift
    /// `String` binds to text, varchar or an enum alike).
    public static let unknown = PostgresType(oid: 0)
    public static let bool = PostgresType(oid: 16)
    public static let bytea = PostgresType(oid: 17)
    public static let int8 = PostgresType(oid: 20)
    public static let int2 = PostgresType(oid: 21)
    public static let int4 = PostgresType(oid: 23)
    public static let text = PostgresType(oid: 25)
    public static let json = PostgresType(oid: 114)
    public static let float8 = PostgresType(oid: 701)
    public static let textArray = PostgresType(oid: 1009)
    public static let timestamptz = PostgresType(oid: 1184)
    public static let uuid = PostgresType(oid: 2950)
    public static let jsonb = PostgresType(oid: 3802)
}

/// A value ready to be sent as a bound parameter.
public enum PostgresBind: Sendable, Equatable {
    case null
    /// Text format (how libpq sends most values).
    case text(String, PostgresType)
    /// Binary format, for raw bytes (bytea).
    case binary([UInt8], PostgresType)

    var type: PostgresType {
        switch self {
        case .null: return .unknown
        case .text(_, let type), .binary(_, let type): return type
        }
    }
}

/// A Swift value that can be bound as a query parameter.
public protocol PostgresEncodable: Sendable {
    var postgresBind: PostgresBind { get }
}

/// A Swift value that can be read from a result column (text format).
public protocol PostgresDecodable {
    /// Decodes a non-NULL column value from its text representation.
    init(postgresText text: String, type: PostgresType) throws
    /// The value for SQL NULL; throws unless the type can represent it (Optional).
    static func postgresNull() throws -> Self
}

extension PostgresDecodable {
    public static func postgresNull() throws -> Self {
        throw PostgresError.decoding("NULL where a \(Self.self) was expected")
    }
}

public typealias PostgresCodable = PostgresEncodable & PostgresDecodable

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresBind: PostgresBind { self?.postgresBind ?? .null }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public init(postgresText text: String, type: PostgresType) throws {
        self = .some(try Wrapped(postgresText: text, type: type))
    }
    public static func postgresNull() throws -> Self { nil }
}

extension String: PostgresCodable {
    public var postgresBind: PostgresBind { .text(self, .unknown) }
    public init(postgresText text: String, type: PostgresType) throws { self = text }
}

extension Int: PostgresCodable {
    public var postgresBind: PostgresBind { .text(String(self), .int8) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = Int(text) else { throw PostgresError.decoding("'\(text.prefix(40))' is not an integer") }
        self = value
    }
}

extension Int64: PostgresCodable {
    public var postgresBind: PostgresBind { .text(String(self), .int8) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = Int64(text) else { throw PostgresError.decoding("'\(text.prefix(40))' is not a bigint") }
        self = value
    }
}

extension Int32: PostgresCodable {
    public var postgresBind: PostgresBind { .text(String(self), .int4) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = Int32(text) else { throw PostgresError.decoding("'\(text.prefix(40))' is not an int") }
        self = value
    }
}

extension Double: PostgresCodable {
    public var postgresBind: PostgresBind { .text(String(self), .float8) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = Double(text) else { throw PostgresError.decoding("'\(text.prefix(40))' is not a number") }
        self = value
    }
}

extension Bool: PostgresCodable {
    public var postgresBind: PostgresBind { .text(self ? "t" : "f", .bool) }
    public init(postgresText text: String, type: PostgresType) throws {
        switch text {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresError.decoding("'\(text.prefix(40))' is not a boolean")
        }
    }
}

extension UUID: PostgresCodable {
    public var postgresBind: PostgresBind { .text(uuidString.lowercased(), .uuid) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = UUID(uuidString: text) else { throw PostgresError.decoding("'\(text.prefix(40))' is not a uuid") }
        self = value
    }
}

extension Date: PostgresCodable {
    /// Sent as an ISO 8601 timestamp in UTC with microseconds, PostgreSQL's own precision.
    public var postgresBind: PostgresBind { .text(PostgresTimestamp.format(self), .timestamptz) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let value = PostgresTimestamp.parse(text) else {
            throw PostgresError.decoding("'\(text.prefix(40))' is not a timestamp")
        }
        self = value
    }
}

/// Raw bytes (bytea), sent in binary format and read from the server's hex text format.
public struct PostgresBytes: PostgresCodable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var postgresBind: PostgresBind { .binary(bytes, .bytea) }
    public init(postgresText text: String, type: PostgresType) throws {
        guard let bytes = PostgresHex.decodeBytea(text) else {
            throw PostgresError.decoding("bytea value is not in hex format")
        }
        self.bytes = bytes
    }
}

extension Data: PostgresCodable {
    public var postgresBind: PostgresBind { .binary([UInt8](self), .bytea) }
    public init(postgresText text: String, type: PostgresType) throws {
        self = Data(try PostgresBytes(postgresText: text, type: type).bytes)
    }
}

/// A JSON document bound as `jsonb` (the text is sent as is; the server validates it).
public struct PostgresJSON: PostgresCodable, Hashable {
    public var text: String
    public init(text: String) { self.text = text }

    /// Encodes any Encodable value (sorted keys, so equal values bind equal text).
    public init<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes the document into a Decodable type.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw PostgresError.decoding("JSON does not match \(T.self): \(error)")
        }
    }

    public var postgresBind: PostgresBind { .text(text, .jsonb) }
    public init(postgresText text: String, type: PostgresType) throws { self.text = text }
}

extension Array: PostgresEncodable where Element == String {
    /// Sent as a `text[]` array literal, every element quoted.
    public var postgresBind: PostgresBind { .text(PostgresArrayLiteral.encode(self), .textArray) }
}

extension Array: PostgresDecodable where Element == String {
    public init(postgresText text: String, type: PostgresType) throws {
        guard let elements = PostgresArrayLiteral.decode(text) else {
            throw PostgresError.decoding("'\(text.prefix(40))' is not a text array")
        }
        self = elements
    }
}

/// Wraps any encodable value with `nil` support in heterogeneous parameter lists.
public struct PostgresNull: PostgresEncodable {
    public init() {}
    public var postgresBind: PostgresBind { .null }
}
