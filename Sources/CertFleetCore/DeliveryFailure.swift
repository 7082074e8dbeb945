import Foundation

/// Why a delivery did not happen: a stable code, whether trying again may help, and the
/// target's own answer (stderr of a reload, HAProxy's reply, an HTTP status): never key material.
public struct DeliveryFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        /// Connecting to the target failed (socket, host, port): transient.
        case targetUnreachable = "target_unreachable"
        /// The files could not be written (permissions, disk): transient.
        case writeFailed = "write_failed"
        /// The reload command exited non-zero: transient (an operator may fix the server).
        case reloadFailed = "reload_failed"
        /// The reload command ran past its timeout and was killed: transient.
        case reloadTimeout = "reload_timeout"
        /// HAProxy refused the certificate (e.g. key mismatch); the transaction was aborted.
        case targetRefused = "target_refused"
        /// The webhook answered with a status that is not 2xx (retried).
        case webhookRejected = "webhook_rejected"
        /// The webhook answered 410 Gone: it will never take deliveries again.
        case webhookGone = "webhook_gone"
        /// The target already holds a newer version than the one offered.
        case downgradeRefused = "downgrade_refused"
        /// The target's configuration cannot work (missing path, bad URL).
        case targetMisconfigured = "target_misconfigured"
        /// The certificate's private key is not available (erased, master key not loaded).
        case keyUnavailable = "key_unavailable"
        /// The binding or the target was removed while the job waited.
        case bindingRemoved = "binding_removed"
        /// The target's kind has no deliverer in this version of CertFleet.
        case kindUnsupported = "target_kind_unsupported"
    }

    public let code: Code
    /// The target's answer, trimmed (no secrets: those never reach a target's reply).
    public let answer: String

    public init(_ code: Code, _ answer: String) {
        self.code = code
        self.answer = String(answer.prefix(500))
    }

    /// Failures that another attempt may fix; the others end the delivery at once.
    public var isTransient: Bool {
        switch code {
        case .targetUnreachable, .writeFailed, .reloadFailed, .reloadTimeout, .webhookRejected, .keyUnavailable: return true
        case .targetRefused, .webhookGone, .downgradeRefused, .targetMisconfigured, .bindingRemoved, .kindUnsupported: return false
        }
    }

    public var description: String { "\(code.rawValue): \(answer)" }
}
