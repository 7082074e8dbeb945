import CRabbitMQ
import Foundation

/// Builds the C structures for one outgoing AMQP method (strings, field tables,
/// basic properties) in a rabbitmq-c pool. Everything it returns stays valid
/// until `reset()`; reusing one arena keeps publishing free of per-message mallocs.
/// Confined to the connection's thread like the connection itself.
final class CArena {
    private let pool: UnsafeMutablePointer<amqp_pool_t>

    init() {
        pool = .allocate(capacity: 1)
        init_amqp_pool(pool, 16 * 1024)
    }

    deinit {
        empty_amqp_pool(pool)
        pool.deallocate()
    }

    /// Invalidates everything built since the last reset and keeps the memory.
    func reset() { recycle_amqp_pool(pool) }

    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
    }

    func bytes(_ raw: UnsafeRawBufferPointer) -> amqp_bytes_t {
        var out = amqp_bytes_t(len: 0, bytes: nil)
        guard raw.count > 0, let base = raw.baseAddress else { return out }
        amqp_pool_alloc_bytes(pool, raw.count, &out)
        if let target = out.bytes { memcpy(target, base, raw.count) }
        return out
    }

    func table(_ dictionary: [String: AMQPFieldValue]) -> amqp_table_t {
        guard !dictionary.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let count = dictionary.count
        let raw = amqp_pool_alloc(pool, MemoryLayout<amqp_table_entry_t>.stride * count)!
        let entries = raw.bindMemory(to: amqp_table_entry_t.self, capacity: count)
        // Sorted so the encoding is deterministic (declare arguments compare equal byte for byte).
        for (index, (key, value)) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: field(value))
        }
        return amqp_table_t(num_entries: Int32(count), entries: entries)
    }

    func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let string):
            field.kind = UInt8(ascii: "S")
            field.value.bytes = bytes(string)
        case .int(let int):
            field.kind = UInt8(ascii: "l")
            field.value.i64 = int
        case .bool(let bool):
            field.kind = UInt8(ascii: "t")
            field.value.boolean = bool ? 1 : 0
        case .double(let double):
            field.kind = UInt8(ascii: "d")
            field.value.f64 = double
        case .bytes(let data):
            field.kind = UInt8(ascii: "x")
            field.value.bytes = data.withUnsafeBytes { bytes($0) }
        case .timestamp(let seconds):
            field.kind = UInt8(ascii: "T")
            field.value.u64 = seconds
        case .array(let values):
            field.kind = UInt8(ascii: "A")
            var array = amqp_array_t(num_entries: Int32(values.count), entries: nil)
            if !values.isEmpty {
                let raw = amqp_pool_alloc(pool, MemoryLayout<amqp_field_value_t>.stride * values.count)!
                let entries = raw.bindMemory(to: amqp_field_value_t.self, capacity: values.count)
                for (index, element) in values.enumerated() { entries[index] = self.field(element) }
                array.entries = entries
            }
            field.value.array = array
        case .table(let dictionary):
            field.kind = UInt8(ascii: "F")
            field.value.table = table(dictionary)
        case .void:
            field.kind = UInt8(ascii: "V")
        }
        return field
    }

    /// The C basic properties for `properties`; optional fields set only when present.
    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ value: String?, _ flag: Int32, _ assign: (amqp_bytes_t) -> Void) {
            guard let value else { return }
            assign(bytes(value))
            flags |= UInt32(flag)
        }
        set(properties.contentType, AMQP_BASIC_CONTENT_TYPE_FLAG) { c.content_type = $0 }
        set(properties.contentEncoding, AMQP_BASIC_CONTENT_ENCODING_FLAG) { c.content_encoding = $0 }
        set(properties.correlationID, AMQP_BASIC_CORRELATION_ID_FLAG) { c.correlation_id = $0 }
        set(properties.replyTo, AMQP_BASIC_REPLY_TO_FLAG) { c.reply_to = $0 }
        set(properties.expiration, AMQP_BASIC_EXPIRATION_FLAG) { c.expiration = $0 }
        set(properties.messageID, AMQP_BASIC_MESSAGE_ID_FLAG) { c.message_id = $0 }
        set(properties.type, AMQP_BASIC_TYPE_FLAG) { c.type = $0 }
        set(properties.userID, AMQP_BASIC_USER_ID_FLAG) { c.user_id = $0 }
        set(properties.appID, AMQP_BASIC_APP_ID_FLAG) { c.app_id = $0 }
        if !properties.headers.isEmpty {
            c.headers = table(properties.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        c.delivery_mode = properties.persistent ? 2 : 1
        flags |= UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        if let priority = properties.priority {
            c.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let timestamp = properties.timestamp {
            c.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        c._flags = flags
        return c
    }
}

// MARK: - Decoding (copies out of rabbitmq-c's buffers, which are recycled after each frame)

extension String {
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else { self = ""; return }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(amqp bytes: amqp_bytes_t) {
        guard bytes.len > 0, let base = bytes.bytes else { self = []; return }
        self = Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }
}

enum CDecode {
    static func table(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        var result: [String: AMQPFieldValue] = [:]
        guard table.num_entries > 0, let entries = table.entries else { return result }
        for index in 0..<Int(table.num_entries) {
            result[String(amqp: entries[index].key)] = field(entries[index].value)
        }
        return result
    }

    static func field(_ field: amqp_field_value_t) -> AMQPFieldValue {
        switch field.kind {
        case UInt8(ascii: "S"): return .string(String(amqp: field.value.bytes))
        case UInt8(ascii: "x"): return .bytes(Array(amqp: field.value.bytes))
        case UInt8(ascii: "t"): return .bool(field.value.boolean != 0)
        case UInt8(ascii: "b"): return .int(Int64(field.value.i8))
        case UInt8(ascii: "B"): return .int(Int64(field.value.u8))
        case UInt8(ascii: "s"): return .int(Int64(field.value.i16))
        case UInt8(ascii: "u"): return .int(Int64(field.value.u16))
        case UInt8(ascii: "I"): return .int(Int64(field.value.i32))
        case UInt8(ascii: "i"): return .int(Int64(field.value.u32))
        case UInt8(ascii: "l"): return .int(field.value.i64)
        case UInt8(ascii: "L"): return .int(Int64(truncatingIfNeeded: field.value.u64))
        case UInt8(ascii: "f"): return .double(Double(field.value.f32))
        case UInt8(ascii: "d"): return .double(field.value.f64)
        case UInt8(ascii: "D"):
            let decimal = field.value.decimal
            var divisor = 1.0
            for _ in 0..<decimal.decimals { divisor *= 10 }
            return .double(Double(decimal.value) / divisor)
        case UInt8(ascii: "T"): return .timestamp(field.value.u64)
        case UInt8(ascii: "F"): return .table(table(field.value.table))
        case UInt8(ascii: "A"):
            let array = field.value.array
            guard array.num_entries > 0, let entries = array.entries else { return .array([]) }
            return .array((0..<Int(array.num_entries)).map { self.field(entries[$0]) })
        default: return .void
        }
    }

    static func properties(_ c: amqp_basic_properties_t) -> AMQPProperties {
        let flags = c._flags
        func has(_ flag: Int32) -> Bool { flags & UInt32(flag) != 0 }
        func string(_ flag: Int32, _ bytes: amqp_bytes_t) -> String? { has(flag) ? String(amqp: bytes) : nil }
        return AMQPProperties(
            contentType: string(AMQP_BASIC_CONTENT_TYPE_FLAG, c.content_type),
            contentEncoding: string(AMQP_BASIC_CONTENT_ENCODING_FLAG, c.content_encoding),
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? table(c.headers) : [:],
            persistent: has(AMQP_BASIC_DELIVERY_MODE_FLAG) && c.delivery_mode == 2,
            priority: has(AMQP_BASIC_PRIORITY_FLAG) ? c.priority : nil,
            correlationID: string(AMQP_BASIC_CORRELATION_ID_FLAG, c.correlation_id),
            replyTo: string(AMQP_BASIC_REPLY_TO_FLAG, c.reply_to),
            expiration: string(AMQP_BASIC_EXPIRATION_FLAG, c.expiration),
            messageID: string(AMQP_BASIC_MESSAGE_ID_FLAG, c.message_id),
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? c.timestamp : nil,
            type: string(AMQP_BASIC_TYPE_FLAG, c.type),
            userID: string(AMQP_BASIC_USER_ID_FLAG, c.user_id),
            appID: string(AMQP_BASIC_APP_ID_FLAG, c.app_id))
    }
}
