import Foundation

/// ARI (RFC 9773): the CA suggests a window in which to renew; a client picks a random
/// moment inside it, so the CA's certificates are not all renewed at the same instant.
public enum RenewalWindow {
    /// The moment inside [START, END] at FRACTION (0…1, clamped) of the way; START when the
    /// window is empty or inverted.
    public static func pick(start: Date, end: Date, fraction: Double) -> Date {
        guard end > start else { return start }
        return start.addingTimeInterval(end.timeIntervalSince(start) * min(max(fraction, 0), 1))
    }
}
