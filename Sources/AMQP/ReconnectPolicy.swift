/// Exponential backoff between reconnect attempts, with jitter so a fleet of
/// workers does not reconnect in lockstep after a broker restart.
/// A pure function of the attempt number; the connection only sleeps.
public struct ReconnectPolicy: Sendable, Hashable {
    public var initialDelay: Duration
    public var maximumDelay: Duration
    public var multiplier: Double
    /// Fraction of the delay that is randomised (0.2 → ±20 %).
    public var jitter: Double

    public init(
        initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(5),
        multiplier: Double = 2, jitter: Double = 0.2
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// The delay before reconnect attempt `attempt` (0 = the first retry).
    /// `random` is a value in 0…1, passed in so the function stays testable.
    public func delay(attempt: Int, random: Double) -> Duration {
        let base = initialDelay.seconds * pow2(multiplier, attempt)
        let capped = min(base, maximumDelay.seconds)
        let factor = 1 + jitter * (2 * min(max(random, 0), 1) - 1)
        return .nanoseconds(Int64((max(0, capped * factor) * 1e9).rounded()))
    }

    private func pow2(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<min(max(exponent, 0), 64) { result *= base }
        return result
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
