import Foundation
import Store

/// Authenticated API keys, remembered for a short time so that a request costs one
/// database round trip instead of two. A key revoked through this replica is forgotten
/// at once; other replicas notice within `ttl`. Also keeps `last_used_at` current,
/// written at most once per `touchInterval` per key and off the request's path.
actor KeyCache {
    private struct Entry {
        let key: APIKeys.Key
        let fetchedAt: ContinuousClock.Instant
    }

    private let db: Database
    private let ttl: Duration
    private let touchInterval: Duration
    /// By SHA-256 of the secret, so the secret itself is not kept.
    private var entries: [[UInt8]: Entry] = [:]
    /// Secrets that named no live key, remembered as long as keys are, so a repeated
    /// invalid key costs no query (a key is never created with a secret tried before it).
    private var misses: [[UInt8]: ContinuousClock.Instant] = [:]
    private var touchedAt: [UUID: ContinuousClock.Instant] = [:]

    init(db: Database, ttl: Duration = .seconds(5), touchInterval: Duration = .seconds(60)) {
        self.db = db
        self.ttl = ttl
        self.touchInterval = touchInterval
    }

    /// The live key whose secret is SECRET, or nil.
    func authenticate(secret: String) async throws -> APIKeys.Key? {
        let hash = APIKeys.hash(secret)
        let now = ContinuousClock.now
        let key: APIKeys.Key
        if let entry = entries[hash], now - entry.fetchedAt < ttl {
            key = entry.key
        } else {
            if let missed = misses[hash], now - missed < ttl { return nil }
            guard let fresh = try await APIKeys.authenticate(db, secret: secret) else {
                entries[hash] = nil
                if misses.count > 10_000 { misses.removeAll() }
                misses[hash] = now
                return nil
            }
            key = fresh
            if entries.count > 10_000 { entries.removeAll() }
            entries[hash] = Entry(key: fresh, fetchedAt: now)
        }
        touch(key.id, now: now)
        return key
    }

    /// Forgets key ID (after it was revoked).
    func forget(_ id: UUID) {
        entries = entries.filter { $0.value.key.id != id }
    }

    private func touch(_ id: UUID, now: ContinuousClock.Instant) {
        if let last = touchedAt[id], now - last < touchInterval { return }
        touchedAt[id] = now
        let db = db
        Task.detached { try? await APIKeys.touch(db, id: id) }
    }
}
