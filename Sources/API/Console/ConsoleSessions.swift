import Foundation
import X509

/// A signed-in browser: the pasted API key (kept here, in this process's memory only, so it is
/// never sent again after sign-in) and the session's CSRF token.
struct ConsoleSession: Sendable {
    let id: String
    let secret: String
    let csrf: String
    var lastSeen: ContinuousClock.Instant
    let created: ContinuousClock.Instant
}

/// The console's sessions. The browser holds only a random session id in an HttpOnly,
/// SameSite=Strict cookie scoped to /console: a stolen cookie is useless against /v1, expires
/// after `idle` without use (and after `lifetime` in any case), and signing out ends it here.
/// Sessions die with the process; several API replicas need sticky sessions (or a sign-in each).
actor ConsoleSessions {
    private var sessions: [String: ConsoleSession] = [:]
    let idle: Duration
    let lifetime: Duration
    let capacity: Int

    init(idle: Duration = .seconds(30 * 60), lifetime: Duration = .seconds(12 * 3600), capacity: Int = 10_000) {
        self.idle = idle
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// A new session for SECRET (already authenticated by the caller).
    func create(secret: String) -> ConsoleSession {
        let now = ContinuousClock.now
        if sessions.count >= capacity { expire(now: now) }
        if sessions.count >= capacity, let oldest = sessions.values.min(by: { $0.lastSeen < $1.lastSeen }) {
            sessions[oldest.id] = nil
        }
        let session = ConsoleSession(id: Self.token(), secret: secret, csrf: Self.token(), lastSeen: now, created: now)
        sessions[session.id] = session
        return session
    }

    /// The live session ID, its idle clock restarted; nil when unknown or expired.
    func find(_ id: String) -> ConsoleSession? {
        let now = ContinuousClock.now
        guard var session = sessions[id] else { return nil }
        guard now - session.lastSeen < idle, now - session.created < lifetime else {
            sessions[id] = nil
            return nil
        }
        session.lastSeen = now
        sessions[id] = session
        return session
    }

    func end(_ id: String) {
        sessions[id] = nil
    }

    private func expire(now: ContinuousClock.Instant) {
        sessions = sessions.filter { now - $0.value.lastSeen < idle && now - $0.value.created < lifetime }
    }

    /// 32 random bytes from OpenSSL's DRBG, base64url (cookie- and form-safe).
    static func token() -> String { Base64URL.encode(SecureRandom.bytes(32)) }

    /// Compares two tokens in time independent of where they differ.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count, !x.isEmpty else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
