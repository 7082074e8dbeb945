import NIOCore
import NIOPosix

/// Sends one message and returns the matching response: UDP first, TCP when the
/// answer is truncated (RFC 7766) or when asked to. Every exchange ends within `timeout`.
public struct DNSTransport: Sendable {
    public var timeout: Duration

    public init(timeout: Duration = .seconds(5)) {
        self.timeout = timeout
    }

    /// Sends BYTES (a complete message with id ID) to SERVER.
    public func exchange(_ bytes: [UInt8], id: UInt16, server: DNSServer, tcp: Bool = false) async throws(DNSError) -> DecodedDNSMessage {
        let timeout = self.timeout
        do {
            return try await Self.within(timeout, server: server) {
                if !tcp {
                    let answer = try await Self.udp(bytes, id: id, server: server, resendEvery: max(timeout / 3, .milliseconds(300)))
                    if !answer.message.truncated { return answer }
                }
                return try await Self.tcp(bytes, id: id, server: server)
            }
        } catch let error as DNSError {
            throw error
        } catch {
            throw .unreachable(server: server.description, reason: "\(error)")
        }
    }

    private static func within<T: Sendable>(
        _ timeout: Duration, server: DNSServer,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw DNSError.timeout(server: server.description) }
            return value
        }
    }

    private static func address(_ server: DNSServer) throws -> SocketAddress {
        try SocketAddress.makeAddressResolvingHost(server.host, port: server.port)
    }

    /// Sends over UDP and resends every RESENDEVERY until an answer comes (a lost datagram, or a
    /// server busy at that moment, costs one interval, not the whole timeout); queries and our
    /// UPDATEs (add or delete one value) are idempotent, so a repeat changes nothing.
    private static func udp(_ bytes: [UInt8], id: UInt16, server: DNSServer, resendEvery: Duration) async throws -> DecodedDNSMessage {
        let remote = try address(server)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let datagram = AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: bytes))
            try await outbound.write(datagram)
            return try await withThrowingTaskGroup(of: DecodedDNSMessage?.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: resendEvery)
                        try await outbound.write(datagram)
                    }
                }
                group.addTask {
                    for try await envelope in inbound where envelope.remoteAddress == remote {
                        // Anything that is not the answer to this id (late or spoofed datagrams) is ignored.
                        let data = Array(envelope.data.readableBytesView)
                        guard data.count >= 12, UInt16(data[0]) << 8 | UInt16(data[1]) == id, data[2] & 0x80 != 0 else { continue }
                        return try DNSMessage.decode(data)
                    }
                    return nil
                }
                defer { group.cancelAll() }
                while let result = try await group.next() {
                    if let answer = result { return answer }
                    break
                }
                throw DNSError.unreachable(server: server.description, reason: "the UDP socket closed")
            }
        }
    }

    private static func tcp(_ bytes: [UInt8], id: UInt16, server: DNSServer) async throws -> DecodedDNSMessage {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: server.host, port: server.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var frame = ByteBuffer()
            frame.writeInteger(UInt16(bytes.count))
            frame.writeBytes(bytes)
            try await outbound.write(frame)
            var received = ByteBuffer()
            for try await var chunk in inbound {
                received.writeBuffer(&chunk)
                guard let length = received.getInteger(at: received.readerIndex, as: UInt16.self),
                    received.readableBytes >= 2 + Int(length)
                else { continue }
                let data = Array(received.readableBytesView.dropFirst(2).prefix(Int(length)))
                let decoded = try DNSMessage.decode(data)
                guard decoded.message.id == id else { throw DNSError.malformed("TCP answer for another message id") }
                return decoded
            }
            throw DNSError.unreachable(server: server.description, reason: "the server closed the TCP connection without an answer")
        }
    }
}
