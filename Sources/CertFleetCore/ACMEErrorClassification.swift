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
        /// Retrying the same request cannot succeed: fail the job.
        case permanent
    }

    /// A disposition plus a stable reason code for the API, events and metrics.
    public struct Outcome: Sendable, Hashable {
        public var disposition: Disposition
        /// `acme_<problem>` for ACME problem types (`acme_rate_limited`,
        /// `acme_bad_nonce` …), `acme_http_<status>` without one, `acme_network`
        /// when no response arrived.
        public var code: String

        public init(disposition: Disposition, code: String) {
            self.disposition = disposition
            self.code = code
        }

        public var isTransient: Bool { disposition != .permanent }
    }

    /// The RFC 8555 error namespace.
    public static let namespace = "urn:ietf:params:acme:error:"

    /// Problem types a later attempt can get past without anyone changing the request:
    /// the CA or the network was briefly unhappy, or (dns, connection,
    /// incorrectResponse, tls) the validation target was not reachable or not
    /// yet updated — a new order after a backoff may succeed (DNS propagation,
    /// a restarting responder, a manual TXT record created late).
    static let transientTypes: Set<String> = [
        "badNonce", "rateLimited", "serverInternal",
        "dns", "connection", "incorrectResponse", "tls",
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
            let code = "acme_" + snakeCase(name)
            if name == "badNonce" { return Outcome(disposition: .retryImmediately, code: code) }
            if name == "compound" {
                // A compound problem is only as retryable as its worst part.
                let parts = subproblemTypes.map {
                    classify(problemType: $0, httpStatus: httpStatus, retryAfterSeconds: retryAfterSeconds)
                }
                let transient = !parts.isEmpty && parts.allSatisfy(\.isTransient)
                return Outcome(disposition: transient ? .retryLater(retryAfterSeconds: retryAfterSeconds) : .permanent, code: code)
            }
            if problemType.hasPrefix(namespace) || !problemType.contains(":") {
                let transient = transientTypes.contains(name)
                return Outcome(disposition: transient ? .retryLater(retryAfterSeconds: retryAfterSeconds) : .permanent, code: code)
            }
            // A type outside the ACME namespace (RFC 7807 allows any URI): judge by status.
        }
        guard let httpStatus else {
            return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), code: "acme_network")
        }
        let code = "acme_http_\(httpStatus)"
        switch httpStatus {
        case 408, 425, 429, 500...599:
            return Outcome(disposition: .retryLater(retryAfterSeconds: retryAfterSeconds), code: code)
        default:
            return Outcome(disposition: .permanent, code: code)
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
