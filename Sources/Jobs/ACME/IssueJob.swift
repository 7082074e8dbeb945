import ACME
import CertFleetCore
import DNSSolving
import Foundation
import Logging
import Store
import X509

/// Issues (kind `issue`) or renews (kind `renew`) a certificate through ACME. Every
/// step of the order is checkpointed in `jobs.checkpoint` (fenced by the lease), and
/// the certificate key is sealed into the version row before the first step, so a
/// worker killed anywhere is resumed by another one on the same order and key.
public struct IssueJob: JobHandler {
    public let kind: JobKind
    let context: JobContext
    let clients: ACMEClients

    init(kind: JobKind, context: JobContext, clients: ACMEClients) {
        precondition(kind == .issue || kind == .renew)
        self.kind = kind
        self.context = context
        self.clients = clients
    }

    var db: Database { context.db }

    struct Target {
        var projectID: UUID
        var identifiers: [String]
        var keyType: KeySpec
        var challenge: String
        var accountID: UUID?
        var currentVersion: Int?
        var profile: String?
        /// The DNS provider named for dns-01; nil: the project's zone map (or the server's setup).
        var dnsProvider: String?
        /// The CA's suggested renewal window has begun (ARI): a renewal then is exempt from limits.
        var insideRenewalWindow: Bool
    }

    public func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult {
        guard let version = job.certificateVersion else { return .failed(.versionMissing, message: "the job names no certificate version") }
        // A certificate being deleted is not ordered for (the commit cancels the job).
        guard let target = try await target(job) else { return .failed(.certificateGone, message: "the certificate is deleted or being deleted") }
        let fence = JobFence(db: db, job: job)
        var checkpoint = try await fence.loadCheckpoint(IssuanceCheckpoint.self)
        // The project's CA chain: a job that starts afresh starts at its first CA.
        let chain = CAChain(accounts: try await ACMEAccounts.chain(db, project: target.projectID))
        var assigned = target.accountID
        if let first = chain.first, assigned.map(chain.contains) ?? true, job.attempt <= 1, checkpoint == nil {
            assigned = first.id
            try await IssuanceTargets.assignAccount(db, certificate: job.certificateID, account: first.id)
        }
        guard
            let accountID = try await clients.accountID(
                db: db, sealer: context.sealer, certificate: job.certificateID,
                project: target.projectID, assigned: assigned)
        else {
            return .failed(
                .acmeAccountMissing, message: "the project has no ACME account and no default directory is configured (CERTFLEET_ACME_DIRECTORY_URL)")
        }
        /// Moves the job to the next CA of the chain after a failure that CA need not share.
        func fallBack(_ reason: FailureReason) async throws -> JobResult? {
            guard let next = chain.after(accountID) else { return nil }
            try await fence.saveCheckpoint(IssuanceCheckpoint?.none)
            try await IssuanceTargets.assignAccount(db, certificate: job.certificateID, account: next.id)
            logger.warning(
                "CA failed; moving to the next CA of the project's chain",
                metadata: ["reason": "\(reason)", "next_acme_directory": "\(next.directoryURL)"])
            return .retry(
                .acmeCAFallback, message: "the CA failed (\(reason)); trying the next CA of the project's chain: \(next.directoryURL)",
                notBefore: Date())
        }
        let key = try await certificateKey(job, version: version, target: target, fence: fence)
        let client: ACMEClient
        do {
            client = try await clients.client(db: db, sealer: context.sealer, account: accountID)
        } catch let deferred as AccountRegistrationDeferred {
            if let moved = try await fallBack(.rateLimitBudget) { return moved }
            return .snoozed(.rateLimitBudget, message: deferred.deferral.message, notBefore: deferred.deferral.until)
        } catch let error as ACMEError {
            // The account could not be registered (the CA down, wanting a contact, EAB …): the next CA
            // of the chain, else the CA's answer by the one table.
            if error.classification.disposition != .validationFailed, let moved = try await fallBack(error.classification.reason) { return moved }
            return ACMEFailure.result(error, attempt: job.attempt, backoff: context.backoff)
        }
        if let saved = checkpoint, saved.accountURL != nil && saved.accountURL != client.accountURL { checkpoint = nil }
        let identifiers = checkpoint?.identifiers ?? target.identifiers
        let manual = target.challenge == "dns-01-manual"
        let manualProvider = DatabaseManualDNSProvider(db: db, jobID: job.id)
        let dnsProvider: (any DNS01Provider)? =
            manual ? manualProvider : clients.settings.challTestSrvURL.map { ChallTestSrvDNSProvider(managementURL: $0) }
        var solvers: [any ChallengeSolver] = [HTTP01Solver(store: DatabaseHTTP01TokenStore(db: db, jobID: job.id))]
        // The project's DNS providers (explicit or by zone map) for the names dns-01 solves.
        let dnsNames = target.challenge == "dns-01" ? identifiers : identifiers.filter { $0.hasPrefix("*.") }
        var routing: DNSProviderRouting? = nil
        var routed: RoutedDNS01Solver? = nil
        if !manual, !dnsNames.isEmpty {
            do {
                routing = try await DNSProviderRouting.load(
                    db: db, sealer: context.sealer, project: target.projectID,
                    explicit: target.dnsProvider, identifiers: dnsNames, settings: clients.settings)
                routed = try routing?.solver(db: db, jobID: job.id, defaultResolver: clients.settings.defaultDNSResolver)
            } catch let unusable as DNSProviderRouting.Unusable {
                return .failed(.dns(code: unusable.code), message: unusable.message)
            } catch let failure as DNS01Failure {
                return .failed(.dns(code: failure.code), message: failure.description)
            }
        }
        if let routed {
            solvers.append(routed)
        } else if let dnsProvider {
            solvers.append(DNS01Solver(provider: dnsProvider, resolver: clients.settings.resolver))
        }
        // Before any order: a name that cannot be issued must not spend the CA's limits.
        if (checkpoint?.step ?? .start) == .start, IssuePreflight.wanted(clients.settings, usesProviders: routing != nil) {
            let identities = (try? await client.directory())?.meta?.caaIdentities ?? []
            let outcome = await IssuePreflight.run(
                identifiers: identifiers, dnsNames: Set(dnsNames), solver: routed,
                settings: clients.settings, caaIdentities: identities)
            if let failure = outcome.failure { return .failed(.dns(code: failure.code), message: String(failure.message.prefix(1000))) }
        }
        var log = logger
        log[metadataKey: "acme_account"] = "\(accountID.uuidString.lowercased())"
        // Manual records are looked for briefly; the job then snoozes instead of holding a worker.
        let driver = IssuanceDriver(
            client: client, solvers: solvers,
            propagationTimeout: manual ? .seconds(2) : routing?.propagationTimeout ?? clients.settings.propagationTimeout,
            logger: log)
        var request = IssuanceRequest(
            identifiers: identifiers, certificateKey: key,
            challengeType: target.challenge == "http-01" ? .http01 : .dns01)
        request.profile = target.profile
        // A renewal names the certificate it replaces (ARI, RFC 9773; dropped for CAs without it).
        if kind == .renew, let current = target.currentVersion {
            request.replaces = try await replacedCertificateID(job.certificateID, version: current)
        }
        var reached = checkpoint?.step ?? .start
        // A new order spends the CA's rate limits: reserve first, or wait until the window allows.
        // A renewal inside the CA's ARI window, sent with `replaces`, is exempt, as the CA exempts it.
        let exempt = kind == .renew && request.replaces != nil && target.insideRenewalWindow
        if reached == .start, clients.settings.budgetEnabled, !exempt {
            let deferral = try await clients.settings.budget(db: db).reserve(
                ca: client.configuration.directoryURL, account: accountID.uuidString.lowercased(), domains: identifiers, job: job.id,
                project: target.projectID)
            BudgetMetrics.record(ca: client.configuration.directoryURL, deferral: deferral)
            if let deferral {
                if let moved = try await fallBack(.rateLimitBudget) { return moved }
                return .snoozed(.rateLimitBudget, message: deferral.message, notBefore: deferral.until)
            }
        }
        do {
            let issued = try await driver.run(request, from: checkpoint) { next in
                try await fence.saveCheckpoint(next)
                reached = next.step
            }
            return try await committed(issued.chainPEM, key: key, job: job, version: version, fence: fence, client: client)
        } catch let error as ACMEError {
            if manual, reached == .challengesPresented, case .timedOut = error {
                if try await manualProvider.deadlinePassed() {
                    return .failed(.dnsManualTimeout, message: "the TXT records shown at /challenges did not resolve before the deadline")
                }
                return .snoozed(
                    .dnsRecordPending, message: "waiting for the TXT records shown at /challenges",
                    notBefore: Date().addingTimeInterval(clients.settings.manualRecheck))
            }
            if error.requiresNewOrder { try await fence.saveCheckpoint(IssuanceCheckpoint?.none) }
            // The CA down, rate-limited or failing itself: the next CA of the chain may issue now.
            if case .retryLater = error.classification.disposition, let moved = try await fallBack(error.classification.reason) { return moved }
            if error.classification.disposition == .validationFailed, clients.settings.budgetEnabled {
                try await clients.settings.budget(db: db).recordFailedValidations(
                    ca: client.configuration.directoryURL, account: accountID.uuidString.lowercased(),
                    hostnames: ACMEFailure.failedIdentifiers(error) ?? identifiers, project: target.projectID)
            }
            return ACMEFailure.result(error, attempt: job.attempt, backoff: context.backoff)
        }
    }

    private func target(_ job: ClaimedJob) async throws -> Target? {
        guard let target = try await IssuanceTargets.load(db, certificate: job.certificateID) else { return nil }
        let commonName = target.commonName ?? target.sans.first ?? ""
        return Target(
            projectID: target.projectID, identifiers: [commonName] + target.sans.filter { $0 != commonName },
            keyType: KeySpec(rawValue: target.keyType ?? "") ?? .ecP256, challenge: target.challenge ?? "http-01",
            accountID: target.accountID, currentVersion: target.currentVersion, profile: target.profile,
            dnsProvider: target.dnsProvider, insideRenewalWindow: target.insideRenewalWindow)
    }

    /// The key of VERSION: read back when an earlier attempt stored it; else generated
    /// (or, for `reuse_key`, the current version's) and sealed into the version row first.
    private func certificateKey(_ job: ClaimedJob, version: Int, target: Target, fence: JobFence) async throws -> PrivateKey {
        if let pem = try await openKey(job.certificateID, version: version) { return try PrivateKey(pem: pem) }
        var pem: String? = nil
        if job.parameters[ACMEJobParameter.reuseKey] == "true", let current = target.currentVersion {
            pem = try await openKey(job.certificateID, version: current)
        }
        let keyPEM = try pem ?? PrivateKey.generate(target.keyType).pkcs8PEM()
        let sealed = try context.sealer.seal(
            Array(keyPEM.utf8), context: KeySealer.certificateKeyContext(certificate: job.certificateID, version: version))
        try await fence.insertPendingVersion(version: version, sealed: sealed)
        // Another attempt may have won the insert: its key is the one the CA may have seen.
        guard let stored = try await openKey(job.certificateID, version: version) else { throw LeaseLost(jobID: job.id) }
        return try PrivateKey(pem: stored)
    }

    /// The ARI identifier of VERSION's leaf; nil when it has no chain or no authority key identifier.
    private func replacedCertificateID(_ certificate: UUID, version: Int) async throws -> String? {
        guard let pem = try await CertificateVersions(db: db).material(certificate: certificate, version: version)?.chainPEM,
            let leaf = try? Certificate(pem: pem)
        else { return nil }
        return try? ACMEClient.renewalInfoIdentifier(for: leaf)
    }

    private func openKey(_ certificate: UUID, version: Int) async throws -> String? {
        try await CertificateVersions(db: db).material(certificate: certificate, version: version)?.openKey(with: context.sealer)
    }

    private func committed(
        _ chainPEM: String, key: PrivateKey, job: ClaimedJob, version: Int, fence: JobFence,
        client: ACMEClient
    ) async throws -> JobResult {
        do {
            let bundle = try CertificateBundle.parse(chain: chainPEM, key: key.pkcs8PEM(), clientCA: nil)
            let report = bundle.lint(LintOptions(usage: .server))
            try await fence.storeChain(version: version, chainPEM: chainPEM)
            var facts = try ValidateJob.facts(of: bundle, lint: report)
            // ARI (RFC 9773), when the CA offers it: a random moment in its suggested window.
            // Asked once, at issuance; no answer (Pebble 2.4 has no renewalInfo) keeps our own renew_at.
            if case .window(let window)? = try? await client.renewalInfo(for: bundle.leaf) {
                facts.suggestedRenewAt = RenewalWindow.pick(start: window.windowStart, end: window.windowEnd, fraction: .random(in: 0...1))
            }
            return .validated(facts)
        } catch let error as X509Error {
            return .failed(.certificate(code: error.code), message: error.message)
        }
    }
}

/// Maps an ACME failure to the job's outcome by CertFleetCore's one table: a failed
/// validation or a permanent problem fails the job at once (no second order: the CA would
/// only count another failed validation); `rateLimited` waits for `Retry-After`; other
/// CA-side trouble retries after the backoff.
enum ACMEFailure {
    static func result(_ error: ACMEError, attempt: Int, backoff: BackoffPolicy, now: Date = Date()) -> JobResult {
        let outcome = error.classification
        let message = String((outcome.disposition == .validationFailed ? validationMessage(error) : error.description).prefix(1000))
        switch outcome.disposition {
        case .validationFailed, .permanent:
            return .failed(outcome.reason, message: message)
        case .retryImmediately:
            return .retry(outcome.reason, message: message, notBefore: now)
        case .retryLater(let seconds):
            let notBefore =
                seconds.map { now.addingTimeInterval($0) }
                ?? backoff.nextAttempt(after: attempt, now: now) ?? now.addingTimeInterval(60)
            return .retry(outcome.reason, message: message, notBefore: notBefore)
        }
    }

    /// The identifiers the CA named as failing (the problem's and its subproblems'), if any.
    static func failedIdentifiers(_ error: ACMEError) -> [String]? {
        guard let problem = error.problem else { return nil }
        let named = ([problem.identifier] + (problem.subproblems ?? []).map(\.identifier)).compactMap { $0?.value }
        return named.isEmpty ? nil : named
    }

    /// "the CA could not validate dns:www.example.com with http-01: <the CA's detail>".
    static func validationMessage(_ error: ACMEError) -> String {
        guard let problem = error.problem else { return error.description }
        let failed = problem.identifier ?? problem.subproblems?.first?.identifier
        var text = "the CA could not validate \(failed?.description ?? "the order")"
        if let challenge = problem.challengeType { text += " with \(challenge)" }
        text += ": \(problem.detail ?? problem.type)"
        for sub in problem.subproblems ?? [] where sub.identifier != failed { text += "; \(sub)" }
        return text
    }
}

/// A project's ordered ACME accounts (its CA chain).
struct CAChain {
    let accounts: [ACMEAccountRecord]

    var first: ACMEAccountRecord? { accounts.first }

    func contains(_ id: UUID) -> Bool { accounts.contains { $0.id == id } }

    /// The account after ID in the chain; nil when ID is the last or not in it.
    func after(_ id: UUID) -> ACMEAccountRecord? {
        guard let index = accounts.firstIndex(where: { $0.id == id }), index + 1 < accounts.count else { return nil }
        return accounts[index + 1]
    }
}
