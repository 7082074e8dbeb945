/// A certificate's `Ready` condition as cert-manager's `certmanager_certificate_ready_status`
/// shows it: one series per condition, 1 for the current one and 0 for the others.
public enum ReadyCondition: String, Sendable, CaseIterable {
    case ready = "True"
    case notReady = "False"
    case unknown = "Unknown"
}

extension CertificateState {
    /// Ready while a valid version serves (renewing included: the current one still serves, as
    /// cert-manager keeps `Ready` true while it issues); not ready when failed, expired, revoked
    /// or gone; unknown before the first version is decided and while a delete runs.
    public var readyCondition: ReadyCondition {
        switch self {
        case .valid, .renewing: .ready
        case .error, .expired, .revoked, .deleted: .notReady
        case .pending, .deleting: .unknown
        }
    }
}
