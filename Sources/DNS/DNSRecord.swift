/// One resource record. `data` is decoded for the types CertFleet uses and kept raw otherwise.
public struct DNSRecord: Sendable, Hashable {
    public var name: DNSName
    public var type: DNSRecordType
    public var rrClass: DNSClass
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, type: DNSRecordType, rrClass: DNSClass = .in, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.rrClass = rrClass
        self.ttl = ttl
        self.data = data
    }

    /// A TXT record of one string value (split into 255-octet strings when longer).
    public static func txt(_ name: DNSName, _ value: String, ttl: UInt32 = 60) -> DNSRecord {
        DNSRecord(name: name, type: .txt, ttl: ttl, data: .txt(DNSRecordData.chunks(value)))
    }

    func write(to writer: inout DNSWriter) {
        writer.name(name)
        writer.u16(type.rawValue)
        writer.u16(rrClass.rawValue)
        writer.u32(ttl)
        var rdata = DNSWriter()
        data.write(to: &rdata)
        writer.u16(UInt16(rdata.buffer.count))
        writer.bytes(rdata.buffer)
    }

    static func read(from reader: inout DNSReader) throws(DNSError) -> DNSRecord {
        let name = try reader.name()
        let type = DNSRecordType(rawValue: try reader.u16())
        let rrClass = DNSClass(rawValue: try reader.u16())
        let ttl = try reader.u32()
        let length = Int(try reader.u16())
        guard length <= reader.remaining else { throw .malformed("RDATA runs past the message") }
        let end = reader.offset + length
        let data = try DNSRecordData.read(type: type, length: length, from: &reader)
        guard reader.offset == end else { throw .malformed("\(type) RDATA length mismatch") }
        return DNSRecord(name: name, type: type, rrClass: rrClass, ttl: ttl, data: data)
    }
}

/// The RDATA of a record.
public enum DNSRecordData: Sendable, Hashable {
    case a([UInt8])
    case aaaa([UInt8])
    case ns(DNSName)
    case cname(DNSName)
    case soa(DNSSOA)
    /// The character-strings of one TXT record.
    case txt([[UInt8]])
    case caa(DNSCAA)
    case tsig(TSIGRecord)
    /// Empty RDATA (UPDATE deletes, RFC 2136 section 2.5.2/2.5.3).
    case empty
    case raw([UInt8])

    /// The joined strings of a TXT record.
    public var text: String? {
        if case .txt(let strings) = self { return String(decoding: strings.joined(), as: UTF8.self) }
        return nil
    }

    static func chunks(_ value: String) -> [[UInt8]] {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { return [[]] }
        return stride(from: 0, to: bytes.count, by: 255).map { Array(bytes[$0..<min($0 + 255, bytes.count)]) }
    }

    func write(to writer: inout DNSWriter) {
        switch self {
        case .a(let bytes), .aaaa(let bytes), .raw(let bytes): writer.bytes(bytes)
        case .ns(let name), .cname(let name): writer.name(name)
        case .soa(let soa):
            writer.name(soa.primary)
            writer.name(soa.mailbox)
            for value in [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum] { writer.u32(value) }
        case .txt(let strings):
            for string in strings {
                writer.byte(UInt8(string.count))
                writer.bytes(string)
            }
        case .caa(let caa):
            writer.byte(caa.flags)
            writer.byte(UInt8(caa.tag.utf8.count))
            writer.bytes(Array(caa.tag.utf8))
            writer.bytes(Array(caa.value.utf8))
        case .tsig(let tsig): tsig.write(to: &writer)
        case .empty: break
        }
    }

    static func read(type: DNSRecordType, length: Int, from reader: inout DNSReader) throws(DNSError) -> DNSRecordData {
        let end = reader.offset + length
        if length == 0 && type != .txt { return .empty }
        switch type {
        case .a:
            guard length == 4 else { throw .malformed("A RDATA of \(length) octets") }
            return .a(try reader.bytes(4))
        case .aaaa:
            guard length == 16 else { throw .malformed("AAAA RDATA of \(length) octets") }
            return .aaaa(try reader.bytes(16))
        case .ns: return .ns(try reader.name())
        case .cname: return .cname(try reader.name())
        case .soa:
            let primary = try reader.name(), mailbox = try reader.name()
            return .soa(
                DNSSOA(
                    primary: primary, mailbox: mailbox, serial: try reader.u32(), refresh: try reader.u32(),
                    retry: try reader.u32(), expire: try reader.u32(), minimum: try reader.u32()))
        case .txt:
            var strings: [[UInt8]] = []
            while reader.offset < end {
                let count = Int(try reader.byte())
                guard reader.offset + count <= end else { throw .malformed("TXT string runs past its RDATA") }
                strings.append(try reader.bytes(count))
            }
            return .txt(strings)
        case .caa:
            let flags = try reader.byte()
            let tagLength = Int(try reader.byte())
            guard tagLength > 0, reader.offset + tagLength <= end else { throw .malformed("CAA tag length") }
            let tag = try reader.bytes(tagLength)
            let value = try reader.bytes(end - reader.offset)
            return .caa(DNSCAA(flags: flags, tag: String(decoding: tag, as: UTF8.self), value: String(decoding: value, as: UTF8.self)))
        case .tsig: return .tsig(try TSIGRecord.read(from: &reader))
        default: return .raw(try reader.bytes(length))
        }
    }
}

public struct DNSSOA: Sendable, Hashable {
    public var primary: DNSName
    public var mailbox: DNSName
    public var serial, refresh, retry, expire, minimum: UInt32
}

/// A CAA record (RFC 8659): `0 issue "letsencrypt.org"`.
public struct DNSCAA: Sendable, Hashable {
    public var flags: UInt8
    public var tag: String
    public var value: String

    public init(flags: UInt8, tag: String, value: String) {
        self.flags = flags
        self.tag = tag
        self.value = value
    }

    /// The critical flag (bit 0, value 128).
    public var critical: Bool { flags & 0x80 != 0 }
}
