import NIOCore
import NIOPosix

/// Asks one DNS server for TXT records over UDP: the propagation check of
/// dns-01 (the manual mode waits on it). Pointed at the CA's resolver in
/// tests (pebble-challtestsrv), at a public or authoritative one in production.
public struct DNSTXTResolver: Sendable {
    public let host: String
    public let port: Int
    public var timeout: Duration

    public init(host: String, port: Int = 53, timeout: Duration = .seconds(3)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Parses `host:port` (`[v6]:port` for IPv6), port 53 when absent.
    public init?(server: String, timeout: Duration = .seconds(3)) {
        if server.hasPrefix("["), let close = server.firstIndex(of: "]") {
            let host = String(server[server.index(after: server.startIndex)..<close])
            let rest = server[server.index(after: close)...]
            guard rest.isEmpty || rest.hasPrefix(":"), let port = rest.isEmpty ? 53 : Int(rest.dropFirst()) else { return nil }
            self.init(host: host, port: port, timeout: timeout)
        } else if let colon = server.lastIndex(of: ":"), server.firstIndex(of: ":") == colon {
            guard let port = Int(server[server.index(after: colon)...]) else { return nil }
            self.init(host: String(server[..<colon]), port: port, timeout: timeout)
        } else {
            self.init(host: server, port: 53, timeout: timeout)
        }
    }

    /// The TXT strings of `name` (each record's strings joined); empty for NXDOMAIN/no data.
    public func txtRecords(_ name: String) async throws -> [String] {
        let id = UInt16.random(in: 0...UInt16.max)
        let query = try DNSMessage.query(id: id, name: name, type: DNSMessage.txt)
        let remote = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        let timeout = self.timeout
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: query)))
            return try await withThrowingTaskGroup(of: [String]?.self) { group in
                group.addTask {
                    for try await envelope in inbound {
                        if let answer = DNSMessage.txtAnswers(Array(envelope.data.readableBytesView), id: id) { return answer }
                    }
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                let first = try await group.next() ?? nil
                group.cancelAll()
                guard let first else { throw ACMEError.timedOut(what: "DNS answer from \(host):\(port)", retryAfterSeconds: nil) }
                return first
            }
        }
    }
}

/// Just enough of RFC 1035 to ask for TXT records and read the answers.
enum DNSMessage {
    static let txt: UInt16 = 16

    static func query(id: UInt16, name: String, type: UInt16) throws(ACMEError) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]  // RD, QDCOUNT 1
        for label in name.split(separator: ".") {
            let utf8 = Array(label.utf8)
            guard !utf8.isEmpty, utf8.count < 64 else { throw .invalidState("invalid DNS name \(name)") }
            bytes.append(UInt8(utf8.count))
            bytes += utf8
        }
        bytes += [0, UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]  // root, QTYPE, QCLASS IN
        return bytes
    }

    /// The TXT answers of a response to query `id`; nil when it is not that response or malformed.
    static func txtAnswers(_ message: [UInt8], id: UInt16) -> [String]? {
        guard message.count >= 12, UInt16(message[0]) << 8 | UInt16(message[1]) == id, message[2] & 0x80 != 0 else { return nil }
        let rcode = message[3] & 0x0F
        if rcode == 3 { return [] }  // NXDOMAIN
        guard rcode == 0 else { return nil }
        let questions = Int(message[4]) << 8 | Int(message[5])
        let answers = Int(message[6]) << 8 | Int(message[7])
        var offset = 12
        for _ in 0..<questions {
            guard let end = skipName(message, offset) else { return nil }
            offset = end + 4
        }
        var result: [String] = []
        for _ in 0..<answers {
            guard let end = skipName(message, offset), end + 10 <= message.count else { return nil }
            let type = UInt16(message[end]) << 8 | UInt16(message[end + 1])
            let length = Int(message[end + 8]) << 8 | Int(message[end + 9])
            let start = end + 10
            guard start + length <= message.count else { return nil }
            if type == txt {
                var text: [UInt8] = []
                var cursor = start
                while cursor < start + length {
                    let count = Int(message[cursor])
                    guard cursor + 1 + count <= start + length else { return nil }
                    text += message[(cursor + 1)..<(cursor + 1 + count)]
                    cursor += 1 + count
                }
                result.append(String(decoding: text, as: UTF8.self))
            }
            offset = start + length
        }
        return result
    }

    /// The offset after a (possibly compressed) name.
    private static func skipName(_ message: [UInt8], _ start: Int) -> Int? {
        var offset = start
        while offset < message.count {
            let length = Int(message[offset])
            if length == 0 { return offset + 1 }
            if length & 0xC0 == 0xC0 { return offset + 2 <= message.count ? offset + 2 : nil }
            offset += 1 + length
        }
        return nil
    }
}
