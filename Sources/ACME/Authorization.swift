/// An authorization resource (RFC 8555 section 7.1.4).
public struct ACMEAuthorization: Codable, Sendable, Hashable {
    public var url: String = ""
    /// The identifier without the `*.` of a wildcard (see `wildcard`).
    public var identifier: ACMEIdentifier
    public var status: Status
    public var expires: String?
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?

    public enum Status: String, Codable, Sendable {
        case pending, valid, invalid, deactivated, expired, revoked
    }

    enum CodingKeys: String, CodingKey { case identifier, status, expires, challenges, wildcard }

    /// The first challenge of `type`, if offered.
    public func challenge(ofType type: ChallengeType) -> ACMEChallenge? {
        challenges.first { $0.type == type.rawValue }
    }

    /// The problem that made the authorization invalid, tagged with its
    /// identifier so the error names the failing domain.
    public var failure: ACMEProblem {
        let failed = challenges.first { $0.error != nil }
        return ACMEProblem.failure(
            failed?.error, fallback: "authorization is \(status.rawValue)", identifier: identifier, challengeType: failed?.type)
    }

    /// True once `valid`, false while `pending`; any other (final) state throws `failure`.
    func isValid() throws(ACMEError) -> Bool {
        switch status {
        case .valid: return true
        case .pending: return false
        case .invalid, .deactivated, .expired, .revoked: throw .orderInvalid(failure)
        }
    }
}

extension ACMEProblem {
    /// PROBLEM (or an `unauthorized` one with FALLBACK as detail) naming IDENTIFIER, unless it
    /// names one already, and the challenge type that failed: what an invalid authorization or
    /// challenge reports.
    static func failure(_ problem: ACMEProblem?, fallback: String, identifier: ACMEIdentifier, challengeType: String?) -> ACMEProblem {
        var failure = problem ?? ACMEProblem(type: "urn:ietf:params:acme:error:unauthorized", detail: fallback)
        if failure.identifier == nil { failure.identifier = identifier }
        failure.challengeType = challengeType
        return failure
    }
}

extension ACMEClient {
    /// The authorization as the server has it now.
    public func fetchAuthorization(url: String) async throws(ACMEError) -> ACMEAuthorization {
        var (authorization, _) = try await fetch(ACMEAuthorization.self, url, .authorization)
        authorization.url = url
        return authorization
    }

    /// Polls until the authorization is `valid`; any final other state throws
    /// its challenge's problem with the identifier.
    public func waitForAuthorization(url: String, timeout: Duration? = nil) async throws(ACMEError) -> ACMEAuthorization {
        var authorization = try await poll(ACMEAuthorization.self, url, .authorization, what: "authorization \(url)", timeout: timeout) {
            authorization throws(ACMEError) in try authorization.isValid()
        }
        authorization.url = url
        return authorization
    }

    /// Deactivates an authorization (RFC 8555 section 7.5.2), e.g. one left over by a failed order.
    @discardableResult
    public func deactivateAuthorization(url: String) async throws(ACMEError) -> ACMEAuthorization {
        struct Deactivate: Encodable { var status = "deactivated" }
        var authorization = try await post(url, .authorization, payload: try Self.json(Deactivate())).decode(ACMEAuthorization.self)
        authorization.url = url
        return authorization
    }
}
