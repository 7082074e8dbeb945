/// Satisfies one challenge type. The issuance driver calls `present` for every
/// pending authorization, then `waitUntilReady`, then tells the CA to validate,
/// and calls `cleanUp` once the authorization is final (valid or not).
/// All three must be idempotent: a resumed issuance may repeat them.
public protocol ChallengeSolver: Sendable {
    var type: ChallengeType { get }
    /// Publishes the token (http-01) or TXT record (dns-01).
    func present(_ task: ChallengeTask) async throws
    /// Returns once the CA can see what `present` published (e.g. the TXT record
    /// resolves), or throws `ACMEError.timedOut` after `timeout`.
    func waitUntilReady(_ task: ChallengeTask, timeout: Duration) async throws
    /// Removes what `present` published.
    func cleanUp(_ task: ChallengeTask) async throws
}
