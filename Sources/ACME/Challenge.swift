import X509

/// The challenge types CertFleet solves.
public enum ChallengeType: String, Codable, Sendable, Hashable, CaseIterable {
    case http01 = "http-01"
    case dns01 = "dns-01"
}

/// A challenge object (RFC 8555 section 7.1.5, 8).
public struct ACMEChallenge: Codable, Sendable, Hashable {
    public var type: String
    public var url: String
    public var status: Status
    public var token: String?
    public var validated: String?
    public var error: ACMEProblem?

    public enum Status: String, Codable, Sendable {
        case pending, processing, valid, invalid
    }
}

extension ACMEClient {
    /// `token.thumbprint(accountKey)` (RFC 8555 section 8.1).
    public func keyAuthorization(token: String) throws(ACMEError) -> String {
        do { return "\(token).\(try accountKey.publicKey.jwk().thumbprint)" } catch { throw .crypto(error.description) }
    }

    /// Tells the server the challenge is ready to be validated (POST `{}`).
    @discardableResult
    public func acceptChallenge(url: String) async throws(ACMEError) -> ACMEChallenge {
        try await post(url, .challenge, payload: Array("{}".utf8)).decode(ACMEChallenge.self)
    }

    /// The challenge as the server has it now.
    public func fetchChallenge(url: String) async throws(ACMEError) -> ACMEChallenge {
        try await fetch(ACMEChallenge.self, url, .challenge).0
    }

    /// Polls the challenge TASK answered until the CA validated it; `invalid` throws its problem
    /// with the identifier. The challenge is polled, not its authorization: its status is the
    /// authorization's for the one challenge answered, and Debian's Pebble 2.4 can lock up for good
    /// serving an authorization: its handler looks the account up under the store's read lock
    /// while it holds the authorization's write lock, so a new order's scan of every
    /// authorization (holding the store's read lock) and any store write wait on each other for
    /// ever. Its challenge handler holds no lock while it takes the store's. Should the wait time
    /// out, the authorization says whether it ended another way (expired, deactivated).
    public func waitForChallenge(_ task: ChallengeTask, timeout: Duration? = nil) async throws(ACMEError) {
        do {
            _ = try await poll(ACMEChallenge.self, task.challengeURL, .challenge, what: "challenge \(task.challengeURL)", timeout: timeout) {
                challenge throws(ACMEError) in
                switch challenge.status {
                case .valid: return true
                case .pending, .processing: return false
                case .invalid:
                    throw .orderInvalid(
                        ACMEProblem.failure(
                            challenge.error, fallback: "the \(task.type.rawValue) challenge is invalid", identifier: task.identifier,
                            challengeType: task.type.rawValue))
                }
            }
        } catch .timedOut(let what, let retryAfter) {
            guard try await fetchAuthorization(url: task.authorizationURL).isValid() else {
                throw .timedOut(what: what, retryAfterSeconds: retryAfter)
            }
        }
    }
}

/// What a solver needs to satisfy one challenge. Codable so a checkpoint can
/// carry it to another process that cleans up. Holds no secret: the key
/// authorization is public by design (the CA fetches it over plain HTTP or DNS).
public struct ChallengeTask: Codable, Sendable, Hashable {
    /// The identifier being validated (for a wildcard, the base domain).
    public var identifier: ACMEIdentifier
    public var type: ChallengeType
    public var token: String
    public var keyAuthorization: String
    public var challengeURL: String
    public var authorizationURL: String

    public init(
        identifier: ACMEIdentifier, type: ChallengeType, token: String, keyAuthorization: String,
        challengeURL: String, authorizationURL: String
    ) {
        self.identifier = identifier
        self.type = type
        self.token = token
        self.keyAuthorization = keyAuthorization
        self.challengeURL = challengeURL
        self.authorizationURL = authorizationURL
    }

    /// http-01: the path the CA fetches.
    public var httpPath: String { "/.well-known/acme-challenge/\(token)" }

    /// dns-01: the TXT record's fully qualified name, `_acme-challenge.<domain>.`.
    public var dnsRecordName: String {
        var base = identifier.value
        if base.hasPrefix("*.") { base.removeFirst(2) }
        if base.hasSuffix(".") { base.removeLast() }
        return "_acme-challenge.\(base)."
    }

    /// dns-01: the TXT value, base64url(SHA-256(key authorization)) (RFC 8555 section 8.4).
    public var dnsRecordValue: String { Base64URL.encode(Digest.sha256(Array(keyAuthorization.utf8))) }
}
