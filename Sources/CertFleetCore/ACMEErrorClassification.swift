/// Whether a failed ACME call is worth retrying, and how. One pure function
/// so the job retry policy, the API and the tests agree on every problem type.
///
/// The input is plain values (the problem document's `type`, the HTTP status,
/// `Retry-After`) because CertFleetCore sees no ACME types.
public enum ACMEErrorClassification {
    /// What the caller should do.
    public enum Disposition: Sendable, Hashable {
        /// Repeat the same request at once (a fresh nonce fixes `badNonce`).
        case retryImmediately
        /// Retry the job later: after `retryAfterSeconds` when the CA said so,
        /// else after the job's backoff.
        case retryLater(retryAfterSeconds: Double?)
        /// The CA looked at the identifier and refused it (connection, dns, unauthorized,
        /// incorrectResponse, caa, tls, rejectedIdentifier): the order is over, and a new
        /// one would spend the CA's failed-validation limit for the same answer. The job
        /// fails; an automatic renewal is tried again only after the renewal backoff
        /// (hours), as certbot, lego and cert-manager do.
        case validationFailed
        /// Retrying the same request cannot succeed: fail the job.
        case permanent
    }

    /// A disposition plus a stable reason code for the API, events and metrics.
    public struct Outcome: Sendable, Hashable {
        public var disposition: Disposition
        /// `acme_<problem>` for ACME problem types (`acme_rate_limited`,
        /// `acme_bad_nonce` …), `acme_http_<status>` without one, `acme_network`
        /// when no response arrived.
        public var reason: FailureReason
        public var code: String { reason.code }

        public init(disposition: Disposition, reason: FailureReason) {
            self.disposition = disposition
            self.reason = reason
        }

        /// Whether the same job may simply try again (CA-side or network trouble).
        public var isTransient: Bool {
            switch disposition {
            case .retryImmediately, .retryLater: return true
            case .validationFailed, .permanent: return false
            }
        }
    }

    /// The RFC 8555 error namespace.
    public static let namespace = "urn:ietf:params:acme:error:"

    /// Problem types a later attempt can get past without anyone changing the request:
    /// the CA was briefly unhappy (connection errors *to* the CA have no problem type).
    static let transientTypes: Set<String> = ["badNonce", "rateLimited", "serverInternal"]

    /// Problem types of a failed validation: the CA reached for the identifier and it
    /// failed. Let's Encrypt counts each against 5 failed validations per hostname per hour.
    public static let validationTypes: Set<String> = [
        "connection", "dns", "unauthorized", "incorrectResponse", "caa", "tls", "rejectedIdentifier",
    ]

    /// Classifies one failure.
    /// - Parameters:
    ///   - problemType: the problem document's `type` (full URN or the bare
    ///     name); nil when the response had no problem document.
    ///   - httpStatus: the response status; nil when no response arrived
    ///     (connection refused, timeout, TLS failure).
    ///   - retryAfterSeconds: the `Retry-After` header, when present.
    ///   - subproblemTypes: the types of a `compound` problem's subproblems.
    public static func classify(
        problemType: String?, httpStatus: Int?, retryAfterSeconds: Double? = nil,
        subproblemTypes: [String] = []
    ) -> Outcome {
        if let problemType, !problemType.isEmpty {
            let name = problemType.hasPrefix(namespace) ? String(problemType.dropFirst(namespace.count)) : problemType
            let code = FailureReason.acme(code: "acme_" + snakeCase(name))
            if name == "badNonce" { return Outcome(disposition: .retryImmediately, reason: code) }
            if name == "compound" {
                // A compound problem is only as retryable as its worst part.
                let parts = subproblemTypes.map {
                    classify(problemType: $0, httpStatus: httpStatus, retryAfterSeconds: retryAfterSeconds).disposition
                }
                if parts.isEmpty || parts.contains(.permanent) { return Outcome(disposition: .permanent, reason: code) }
                if parts.contains(.validationFailed) { return Outcome(disposition: .validationFailed, reason: code) }
                return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), reason: code)
            }
            if problemType.hasPrefix(namespace) || !problemType.contains(":") {
                if transientTypes.contains(name) { return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), reason: code) }
                return Outcome(disposition: validationTypes.contains(name) ? .validationFailed : .permanent, reason: code)
            }
            // A type outside the ACME namespace (RFC 7807 allows any URI): judge by status.
        }
        guard let httpStatus else {
            return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), reason: .acmeNetwork)
        }
        let code = FailureReason.acme(code: "acme_http_\(httpStatus)")
        switch httpStatus {
        case 408, 425, 429, 500...599:
            return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), reason: code)
        default:
            return Outcome(disposition: .permanent, reason: code)
        }
    }

    /// `rateLimited` → `rate_limited`, `badCSR` → `bad_csr`.
    static func snakeCase(_ name: String) -> String {
        var out = ""
        var previousLower = false
        for character in name {
            if character.isUppercase {
                if previousLower { out.append("_") }
                out.append(Character(character.lowercased()))
                previousLower = false
            } else if character.isLetter || character.isNumber {
                out.append(character)
                previousLower = true
            } else {
                out.append("_")
                previousLower = false
            }
        }
        return out
    }
}
