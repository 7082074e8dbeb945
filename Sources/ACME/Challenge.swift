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
