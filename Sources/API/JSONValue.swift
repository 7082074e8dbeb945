import CertFleetCore
import Foundation

/// A JSON document the API builds, stores (jsonb) and addresses by path
/// (`/v1/certificates/{ref}/chain/0/subject`). Object keys keep insertion order
/// on output so responses read in the documented order.
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// JSON text as the database returned it (a jsonb column's text), written out as is:
    /// a stored document is served without a parse and a re-encode. Reading into it
    /// (`subscript`, `resolve`) parses it on demand.
    case raw(String)

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.raw(let x), .raw(let y)) where x == y: return true
        case (.raw, _), (_, .raw): return a.resolvingRaw() == b.resolvingRaw()
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        switch self {
        case .object(let members): return members.first { $0.0 == key }?.1
        case .raw: return resolvingRaw()[key]
        default: return nil
        }
    }

    /// The same document with every `.raw` text parsed (unparseable text becomes null).
    public func resolvingRaw() -> JSONValue {
        switch self {
        case .raw(let text): return (try? JSONValue.parse(text)) ?? .null
        case .array(let items): return .array(items.map { $0.resolvingRaw() })
        case .object(let members): return .object(members.map { ($0.0, $0.1.resolvingRaw()) })
        case .null, .bool, .number, .string: return self
        }
    }

    /// The value at PATH (object keys, array indices); on failure, the index of the
    /// first segment that did not resolve.
    public func resolve(_ path: [String]) -> Result<JSONValue, PathError> {
        var current = self
        for (index, segment) in path.enumerated() {
            if case .raw = current { current = current.resolvingRaw() }
            switch current {
            case .object(let members):
                guard let next = members.first(where: { $0.0 == segment })?.1 else { return .failure(PathError(index: index, segment: segment)) }
                current = next
            case .array(let items):
                guard let i = Int(segment), items.indices.contains(i) else { return .failure(PathError(index: index, segment: segment)) }
                current = items[i]
            default:
                return .failure(PathError(index: index, segment: segment))
            }
        }
        return .success(current)
    }

    public struct PathError: Error, Sendable {
        public let index: Int
        public let segment: String
    }

    // MARK: - building

    public static func string(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
    public static func int(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
    public static func date(_ value: Date?) -> JSONValue { value.map { .string(RFC3339.format($0)) } ?? .null }

    /// Parses JSON text (a jsonb column); object members in key order.
    public static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Any Encodable value, through JSON text.
    public static func encoding<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: try JSONEncoder().encode(value))
    }

    // MARK: - output

    public func serialized() -> String {
        var out = ""
        out.reserveCapacity(4096)
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { out += String(Int64(n)) } else { out += String(n) }
        case .string(let s): Self.quote(s, into: &out)
        case .raw(let text): out += text
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                Self.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, into out: inout String) {
        out += "\""
        // Most strings (names, dates, uuids) need no escape: copy them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSONValue: Decodable {
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            self = .object(
                try object.allKeys.map(\.stringValue).sorted().map { ($0, try object.decode(JSONValue.self, forKey: Key(stringValue: $0))) })
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let b = try? single.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? single.decode(Double.self) {
            self = .number(n)
        } else {
            self = .string(try single.decode(String.self))
        }
    }
}
