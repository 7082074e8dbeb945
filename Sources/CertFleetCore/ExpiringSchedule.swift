import Foundation

/// When the `expiring` scan must look at a certificate version again.
public enum ExpiringSchedule {
    /// A version with REMAINING seconds left is visited again when it crosses the widest of
    /// THRESHOLDS (days) it has not crossed yet; never (`distantFuture`) once it crossed them
    /// all or ended: only a new version starts over.
    public static func nextCheck(remaining: Double, thresholds: [Int], now: Date) -> Date {
        guard remaining > 0, let next = thresholds.filter({ remaining > Double($0) * 86400 }).max() else { return .distantFuture }
        return now.addingTimeInterval(remaining - Double(next) * 86400)
    }
}
