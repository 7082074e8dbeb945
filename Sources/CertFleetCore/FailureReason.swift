/// Why a job failed, retries or waits: the one vocabulary of reasons, each with the stable
/// code the API, events, metrics and the job row carry (`error_code`).
public enum FailureReason: Sendable, Hashable, CustomStringConvertible {
    // The job protocol.
    case versionMissing, keyMissing, masterKeyUnavailable, certificateGone, certificateInUse
    case unsupportedJobKind, transientError, leaseLost, leaseExpired, superseded
    // ACME issuance, renewal and revocation.
    case acmeAccountMissing, acmeCAFallback, rateLimitBudget, dnsRecordPending, dnsManualTimeout
    case acmeNetwork, acmeTimeout, acmeNotSupported, acmeInvalidState, acmeCrypto, acmeSolver
    /// The CA's answer: `acme_<problem type>` (`acme_rate_limited`, `acme_caa`, …) or `acme_http_<status>`,
    /// as `ACMEErrorClassification` names it.
    case acme(code: String)
    /// dns-01 through a project's DNS provider, and the preflight before any order: `dns_tsig_badkey`,
    /// `dns_refused`, `dns_hook_exit`, `dns_zone_unmapped`, `preflight_caa`, `preflight_nxdomain`, `preflight_provider` …
    case dns(code: String)
    /// What is wrong with the certificate itself: an X509 error or a blocking lint finding
    /// (`key_mismatch`, `chain_order`, `expired`, …), with that module's own code.
    case certificate(code: String)
    /// A delivery to a target (issue 22): `target_unreachable`, `reload_failed`, … (a `DeliveryFailure.Code`).
    case delivery(code: String)

    public static let named: [FailureReason] = [
        .versionMissing, .keyMissing, .masterKeyUnavailable, .certificateGone, .certificateInUse, .unsupportedJobKind,
        .transientError, .leaseLost, .leaseExpired, .superseded, .acmeAccountMissing, .acmeCAFallback, .rateLimitBudget,
        .dnsRecordPending, .dnsManualTimeout, .acmeNetwork, .acmeTimeout, .acmeNotSupported, .acmeInvalidState, .acmeCrypto,
        .acmeSolver,
    ]

    public var code: String {
        switch self {
        case .versionMissing: "version_missing"
        case .keyMissing: "key_missing"
        case .masterKeyUnavailable: "master_key_unavailable"
        case .certificateGone: "certificate_gone"
        case .certificateInUse: "certificate_in_use"
        case .unsupportedJobKind: "unsupported_job_kind"
        case .transientError: "transient_error"
        case .leaseLost: "lease_lost"
        case .leaseExpired: "lease_expired"
        case .superseded: "superseded"
        case .acmeAccountMissing: "acme_account_missing"
        case .acmeCAFallback: "acme_ca_fallback"
        case .rateLimitBudget: "rate_limit_budget"
        case .dnsRecordPending: "dns_record_pending"
        case .dnsManualTimeout: "dns_manual_timeout"
        case .acmeNetwork: "acme_network"
        case .acmeTimeout: "acme_timeout"
        case .acmeNotSupported: "acme_not_supported"
        case .acmeInvalidState: "acme_invalid_state"
        case .acmeCrypto: "acme_crypto"
        case .acmeSolver: "acme_solver"
        case .acme(let code), .dns(let code), .certificate(let code), .delivery(let code): code
        }
    }

    /// The reason a stored code stands for: a named reason, else the CA's (`acme_…`) or the certificate's.
    public init(code: String) {
        if let named = Self.named.first(where: { $0.code == code }) {
            self = named
        } else if DeliveryFailure.Code(rawValue: code) != nil {
            self = .delivery(code: code)
        } else {
            if code.hasPrefix("acme_") {
                self = .acme(code: code)
            } else if code.hasPrefix("dns_") || code.hasPrefix("preflight_") {
                self = .dns(code: code)
            } else {
                self = .certificate(code: code)
            }
        }
    }

    public var description: String { code }
}
