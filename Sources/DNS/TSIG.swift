import Foundation
import X509

/// A TSIG key (RFC 8945): a name shared with the server, an HMAC algorithm and the secret.
/// `description` never shows the secret.
public struct TSIGKey: Sendable, CustomStringConvertible {
    public enum Algorithm: String, Sendable, CaseIterable, Codable {
        case hmacSHA256 = "hmac-sha256"
        case hmacSHA512 = "hmac-sha512"

        var name: DNSName { DNSName(labels: [Array(rawValue.utf8)]) }

        func mac(key: [UInt8], data: [UInt8]) -> [UInt8] {
            switch self {
            case .hmacSHA256: return Digest.hmacSHA256(key: key, data: data)
            case .hmacSHA512: return Digest.hmacSHA512(key: key, data: data)
            }
        }
    }

    public let name: DNSName
    public let algorithm: Algorithm
    let secret: [UInt8]

    public init(name: DNSName, algorithm: Algorithm, secret: [UInt8]) {
        self.name = name
        self.algorithm = algorithm
        self.secret = secret
    }

    /// A key from its base64 secret (as in `named.conf` / `nsupdate -y`); nil when not base64.
    public init?(name: String, algorithm: Algorithm, base64Secret: String) {
        guard let secret = Data(base64Encoded: base64Secret.trimmingCharacters(in: .whitespacesAndNewlines)), !secret.isEmpty,
            let name = try? DNSName(name)
        else { return nil }
        self.init(name: name, algorithm: algorithm, secret: Array(secret))
    }

    public var description: String { "TSIG key \(name) (\(algorithm.rawValue))" }
}

/// The RDATA of a TSIG record (RFC 8945 section 4.2).
public struct TSIGRecord: Sendable, Hashable {
    public var algorithm: DNSName
    /// Seconds since the epoch (48 bits).
    public var timeSigned: UInt64
    public var fudge: UInt16
    public var mac: [UInt8]
    public var originalID: UInt16
    public var error: DNSResponseCode
    public var otherData: [UInt8]

    func write(to writer: inout DNSWriter) {
        writer.name(algorithm)
        writer.u48(timeSigned)
        writer.u16(fudge)
        writer.u16(UInt16(mac.count))
        writer.bytes(mac)
        writer.u16(originalID)
        writer.u16(error.rawValue)
        writer.u16(UInt16(otherData.count))
        writer.bytes(otherData)
    }

    static func read(from reader: inout DNSReader) throws(DNSError) -> TSIGRecord {
        let algorithm = try reader.name()
        let time = try reader.u48(), fudge = try reader.u16()
        let mac = try reader.bytes(Int(try reader.u16()))
        let original = try reader.u16(), error = DNSResponseCode(rawValue: try reader.u16())
        let other = try reader.bytes(Int(try reader.u16()))
        return TSIGRecord(algorithm: algorithm, timeSigned: time, fudge: fudge, mac: mac, originalID: original, error: error, otherData: other)
    }

    /// The "TSIG variables" that follow the message in the MAC input (section 4.3.3).
    func variables(keyName: DNSName) -> [UInt8] {
        var writer = DNSWriter()
        writer.name(keyName.lowercased)
        writer.u16(DNSClass.any.rawValue)
        writer.u32(0)
        writer.name(algorithm.lowercased)
        writer.u48(timeSigned)
        writer.u16(fudge)
        writer.u16(error.rawValue)
        writer.u16(UInt16(otherData.count))
        writer.bytes(otherData)
        return writer.buffer
    }
}

/// Signs requests and verifies responses with a TSIG key.
public enum TSIG {
    public static let defaultFudge: UInt16 = 300

    /// The wire bytes of MESSAGE with a TSIG record appended, and the request MAC
    /// (needed to verify the response).
    public static func sign(_ message: DNSMessage, key: TSIGKey, now: Date = Date()) -> (bytes: [UInt8], mac: [UInt8]) {
        var record = TSIGRecord(
            algorithm: key.algorithm.name, timeSigned: UInt64(now.timeIntervalSince1970), fudge: defaultFudge,
            mac: [], originalID: message.id, error: .noError, otherData: [])
        let unsigned = message.encoded()
        record.mac = key.algorithm.mac(key: key.secret, data: unsigned + record.variables(keyName: key.name))
        var signed = message
        signed.additional.append(DNSRecord(name: key.name, type: .tsig, rrClass: .any, ttl: 0, data: .tsig(record)))
        return (signed.encoded(), record.mac)
    }

    /// Checks RESPONSE's TSIG against the request's MAC (nil to check a signed request): throws `tsigRejected` when the
    /// server reports a TSIG error (BADKEY/BADSIG/BADTIME), `tsigInvalid` when the
    /// response is unsigned, signed by another key or its MAC/time is wrong.
    public static func verify(
        _ response: DecodedDNSMessage, requestMAC: [UInt8]?, key: TSIGKey, server: String,
        now: Date = Date()
    ) throws(DNSError) {
        guard let offset = response.tsigOffset, let record = response.tsig, let owner = response.message.additional.last?.name else {
            // A server that did not understand or accept the key answers NOTAUTH without TSIG.
            throw .tsigInvalid(server: server, reason: "the response is not signed (RCODE \(response.message.rcode.name))")
        }
        if record.error != .noError { throw .tsigRejected(record.error, server: server) }
        guard owner == key.name, record.algorithm == key.algorithm.name else {
            throw .tsigInvalid(server: server, reason: "signed with another key or algorithm")
        }
        var stripped = Array(response.bytes[0..<offset])
        stripped[0] = UInt8(record.originalID >> 8)
        stripped[1] = UInt8(record.originalID & 0xFF)
        let count = (UInt16(stripped[10]) << 8 | UInt16(stripped[11])) - 1
        stripped[10] = UInt8(count >> 8)
        stripped[11] = UInt8(count & 0xFF)
        var input = DNSWriter()
        // A response's MAC covers the request's MAC first; a request (nil) has none.
        if let requestMAC {
            input.u16(UInt16(requestMAC.count))
            input.bytes(requestMAC)
        }
        input.bytes(stripped)
        input.bytes(record.variables(keyName: owner))
        let expected = key.algorithm.mac(key: key.secret, data: input.buffer)
        guard record.mac.count == expected.count, zip(record.mac, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw .tsigInvalid(server: server, reason: "the MAC does not verify")
        }
        let skew = abs(Int64(now.timeIntervalSince1970) - Int64(record.timeSigned))
        guard skew <= Int64(record.fudge) else { throw .tsigInvalid(server: server, reason: "time signed is \(skew) s off") }
    }
}
