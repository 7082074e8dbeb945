import CertFleetCore
import Foundation
import Metrics

/// `certfleet_delivery_*`: per target kind, what was delivered, how long it took, and how
/// long after the version became valid it reached the target.
public struct DeliveryMetrics: Sendable {
    public init() {}

    func delivered(kind: DeliveryTargetKind, duration: Duration, since validSince: Date?) {
        Counter(label: "certfleet_delivery_total", dimensions: [("kind", kind.rawValue), ("outcome", "delivered")]).increment()
        Timer(label: "certfleet_delivery_duration_seconds", dimensions: [("kind", kind.rawValue)]).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
        if let validSince {
            Recorder(label: "certfleet_delivery_lag_seconds", dimensions: [("kind", kind.rawValue)])
                .record(Date().timeIntervalSince(validSince))
        }
    }

    func attemptFailed(kind: DeliveryTargetKind?, code: String) {
        Counter(label: "certfleet_delivery_attempt_failures_total", dimensions: [("kind", kind?.rawValue ?? "-"), ("code", code)]).increment()
    }

    func gaveUp(kind: DeliveryTargetKind?, code: String) {
        Counter(label: "certfleet_delivery_total", dimensions: [("kind", kind?.rawValue ?? "-"), ("outcome", "failed")]).increment()
        Counter(label: "certfleet_delivery_failed_total", dimensions: [("kind", kind?.rawValue ?? "-"), ("code", code)]).increment()
    }
}
