import Synchronization

/// Where http-01 key authorizations live so the process answering
/// `/.well-known/acme-challenge/{token}` finds them. The API process serves
/// from it; a database-backed store lets any API replica answer.
public protocol HTTP01TokenStore: Sendable {
    func store(token: String, keyAuthorization: String) async throws
    /// The key authorization for `token`, nil when unknown.
    func keyAuthorization(forToken token: String) async throws -> String?
    func remove(token: String) async throws
}

/// A process-local token store (tests, a single API process).
public final class InMemoryHTTP01TokenStore: HTTP01TokenStore {
    private let tokens = Mutex<[String: String]>([:])

    public init() {}

    public func store(token: String, keyAuthorization: String) {
        tokens.withLock { $0[token] = keyAuthorization }
    }

    public func keyAuthorization(forToken token: String) -> String? {
        tokens.withLock { $0[token] }
    }

    public func remove(token: String) {
        tokens.withLock { $0[token] = nil }
    }

    /// How many tokens are published now.
    public var count: Int { tokens.withLock { $0.count } }
}

/// http-01 (RFC 8555 section 8.3): publishes key authorizations in a token store.
public struct HTTP01Solver: ChallengeSolver {
    public let store: any HTTP01TokenStore
    public var type: ChallengeType { .http01 }

    public init(store: any HTTP01TokenStore) {
        self.store = store
    }

    public func present(_ task: ChallengeTask) async throws {
        try await store.store(token: task.token, keyAuthorization: task.keyAuthorization)
    }

    /// The store is the responder's source: once written, it is served.
    public func waitUntilReady(_ task: ChallengeTask, timeout: Duration) async throws {}

    public func cleanUp(_ task: ChallengeTask) async throws {
        try await store.remove(token: task.token)
    }
}
