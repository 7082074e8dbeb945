import Synchronization

/// Replay nonces (RFC 8555 section 7.2). Every response carries a fresh one; the
/// pool keeps them so a request needs a HEAD to `newNonce` only when it is empty.
final class NoncePool: Sendable {
    private let nonces = Mutex<[String]>([])
    /// Nonces expire on the server; keeping many only wastes them.
    static let capacity = 32

    /// A nonce from the pool, or nil when it is empty.
    func take() -> String? {
        nonces.withLock { $0.popLast() }
    }

    func add(_ nonce: String?) {
        guard let nonce, !nonce.isEmpty else { return }
        nonces.withLock { pool in
            pool.append(nonce)
            if pool.count > Self.capacity { pool.removeFirst(pool.count - Self.capacity) }
        }
    }

    func removeAll() { nonces.withLock { $0.removeAll() } }
}

extension ACMEClient {
    /// A nonce from the pool or a new one from `newNonce`.
    func nonce() async throws(ACMEError) -> String {
        if let nonce = nonces.take() { return nonce }
        let directory = try await directory()
        let reply = try await transport.send(.HEAD, directory.newNonce, action: .newNonce)
        guard reply.status == 200 || reply.status == 204, let nonce = reply.header("Replay-Nonce") else {
            throw .unexpectedResponse(status: reply.status, url: directory.newNonce, reason: "no Replay-Nonce")
        }
        return nonce
    }
}
