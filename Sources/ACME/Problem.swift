import CertFleetCore

/// An identifier an order or authorization is for (RFC 8555 section 9.7.7).
public struct ACMEIdentifier: Codable, Sendable, Hashable, CustomStringConvertible {
    /// `dns` or `ip`.
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    /// A DNS identifier; wildcards (`*.example.com`) included.
    public static func dns(_ name: String) -> ACMEIdentifier { ACMEIdentifier(type: "dns", value: name) }

    public var description: String { "\(type):\(value)" }
}

/// An RFC 7807 problem document as ACME servers send them (RFC 8555 section 6.7).
/// Details come from the CA and never contain our key material.
public struct ACMEProblem: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The full type URN, e.g. `urn:ietf:params:acme:error:rateLimited`.
    public var type: String
    public var detail: String?
    /// The HTTP status the server put in the document (or the response's).
    public var status: Int?
    /// The identifier a subproblem, or a failed challenge, is about.
    public var identifier: ACMEIdentifier?
    /// Per-identifier problems of a `compound` (or any) problem.
    public var subproblems: [ACMEProblem]?
    /// The response's `Retry-After`, in seconds (not part of the document).
    public var retryAfterSeconds: Double?
    /// The challenge whose validation failed (`http-01`, `dns-01`), for an authorization's problem.
    public var challengeType: String?

    public init(
        type: String, detail: String? = nil, status: Int? = nil, identifier: ACMEIdentifier? = nil,
        subproblems: [ACMEProblem]? = nil, retryAfterSeconds: Double? = nil
    ) {
        self.type = type
        self.detail = detail
        self.status = status
        self.identifier = identifier
        self.subproblems = subproblems
        self.retryAfterSeconds = retryAfterSeconds
    }

    enum CodingKeys: String, CodingKey { case type, detail, status, identifier, subproblems }

    /// The RFC 8555 error types (section 6.7) plus `alreadyReplaced` (RFC 9773).
    public enum Kind: String, Sendable, CaseIterable {
        case accountDoesNotExist, alreadyReplaced, alreadyRevoked, badCSR, badNonce, badPublicKey
        case badRevocationReason, badSignatureAlgorithm, caa, compound, connection, dns
        case externalAccountRequired, incorrectResponse, invalidContact, malformed, orderNotReady
        case rateLimited, rejectedIdentifier, serverInternal, tls, unauthorized, unsupportedContact
        case unsupportedIdentifier, userActionRequired
    }

    /// The known ACME type, or nil for a type outside the ACME namespace.
    public var kind: Kind? {
        guard type.hasPrefix(ACMEErrorClassification.namespace) else { return nil }
        return Kind(rawValue: String(type.dropFirst(ACMEErrorClassification.namespace.count)))
    }

    /// Transient or permanent, with a stable reason code (one rule for the whole service).
    public var classification: ACMEErrorClassification.Outcome {
        ACMEErrorClassification.classify(
            problemType: type, httpStatus: status, retryAfterSeconds: retryAfterSeconds,
            subproblemTypes: subproblems?.map(\.type) ?? [])
    }

    public var description: String {
        var text = type
        if let identifier { text += " (\(identifier))" }
        if let detail { text += ": \(detail)" }
        for sub in subproblems ?? [] { text += "; \(sub)" }
        return text
    }
}

/// Everything the ACME client throws.
public enum ACMEError: Error, Sendable, CustomStringConvertible {
    /// The CA answered a request with a problem document.
    case problem(ACMEProblem)
    /// An authorization or the order ended `invalid` (a failed challenge: then
    /// the problem's `identifier` names the domain). The order is dead: a retry
    /// must start from a fresh checkpoint (see ``requiresNewOrder``).
    case orderInvalid(ACMEProblem)
    /// No HTTP response: connection refused, TLS failure, read timeout.
    case network(String)
    /// A response the client cannot use (wrong status, missing header, bad JSON).
    case unexpectedResponse(status: Int, url: String, reason: String)
    /// A poll or a solver did not finish before its deadline.
    /// `retryAfterSeconds` is the server's last `Retry-After`, if any.
    case timedOut(what: String, retryAfterSeconds: Double?)
    /// The CA does not offer the feature (e.g. ARI without `renewalInfo`).
    case notSupported(String)
    /// The request or a checkpoint does not fit the server's state.
    case invalidState(String)
    /// A key, CSR or JWS operation failed (X509's messages carry no key material).
    case crypto(String)
    /// A challenge solver could not publish, check or remove its record.
    case solver(type: ChallengeType, identifier: ACMEIdentifier, reason: String)
    /// A DNS provider failed in a way that will not heal by retrying the same order (wrong TSIG
    /// key, refused update, hook exit code, CNAME loop …): a stable `code` (`dns_tsig_badkey`) and
    /// the server's answer, no secret.
    case dnsProvider(DNS01Failure)

    /// The problem document, when the CA sent one.
    public var problem: ACMEProblem? {
        switch self {
        case .problem(let problem), .orderInvalid(let problem): return problem
        default: return nil
        }
    }

    /// A DNS provider's permanent failure: the job ends, so what was presented is removed at once.
    public var isDNSProviderFailure: Bool {
        if case .dnsProvider = self { return true }
        return false
    }

    /// True when the current order can no longer succeed, so a retry must
    /// begin again from `IssuanceCheckpoint(identifiers:)`.
    public var requiresNewOrder: Bool {
        if case .orderInvalid = self { return true }
        return false
    }

    /// Transient or permanent, by the one rule in CertFleetCore.
    public var classification: ACMEErrorClassification.Outcome {
        switch self {
        case .problem(let problem), .orderInvalid(let problem):
            return problem.classification
        case .network:
            return ACMEErrorClassification.classify(problemType: nil, httpStatus: nil)
        case .unexpectedResponse(let status, _, _):
            return ACMEErrorClassification.classify(problemType: nil, httpStatus: status)
        case .timedOut(_, let retryAfter):
            return .init(disposition: .retryLater(retryAfterSeconds: retryAfter), reason: .acmeTimeout)
        case .notSupported:
            return .init(disposition: .permanent, reason: .acmeNotSupported)
        case .invalidState:
            return .init(disposition: .permanent, reason: .acmeInvalidState)
        case .crypto:
            return .init(disposition: .permanent, reason: .acmeCrypto)
        case .solver:
            // DNS provider APIs and responders fail briefly; the job backs off and retries.
            return .init(disposition: .retryLater(retryAfterSeconds: nil), reason: .acmeSolver)
        case .dnsProvider(let failure):
            return .init(disposition: .permanent, reason: .dns(code: failure.code))
        }
    }

    public var description: String {
        switch self {
        case .problem(let problem): "ACME problem \(problem)"
        case .orderInvalid(let problem): "ACME order failed: \(problem)"
        case .network(let reason): "ACME server unreachable: \(reason)"
        case .unexpectedResponse(let status, let url, let reason): "unexpected ACME response \(status) from \(url): \(reason)"
        case .timedOut(let what, _): "timed out waiting for \(what)"
        case .notSupported(let what): "not supported by this ACME server: \(what)"
        case .invalidState(let reason): "invalid ACME state: \(reason)"
        case .crypto(let reason): "ACME crypto operation failed: \(reason)"
        case .solver(let type, let identifier, let reason): "\(type.rawValue) solver failed for \(identifier): \(reason)"
        case .dnsProvider(let failure): failure.description
        }
    }
}
