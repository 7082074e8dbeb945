/// Creates and deletes `_acme-challenge` TXT records at a DNS host.
public protocol DNS01Provider: Sendable {
    /// Adds the TXT record `name` (fully qualified, trailing dot) = `value`.
    func createRecord(name: String, value: String) async throws
    /// Deletes that record (only that value: a wildcard and its base domain share a name).
    func deleteRecord(name: String, value: String) async throws
}

/// dns-01 (RFC 8555 section 8.4) through a provider; waits until the record
/// resolves at the configured resolver before the CA is asked to look.
public struct DNS01Solver: ChallengeSolver {
    public let provider: any DNS01Provider
    /// The resolver to check propagation with; nil skips the check.
    public let resolver: DNSTXTResolver?
    /// Between propagation checks.
    public var checkInterval: Duration

    public var type: ChallengeType { .dns01 }

    public init(provider: any DNS01Provider, resolver: DNSTXTResolver?, checkInterval: Duration = .milliseconds(200)) {
        self.provider = provider
        self.resolver = resolver
        self.checkInterval = checkInterval
    }

    public func present(_ task: ChallengeTask) async throws {
        try await provider.createRecord(name: task.dnsRecordName, value: task.dnsRecordValue)
    }

    public func waitUntilReady(_ task: ChallengeTask, timeout: Duration) async throws {
        guard let resolver else { return }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if (try? await resolver.txtRecords(task.dnsRecordName))?.contains(task.dnsRecordValue) == true { return }
            guard clock.now + checkInterval < deadline else {
                throw ACMEError.timedOut(what: "TXT \(task.dnsRecordName) to resolve", retryAfterSeconds: nil)
            }
            try await Task.sleep(for: checkInterval)
        }
    }

    public func cleanUp(_ task: ChallengeTask) async throws {
        try await provider.deleteRecord(name: task.dnsRecordName, value: task.dnsRecordValue)
    }
}
