import ACME
import CertFleetCore
import DNS
import Foundation
import Store
import X509

/// Which DNS provider solves each name of an issuance: the certificate's `dns_provider`, else
/// the project's zone map (longest zone). Built once per job run, before any order exists,
/// so a name no provider covers ends the job (`dns_zone_unmapped`) without spending the CA's limits.
public struct DNSProviderRouting: Sendable {
    /// The provider name per base domain (wildcards stripped).
    let assignments: [String: String]
    let providers: [String: (record: DNSProviderRecord, settings: DNSProviderSettings, secret: DNSProviderSecret)]

    public struct Unusable: Error {
        public let code: String
        public let message: String
    }

    /// The routing for IDENTIFIERS of PROJECT; nil when the project uses no DNS providers
    /// (no explicit provider and an empty zone map): the server-wide dns-01 setup applies.
    public static func load(
        db: Database, sealer: KeySealer, project: UUID, explicit: String?, identifiers: [String],
        settings: ACMESettings
    ) async throws -> DNSProviderRouting? {
        let map = try await DNSProviders.zoneMap(db, project: project)
        guard explicit != nil || !map.isEmpty else { return nil }
        var assignments: [String: String] = [:]
        for identifier in identifiers where IPAddress.canonical(identifier) == nil {
            let base = identifier.hasPrefix("*.") ? String(identifier.dropFirst(2)) : identifier
            guard let name = explicit ?? DNSZoneMap.provider(for: base, entries: map) else {
                throw Unusable(
                    code: "dns_zone_unmapped",
                    message: "no DNS provider of the project serves \(identifier): add its zone to a provider's 'zones' or name 'dns_provider'")
            }
            assignments[base] = name
        }
        var providers: [String: (DNSProviderRecord, DNSProviderSettings, DNSProviderSecret)] = [:]
        for name in Set(assignments.values) {
            do {
                let (record, secret) = try await DNSProviders.load(db, sealer: sealer, project: project, name: name)
                let decoded = try DNSProviderSettings.decode(record.config), opened = try DNSProviderSecret.opened(secret)
                // Checked again where it runs: the operator may have narrowed the allowed hooks since the provider was made.
                let problems = decoded.problems(
                    kind: record.kind, secret: opened, execDirectory: settings.dnsExecDirectory,
                    httpreqPrefixes: settings.dnsHTTPAllowed)
                guard problems.isEmpty else {
                    throw Unusable(code: "dns_provider_config", message: "DNS provider '\(name)': \(problems.joined(separator: "; "))")
                }
                providers[name] = (record, decoded, opened)
            } catch StoreError.dnsProviderNotFound(let missing) {
                throw Unusable(
                    code: "dns_provider_not_found", message: "the certificate names DNS provider '\(missing)', which the project does not have")
            }
        }
        return DNSProviderRouting(assignments: assignments, providers: providers)
    }

    /// The longest propagation timeout of the providers used.
    public var propagationTimeout: Duration { providers.values.map(\.settings.propagationTimeout).max() ?? .seconds(120) }

    /// A dns-01 solver routing each task to its provider, every write recorded in the ledger.
    public func solver(db: Database, jobID: UUID, defaultResolver: String?) throws -> RoutedDNS01Solver {
        var solvers: [String: DNS01Solver] = [:]
        for (base, name) in assignments {
            guard let entry = providers[name] else { continue }
            let inner = try entry.settings.provider(kind: entry.record.kind, secret: entry.secret)
            let ledgered = LedgeredDNSProvider(inner: inner, db: db, jobID: jobID, providerName: name)
            solvers[base] = entry.settings.solver(
                provider: ledgered, defaultResolver: defaultResolver.flatMap(DNSServer.init),
                trace: { task, recordName, observations in
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .iso8601
                    guard let trace = try? encoder.encode(observations) else { return }
                    try? await DNSChallengeRecords.saveTrace(
                        db, job: jobID, name: recordName, value: task.dnsRecordValue,
                        json: String(decoding: trace, as: UTF8.self))
                })
        }
        return RoutedDNS01Solver(solvers: solvers)
    }
}

/// dns-01 through the provider of each task's name.
public struct RoutedDNS01Solver: ChallengeSolver {
    let solvers: [String: DNS01Solver]
    public var type: ChallengeType { .dns01 }

    func solver(_ task: ChallengeTask) throws -> DNS01Solver {
        let base = task.identifier.value.hasPrefix("*.") ? String(task.identifier.value.dropFirst(2)) : task.identifier.value
        guard let solver = solvers[base] else {
            throw ACMEError.dnsProvider(DNS01Failure(code: "dns_zone_unmapped", message: "no DNS provider for \(task.identifier.value)"))
        }
        return solver
    }

    /// The resolver the solver of BASE looks names up with.
    func resolver(forBase base: String) -> DNSServer? {
        solvers[base].flatMap { $0.propagation?.resolver ?? $0.delegationResolver }
    }

    /// Preflight: can the provider of BASE write the zone of `_acme-challenge.<base>` (after CNAME delegation)?
    func canWrite(base: String) async -> DNS01Failure? {
        guard let solver = solvers[base] else { return DNS01Failure(code: "dns_zone_unmapped", message: "no DNS provider for \(base)") }
        let task = ChallengeTask(identifier: .dns(base), type: .dns01, token: "", keyAuthorization: "", challengeURL: "", authorizationURL: "")
        do {
            return await solver.provider.canWrite(name: try await solver.recordName(task))
        } catch let error as ACMEError {
            if case .dnsProvider(let failure) = error { return failure }
            return DNS01Failure(code: "dns_provider", message: error.description)
        } catch {
            return DNS01Failure(code: "dns_provider", message: "\(error)")
        }
    }

    public func present(_ task: ChallengeTask) async throws { try await solver(task).present(task) }
    public func waitUntilReady(_ task: ChallengeTask, timeout: Duration) async throws {
        try await solver(task).waitUntilReady(task, timeout: timeout)
    }
    public func cleanUp(_ task: ChallengeTask) async throws { try await solver(task).cleanUp(task) }
}

/// Records every value in `dns_challenge_records` before writing it and after removing it,
/// so what a job left in a zone is always known.
struct LedgeredDNSProvider: DNS01Provider {
    let inner: any DNS01Provider
    let db: Database
    let jobID: UUID
    let providerName: String

    func createRecord(name: String, value: String) async throws {
        try await DNSChallengeRecords.presenting(db, job: jobID, identifier: name, provider: providerName, name: name, value: value)
        try await inner.createRecord(name: name, value: value)
        try await DNSChallengeRecords.mark(db, job: jobID, name: name, value: value, state: "present")
    }

    func deleteRecord(name: String, value: String) async throws {
        try await inner.deleteRecord(name: name, value: value)
        try await DNSChallengeRecords.mark(db, job: jobID, name: name, value: value, state: "removed")
    }

    func present(_ task: ChallengeTask, name: String, value: String) async throws {
        try await DNSChallengeRecords.presenting(db, job: jobID, identifier: task.identifier.value, provider: providerName, name: name, value: value)
        try await inner.present(task, name: name, value: value)
        try await DNSChallengeRecords.mark(db, job: jobID, name: name, value: value, state: "present")
    }

    func cleanUp(_ task: ChallengeTask, name: String, value: String) async throws {
        try await inner.cleanUp(task, name: name, value: value)
        try await DNSChallengeRecords.mark(db, job: jobID, name: name, value: value, state: "removed")
    }

    func canWrite(name: String) async -> DNS01Failure? { await inner.canWrite(name: name) }
}
