import DNS

/// Creates and deletes `_acme-challenge` TXT records at a DNS host.
public protocol DNS01Provider: Sendable {
    /// Adds the TXT record `name` (fully qualified, trailing dot) = `value`.
    func createRecord(name: String, value: String) async throws
    /// Deletes that record (only that value: a wildcard and its base domain share a name).
    func deleteRecord(name: String, value: String) async throws
    /// `createRecord` with the whole task (lego's RAW modes want the token and key authorization).
    func present(_ task: ChallengeTask, name: String, value: String) async throws
    /// `deleteRecord` with the whole task.
    func cleanUp(_ task: ChallengeTask, name: String, value: String) async throws
    /// Whether the provider can write the zone of NAME, checked without changing it (preflight);
    /// nil when it can or when the kind has no side-effect-free check.
    func canWrite(name: String) async -> DNS01Failure?
}

extension DNS01Provider {
    public func present(_ task: ChallengeTask, name: String, value: String) async throws {
        try await createRecord(name: name, value: value)
    }

    public func cleanUp(_ task: ChallengeTask, name: String, value: String) async throws {
        try await deleteRecord(name: name, value: value)
    }

    public func canWrite(name: String) async -> DNS01Failure? { nil }
}

/// dns-01 (RFC 8555 section 8.4) through a provider; waits until the record is visible
/// (at every authoritative nameserver with `propagation`, else at `resolver`) before the
/// CA is asked to look.
public struct DNS01Solver: ChallengeSolver {
    /// Called after each propagation round with the name checked and what each server answered.
    public typealias TraceSink = @Sendable (ChallengeTask, String, [PropagationObservation]) async -> Void

    public let provider: any DNS01Provider
    /// The resolver to check propagation with; nil skips the check.
    public let resolver: DNSTXTResolver?
    /// The authoritative check; replaces `resolver` when set.
    public var propagation: DNSPropagationCheck?
    /// Follow a CNAME at `_acme-challenge.<name>` through this resolver and write at its target
    /// (CNAME delegation, as cert-manager and Caddy do); nil writes at the name itself.
    public var delegationResolver: DNSServer?
    public var trace: TraceSink?
    /// Between propagation checks.
    public var checkInterval: Duration

    public var type: ChallengeType { .dns01 }

    public init(provider: any DNS01Provider, resolver: DNSTXTResolver?, checkInterval: Duration = .milliseconds(200)) {
        self.provider = provider
        self.resolver = resolver
        self.checkInterval = checkInterval
    }

    /// The name the record is written at: `_acme-challenge.<domain>.` or the end of its CNAME chain.
    public func recordName(_ task: ChallengeTask) async throws -> String {
        guard let delegationResolver else { return task.dnsRecordName }
        do {
            return try await DNSClient(timeout: .seconds(5)).resolveCNAME(try DNSName(task.dnsRecordName), resolver: delegationResolver).description
        } catch { throw ACMEError.dnsProvider(DNS01Failure(error)) }
    }

    public func present(_ task: ChallengeTask) async throws {
        try await provider.present(task, name: try await recordName(task), value: task.dnsRecordValue)
    }

    public func waitUntilReady(_ task: ChallengeTask, timeout: Duration) async throws {
        let name = try await recordName(task)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        if let propagation {
            let owner = try DNSName(name)
            var last: [PropagationObservation] = []
            while true {
                last = await propagation.observe(owner, value: task.dnsRecordValue)
                await trace?(task, name, last)
                if !last.isEmpty, last.allSatisfy(\.visible) { return }
                guard clock.now + checkInterval < deadline else { break }
                try await Task.sleep(for: checkInterval)
            }
            let missing = last.filter { !$0.visible }.map { "\($0.server) (\($0.error ?? "answered \($0.values)"))" }
            throw ACMEError.dnsProvider(
                DNS01Failure(
                    code: "dns_propagation_timeout", message: "TXT \(name) was not visible at \(missing.joined(separator: ", ")) before the timeout"))
        }
        guard let resolver else { return }
        while true {
            if (try? await resolver.txtRecords(name))?.contains(task.dnsRecordValue) == true { return }
            guard clock.now + checkInterval < deadline else {
                throw ACMEError.timedOut(what: "TXT \(name) to resolve", retryAfterSeconds: nil)
            }
            try await Task.sleep(for: checkInterval)
        }
    }

    public func cleanUp(_ task: ChallengeTask) async throws {
        try await provider.cleanUp(task, name: try await recordName(task), value: task.dnsRecordValue)
    }
}
