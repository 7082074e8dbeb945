/// A DNS message (RFC 1035 section 4.1). For UPDATE (RFC 2136) the four sections
/// are zone, prerequisites, updates and additional; the field names follow query usage.
public struct DNSMessage: Sendable, Hashable {
    public enum Opcode: UInt8, Sendable { case query = 0, update = 5 }

    public var id: UInt16
    public var isResponse = false
    public var opcode: Opcode = .query
    public var authoritative = false
    public var truncated = false
    public var recursionDesired = false
    public var recursionAvailable = false
    /// The low 4 bits of the RCODE (extended RCODEs need EDNS, which we do not send).
    public var rcode: DNSResponseCode = .noError
    public var questions: [DNSQuestion] = []
    /// Answers; the prerequisite section in UPDATE.
    public var answers: [DNSRecord] = []
    /// Authority; the update section in UPDATE.
    public var authority: [DNSRecord] = []
    public var additional: [DNSRecord] = []

    public init(id: UInt16) {
        self.id = id
    }

    /// A query for NAME/TYPE; `recursive` sets RD (false when asking an authoritative server directly).
    public static func query(_ name: DNSName, _ type: DNSRecordType, id: UInt16 = .random(in: 0...UInt16.max), recursive: Bool) -> DNSMessage {
        var message = DNSMessage(id: id)
        message.recursionDesired = recursive
        message.questions = [DNSQuestion(name: name, type: type)]
        return message
    }

    public func encoded() -> [UInt8] {
        var writer = DNSWriter()
        writer.u16(id)
        var flags: UInt16 = isResponse ? 0x8000 : 0
        flags |= UInt16(opcode.rawValue & 0x0F) << 11
        if authoritative { flags |= 0x0400 }
        if truncated { flags |= 0x0200 }
        if recursionDesired { flags |= 0x0100 }
        if recursionAvailable { flags |= 0x0080 }
        flags |= rcode.rawValue & 0x0F
        writer.u16(flags)
        for count in [questions.count, answers.count, authority.count, additional.count] { writer.u16(UInt16(count)) }
        for question in questions {
            writer.name(question.name)
            writer.u16(question.type.rawValue)
            writer.u16(question.qClass.rawValue)
        }
        for record in answers + authority + additional { record.write(to: &writer) }
        return writer.buffer
    }

    /// Decodes a message; `tsigOffset` of the result says where a trailing TSIG record starts.
    public static func decode(_ bytes: [UInt8]) throws(DNSError) -> DecodedDNSMessage {
        var reader = DNSReader(bytes)
        var message = DNSMessage(id: try reader.u16())
        let flags = try reader.u16()
        message.isResponse = flags & 0x8000 != 0
        guard let opcode = Opcode(rawValue: UInt8(flags >> 11 & 0x0F)) else { throw .malformed("unknown opcode") }
        message.opcode = opcode
        message.authoritative = flags & 0x0400 != 0
        message.truncated = flags & 0x0200 != 0
        message.recursionDesired = flags & 0x0100 != 0
        message.recursionAvailable = flags & 0x0080 != 0
        message.rcode = DNSResponseCode(rawValue: flags & 0x0F)
        let counts = [Int(try reader.u16()), Int(try reader.u16()), Int(try reader.u16()), Int(try reader.u16())]
        for _ in 0..<counts[0] {
            message.questions.append(
                DNSQuestion(
                    name: try reader.name(), type: DNSRecordType(rawValue: try reader.u16()),
                    qClass: DNSClass(rawValue: try reader.u16())))
        }
        for _ in 0..<counts[1] { message.answers.append(try DNSRecord.read(from: &reader)) }
        for _ in 0..<counts[2] { message.authority.append(try DNSRecord.read(from: &reader)) }
        var tsigOffset: Int? = nil
        for index in 0..<counts[3] {
            let start = reader.offset
            let record = try DNSRecord.read(from: &reader)
            if record.type == .tsig {
                // RFC 8945 section 5.2: TSIG must be the last record; elsewhere it is a format error.
                guard index == counts[3] - 1 else { throw .malformed("TSIG record is not the last record") }
                tsigOffset = start
            }
            message.additional.append(record)
        }
        return DecodedDNSMessage(message: message, bytes: bytes, tsigOffset: tsigOffset)
    }

    /// The records of the answer section with TYPE (at any owner name).
    public func answers(_ type: DNSRecordType) -> [DNSRecord] { answers.filter { $0.type == type } }
}

public struct DNSQuestion: Sendable, Hashable {
    public var name: DNSName
    public var type: DNSRecordType
    public var qClass: DNSClass

    public init(name: DNSName, type: DNSRecordType, qClass: DNSClass = .in) {
        self.name = name
        self.type = type
        self.qClass = qClass
    }
}

/// A decoded message with the wire bytes it came from (TSIG verification needs them).
public struct DecodedDNSMessage: Sendable {
    public let message: DNSMessage
    public let bytes: [UInt8]
    /// Where the trailing TSIG record starts, if there is one.
    public let tsigOffset: Int?

    public var tsig: TSIGRecord? {
        guard tsigOffset != nil, case .tsig(let record)? = message.additional.last?.data else { return nil }
        return record
    }
}
