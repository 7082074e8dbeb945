/// Appends big-endian DNS wire data.
struct DNSWriter {
    var buffer: [UInt8] = []

    mutating func byte(_ value: UInt8) { buffer.append(value) }
    mutating func bytes<C: Collection>(_ values: C) where C.Element == UInt8 { buffer.append(contentsOf: values) }
    mutating func u16(_ value: UInt16) { buffer += [UInt8(value >> 8), UInt8(value & 0xFF)] }
    mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xFFFF)) }
    mutating func u48(_ value: UInt64) { u16(UInt16(value >> 32 & 0xFFFF)); u32(UInt32(value & 0xFFFF_FFFF)) }
    mutating func name(_ name: DNSName) { name.write(to: &self) }
}

/// Reads DNS wire data with bounds checks; every failure is `DNSError.malformed`.
struct DNSReader {
    let message: [UInt8]
    var offset: Int

    init(_ message: [UInt8], offset: Int = 0) {
        self.message = message
        self.offset = offset
    }

    var remaining: Int { message.count - offset }

    mutating func byte() throws(DNSError) -> UInt8 {
        guard offset < message.count else { throw .malformed("message ends early") }
        defer { offset += 1 }
        return message[offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 { UInt16(try byte()) << 8 | UInt16(try byte()) }
    mutating func u32() throws(DNSError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }
    mutating func u48() throws(DNSError) -> UInt64 { UInt64(try u16()) << 32 | UInt64(try u32()) }

    mutating func bytes(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count >= 0, offset + count <= message.count else { throw .malformed("message ends early") }
        defer { offset += count }
        return Array(message[offset..<offset + count])
    }

    /// A name, following compression pointers (RFC 1035 section 4.1.4); pointers must point
    /// backwards, which also rules out loops.
    mutating func name() throws(DNSError) -> DNSName {
        var labels: [[UInt8]] = []
        var cursor = offset
        var jumped = false
        var limit = cursor
        var length = 1
        while true {
            guard cursor < message.count else { throw .malformed("name runs past the message") }
            let count = Int(message[cursor])
            if count & 0xC0 == 0xC0 {
                guard cursor + 1 < message.count else { throw .malformed("truncated compression pointer") }
                let target = (count & 0x3F) << 8 | Int(message[cursor + 1])
                guard target < limit else { throw .malformed("compression pointer does not point backwards") }
                if !jumped { offset = cursor + 2 }
                jumped = true
                limit = target
                cursor = target
                continue
            }
            guard count & 0xC0 == 0 else { throw .malformed("unknown label type") }
            if count == 0 {
                if !jumped { offset = cursor + 1 }
                return DNSName(labels: labels)
            }
            guard cursor + 1 + count <= message.count else { throw .malformed("label runs past the message") }
            length += 1 + count
            guard length <= 255 else { throw .malformed("name longer than 255 octets") }
            labels.append(Array(message[(cursor + 1)...(cursor + count)]))
            cursor += 1 + count
        }
    }
}
