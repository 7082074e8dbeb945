import Foundation

/// What a deliver job does, decided from what the target holds and what is current.
/// A deliver job always offers the certificate's *current* version: a job that waited
/// through a retry delivers the newest one, never the version it was created for.
public enum DeliveryPlan: Sendable, Equatable {
    /// The target already holds this version: nothing to send (a replay after a crash).
    case upToDate(version: Int)
    /// Send VERSION.
    case deliver(version: Int)
    /// The target holds a newer version than the current one: refused, never downgraded.
    case refuseDowngrade(held: Int, offered: Int)
    /// The certificate has no valid version yet.
    case nothingValid

    public static func decide(held: Int?, current: Int?) -> DeliveryPlan {
        guard let current else { return .nothingValid }
        guard let held else { return .deliver(version: current) }
        if held == current { return .upToDate(version: current) }
        if held > current { return .refuseDowngrade(held: held, offered: current) }
        return .deliver(version: current)
    }
}

/// When a failed delivery is tried again: exponential backoff (full jitter in [½, 1] of
/// the ceiling, so a slow target is not hammered) until a deadline after the first
/// attempt — 24 h for every kind (a webhook receiver down for a day is the design case) —
/// then the delivery is given up and recorded as a dead letter.
public struct DeliveryRetryPolicy: Sendable, Equatable {
    public var backoff: BackoffPolicy
    public var giveUpAfter: Duration

    public static let standard = DeliveryRetryPolicy(backoff: BackoffPolicy(base: .seconds(2), cap: .seconds(3600)), giveUpAfter: .seconds(24 * 3600))

    public init(backoff: BackoffPolicy, giveUpAfter: Duration) {
        self.backoff = backoff
        self.giveUpAfter = giveUpAfter
    }

    public enum Decision: Sendable, Equatable {
        case retry(at: Date)
        case giveUp
    }

    /// After ATTEMPT (1-based) failed with FAILURE, first tried at FIRSTATTEMPT.
    public func decide(
        _ failure: DeliveryFailure, attempt: Int, firstAttempt: Date, now: Date,
        random: () -> Double = { Double.random(in: 0...1) }
    ) -> Decision {
        guard failure.isTransient else { return .giveUp }
        let seconds = Double(giveUpAfter.components.seconds)
        let deadline = firstAttempt.addingTimeInterval(seconds)
        let half = { 0.5 + 0.5 * min(max(random(), 0), 1) }
        guard let next = backoff.nextAttempt(after: attempt, now: now, deadline: deadline, random: half) else { return .giveUp }
        return .retry(at: next)
    }

    /// Attempts a deliver job may use: enough that the deadline, not the count, ends it.
    public var maxAttempts: Int { 64 }
}
