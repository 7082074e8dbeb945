import Metrics

/// What an ACME request does, the `action` label of CertFleet's ACME client metrics: a fixed
/// set, never the URL (URLs carry order, authorization and certificate ids: one series each
/// would grow without bound, the cardinality bug cert-manager had to fix).
public enum ACMEAction: String, Sendable, CaseIterable {
    case directory
    case newNonce = "new_nonce"
    case newAccount = "new_account"
    case account
    case keyChange = "key_change"
    case newOrder = "new_order"
    case order
    case authorization
    case challenge
    case finalize
    case certificate
    case revoke
    case renewalInfo = "renewal_info"
}

/// `certfleet_acme_client_requests_total` and `certfleet_acme_client_request_duration_seconds`
/// by CA (directory URL), action, method and status (the HTTP status, or `error` when no answer
/// came), through swift-metrics: the worker's `--metrics-port` serves them.
struct ACMERequestMetrics: Sendable {
    let ca: String

    func record(_ action: ACMEAction, method: String, status: Int?, duration: Duration) {
        let dimensions = [("ca", ca), ("action", action.rawValue), ("method", method), ("status", status.map(String.init) ?? "error")]
        Counter(label: "certfleet_acme_client_requests_total", dimensions: dimensions).increment()
        Timer(label: "certfleet_acme_client_request_duration_seconds", dimensions: dimensions).recordNanoseconds(
            duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// `certfleet_acme_challenges_total{ca, type, status}`: how the CA's validation of each
/// challenge CertFleet presented ended (`valid`, `invalid`, `timed_out`, `error`). Reused
/// authorizations count nothing: no challenge was solved for them.
struct ACMEChallengeMetrics: Sendable {
    let ca: String

    func record(_ type: ChallengeType, ending error: (any Error)?) {
        var status = "valid"
        if let error {
            switch error as? ACMEError {
            case .orderInvalid?: status = "invalid"
            case .timedOut?: status = "timed_out"
            default: status = "error"
            }
        }
        Counter(label: "certfleet_acme_challenges_total", dimensions: [("ca", ca), ("type", type.rawValue), ("status", status)]).increment()
    }
}
