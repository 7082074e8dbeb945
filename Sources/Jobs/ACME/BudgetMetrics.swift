import CertFleetCore
import Metrics
import Store

/// `certfleet_issuance_budget_total{ca, outcome, limit}`: the issuance budget's answers per CA,
/// `reserved` (a new order may spend the CA's limits) or `deferred` (with the limit that is spent):
/// how much of each CA's budget the fleet uses, and when it runs into it.
enum BudgetMetrics {
    static func record(ca: String, deferral: IssuanceDeferral?) {
        let dimensions = [("ca", ca), ("outcome", deferral == nil ? "reserved" : "deferred"), ("limit", deferral?.limit.rawValue ?? "")]
        Counter(label: "certfleet_issuance_budget_total", dimensions: dimensions).increment()
    }
}
