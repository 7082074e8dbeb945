import Foundation

/// Exponential backoff with full jitter: the wait before attempt n+1 is uniform in
/// [0, min(cap, base · 2^(n-1))], so retries of many jobs spread out instead of
/// arriving together. Never schedules past a deadline (e.g. a certificate's `not_after`).
public struct BackoffPolicy: Sendable, Equatable, Codable {
    /// The ceiling of the first wait.
    public var base: Duration
    /// The largest wait.
    public var cap: Duration

    /// Between tries of a failing automatic renewal: a ceiling of 2 h doubling to 32 h; the
    /// renewal scan draws in [½, 1] of it, so the first retry comes after 1–2 h and none
    /// later than 32 h (and never past `not_after`).
    public static let renewal = BackoffPolicy(base: .seconds(2 * 3600), cap: .seconds(32 * 3600))

    public init(base: Duration = .seconds(5), cap: Duration = .seconds(3600)) {
        precondition(base > .zero && cap >= base, "backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
    }

    /// The upper bound of the wait after ATTEMPT failed attempts (1-based).
    public func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 62)
        let base = Double(self.base.components.seconds) + Double(self.base.components.attoseconds) / 1e18
        let cap = Double(self.cap.components.seconds) + Double(self.cap.components.attoseconds) / 1e18
        return .milliseconds(Int64(min(cap, base * pow(2, Double(exponent))) * 1000))
    }

    /// The wait after ATTEMPT failed attempts; RANDOM returns a fraction in [0, 1].
    public func delay(afterAttempt attempt: Int, random: () -> Double = { Double.random(in: 0...1) }) -> Duration {
        let fraction = min(max(random(), 0), 1)
        return ceiling(afterAttempt: attempt) * fraction
    }

    /// When to try next, or nil when that would not be before DEADLINE (give up instead).
    /// A server-given `Retry-After` is honoured as a lower bound.
    public func nextAttempt(
        after attempt: Int, now: Date, deadline: Date? = nil, retryAfter: Duration? = nil,
        random: () -> Double = { Double.random(in: 0...1) }
    ) -> Date? {
        var wait = delay(afterAttempt: attempt, random: random)
        if let retryAfter, retryAfter > wait { wait = retryAfter }
        let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
        let next = now.addingTimeInterval(seconds)
        if let deadline, next >= deadline { return nil }
        return next
    }
}
