import Foundation
import Hummingbird
import Store

/// `Authorization: Bearer cf_…` → the key's identity, or 401. Also applies the
/// per-key rate limit (429 + Retry-After) and the body cap.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let keys: KeyCache
    let limiter: RateLimiter
    /// Invalid keys per client address (each costs a database query): 429 past the limit.
    let failedAuthentications: RateLimiter
    let bodyLimit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(
                .unauthorized, "unauthorized", "missing API key: send Authorization: Bearer cf_…",
                headers: [.wwwAuthenticate: "Bearer"])
        }
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        if let wait = await failedAuthentications.waitWithoutTaking(id: address, write: true) {
            throw RateLimiter.tooMany(wait, what: "failed authentications from this address")
        }
        let secret = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard secret.hasPrefix("cf_"), secret.count < 200, let key = try await keys.authenticate(secret: secret) else {
            _ = await failedAuthentications.take(id: address, write: true)
            throw APIError(.unauthorized, "unauthorized", "invalid API key", headers: [.wwwAuthenticate: "Bearer"])
        }
        try await limiter.enforce(key: key.id, request: request)
        var context = context
        context.identity = Identity(keyID: key.id, projectID: key.projectID, scopes: Set(key.scopes))
        context.maxUploadSize = bodyLimit
        return try await next(request, context)
    }
}

/// Token buckets per API key, one for reads and one for writes, in this process's
/// memory (so the limits apply per API replica).
actor RateLimiter {
    struct Limit: Sendable {
        /// Tokens added per second.
        var rate: Double
        /// Bucket size (the burst).
        var burst: Double
    }

    private let reads: Limit
    private let writes: Limit
    private var buckets: [String: (tokens: Double, at: ContinuousClock.Instant)] = [:]

    init(reads: Limit, writes: Limit) {
        self.reads = reads
        self.writes = writes
    }

    /// Takes a read or write token for REQUEST, or throws 429 with `Retry-After`.
    func enforce(key: UUID, request: Request, what: String = "") throws {
        let isWrite = request.method != .get && request.method != .head
        if let wait = take(key: key, write: isWrite) {
            throw Self.tooMany(wait, what: "\(isWrite ? "write" : "read") requests\(what) for this API key")
        }
    }

    /// 429 with `Retry-After` for a bucket that is empty for WAIT seconds.
    static func tooMany(_ wait: Double, what: String) -> APIError {
        let seconds = max(1, Int(wait.rounded(.up)))
        return APIError(
            .tooManyRequests, "rate_limited", "too many \(what); retry in \(seconds) s",
            details: [("retry_after", .int(seconds))], headers: [.retryAfter: String(seconds)])
    }

    /// Takes a token; nil when granted, else the seconds until one is available.
    func take(key: UUID, write: Bool) -> Double? {
        take(id: key.uuidString, write: write)
    }

    /// The seconds until bucket ID has a token (nil: it has one now), taking none.
    func waitWithoutTaking(id: String, write: Bool) -> Double? {
        let limit = write ? writes : reads
        guard limit.rate > 0 else { return nil }
        let tokens = refilled("\(id)-\(write)", limit, now: ContinuousClock.now).tokens
        return tokens >= 1 ? nil : (1 - tokens) / limit.rate
    }

    /// Takes a token from bucket ID; nil when granted, else the seconds until one is available.
    func take(id key: String, write: Bool) -> Double? {
        let limit = write ? writes : reads
        guard limit.rate > 0 else { return nil }
        let id = "\(key)-\(write)"
        if buckets.count > 100_000 { buckets.removeAll() }
        var bucket = refilled(id, limit, now: ContinuousClock.now)
        defer { buckets[id] = bucket }
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            return nil
        }
        return (1 - bucket.tokens) / limit.rate
    }

    /// Bucket ID as of NOW: full when new, else topped up by the time since it was last used.
    private func refilled(_ id: String, _ limit: Limit, now: ContinuousClock.Instant) -> (tokens: Double, at: ContinuousClock.Instant) {
        guard let bucket = buckets[id] else { return (limit.burst, now) }
        let elapsed = now - bucket.at
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (min(limit.burst, bucket.tokens + seconds * limit.rate), now)
    }
}
