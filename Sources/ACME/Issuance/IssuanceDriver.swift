import Logging
import Telemetry
import X509

/// What to issue.
public struct IssuanceRequest: Sendable {
    /// DNS names (wildcards allowed) or IP addresses; the first becomes the CN.
    public var identifiers: [String]
    /// The certificate's key. The caller persists it (encrypted) before the
    /// first step: after a crash the CSR must be signed by the same key, since
    /// the CA may already hold the CSR from before.
    public var certificateKey: PrivateKey
    /// The challenge for non-wildcard names; wildcards always use dns-01.
    public var challengeType: ChallengeType
    /// Prefer the chain (default or alternate) whose top certificate's issuer CN is this.
    public var preferredChain: String?
    /// The CA's certificate profile to ask for (`meta.profiles`).
    public var profile: String?
    /// The ARI identifier of the certificate this order renews (sent as `replaces`).
    public var replaces: String?

    public init(identifiers: [String], certificateKey: PrivateKey, challengeType: ChallengeType = .http01, preferredChain: String? = nil) {
        self.identifiers = identifiers
        self.certificateKey = certificateKey
        self.challengeType = challengeType
        self.preferredChain = preferredChain
    }
}

/// Drives one issuance step by step from a checkpoint (account → order →
/// challenges presented → accepted → order ready → finalized → certificate
/// ready → downloaded). Each step is idempotent against the CA's state, so a
/// new process resuming from the last saved checkpoint never creates a second
/// order. The one unavoidable gap: a crash after `newOrder` was sent but before
/// the `orderCreated` checkpoint was saved leaves an unused order at the CA.
public struct IssuanceDriver: Sendable {
    public let client: ACMEClient
    public let solvers: [ChallengeType: any ChallengeSolver]
    /// How long a solver may take to make its record visible (DNS propagation).
    public var propagationTimeout: Duration
    public var logger: Logger

    public init(
        client: ACMEClient, solvers: [any ChallengeSolver], propagationTimeout: Duration = .seconds(120),
        logger: Logger = Logger(label: "certfleet.acme.issuance")
    ) {
        self.client = client
        self.solvers = Dictionary(solvers.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
        self.propagationTimeout = propagationTimeout
        self.logger = logger
    }

    /// Runs from `checkpoint` to the end, handing every new checkpoint to
    /// `save` before the next step starts (the job runtime writes it to the
    /// database there; if `save` throws, the issuance stops and can resume
    /// from the last saved checkpoint). On an error with
    /// ``ACMEError/requiresNewOrder`` the checkpoint is dead: retry from a
    /// fresh one; on any other error, retry from the last saved checkpoint.
    public func run(
        _ request: IssuanceRequest, from checkpoint: IssuanceCheckpoint? = nil,
        save: (IssuanceCheckpoint) async throws -> Void
    ) async throws -> IssuedCertificate {
        var current = checkpoint ?? IssuanceCheckpoint(identifiers: request.identifiers)
        while !current.isComplete {
            current = try await advance(current, request)
            try await save(current)
        }
        guard let pem = current.certificatePEM, let url = current.certificateURL, let order = current.orderURL else {
            throw ACMEError.invalidState("a completed checkpoint lacks the certificate")
        }
        return IssuedCertificate(chainPEM: pem, certificateURL: url, orderURL: order, alternateURLs: current.alternateURLs)
    }

    /// Performs the one step after `checkpoint` and returns the new checkpoint.
    public func advance(_ checkpoint: IssuanceCheckpoint, _ request: IssuanceRequest) async throws -> IssuanceCheckpoint {
        guard checkpoint.identifiers == request.identifiers else {
            throw ACMEError.invalidState("the checkpoint is for other identifiers than the request")
        }
        guard let action = Self.action(after: checkpoint.step) else { return checkpoint }
        // One span per step: a trace shows where an issuance spent its time and where it failed.
        return try await withSpan("acme.\(action)") { span in
            span.attributes["acme.step"] = checkpoint.step.rawValue
            span.attributes["acme.identifiers"] = checkpoint.identifiers.count
            if let order = checkpoint.orderURL { span.attributes["acme.order_url"] = order }
            var next = checkpoint
            var log = logger
            log[metadataKey: "acme_step"] = "\(checkpoint.step.rawValue)"
            if let order = checkpoint.orderURL { log[metadataKey: "acme_order"] = "\(order)" }
            switch checkpoint.step {
            case .start: try await createOrder(&next, request)
            case .orderCreated: try await presentChallenges(&next, request)
            case .challengesPresented: try await acceptChallenges(&next)
            case .challengesAccepted: try await awaitAuthorizations(&next, log)
            case .orderReady: try await finalize(&next, request)
            case .finalized: try await awaitCertificate(&next)
            case .certificateReady: try await download(&next, request)
            case .downloaded: break
            }
            span.attributes["acme.next_step"] = next.step.rawValue
            log.debug("ACME issuance step done", metadata: ["acme_next": "\(next.step.rawValue)"])
            return next
        }
    }

    /// What the step after STEP does, as its span is named; nil when the issuance is complete.
    static func action(after step: IssuanceCheckpoint.Step) -> String? {
        switch step {
        case .start: "new_order"
        case .orderCreated: "present_challenges"
        case .challengesPresented: "accept_challenges"
        case .challengesAccepted: "await_authorizations"
        case .orderReady: "finalize"
        case .finalized: "await_certificate"
        case .certificateReady: "download_certificate"
        case .downloaded: nil
        }
    }

    private func createOrder(_ next: inout IssuanceCheckpoint, _ request: IssuanceRequest) async throws {
        guard let account = client.accountURL else { throw ACMEError.invalidState("the client has no account URL") }
        if let saved = next.accountURL, saved != account {
            throw ACMEError.invalidState("the checkpoint belongs to another account")
        }
        let identifiers = next.identifiers.map(Self.identifier)
        let order: ACMEOrder
        do {
            order = try await client.newOrder(identifiers: identifiers, profile: request.profile, replaces: request.replaces)
        } catch {
            // Another order already replaces that certificate (ours, before a crash, or a
            // renewal elsewhere): order without `replaces` rather than not at all.
            guard request.replaces != nil, Self.isAlreadyReplaced(error) else { throw error }
            order = try await client.newOrder(identifiers: identifiers, profile: request.profile)
        }
        next.accountURL = account
        next.orderURL = order.url
        next.finalizeURL = order.finalize
        next.authorizationURLs = order.authorizations
        // Every authorization already valid (reused by the CA): nothing to present or to wait
        // for, and no authorization fetched (see `ACMEClient.waitForChallenge` for why fewer
        // authorization fetches matter).
        next.step = order.status == .ready ? .orderReady : .orderCreated
    }

    private func presentChallenges(_ next: inout IssuanceCheckpoint, _ request: IssuanceRequest) async throws {
        var tasks: [ChallengeTask] = []
        for url in next.authorizationURLs {
            let authorization = try await client.fetchAuthorization(url: url)
            switch authorization.status {
            case .valid: continue // reused authorization (or validated before a crash)
            case .pending: break
            default: throw ACMEError.orderInvalid(authorization.failure)
            }
            let type: ChallengeType = authorization.wildcard == true ? .dns01 : request.challengeType
            guard let solver = solvers[type] else { throw ACMEError.notSupported("no \(type.rawValue) solver configured") }
            guard let challenge = authorization.challenge(ofType: type), let token = challenge.token else {
                throw ACMEError.notSupported("\(type.rawValue) is not offered for \(authorization.identifier)")
            }
            let task = ChallengeTask(
                identifier: authorization.identifier, type: type, token: token,
                keyAuthorization: try client.keyAuthorization(token: token), challengeURL: challenge.url, authorizationURL: url)
            tasks.append(task)
            do {
                try await solving(task) { try await solver.present(task) }
            } catch let error as ACMEError where error.isDNSProviderFailure {
                // The job ends here: remove what was already written (cleanup deletes only our values).
                await cleanUp(tasks, logger)
                throw error
            }
        }
        next.challenges = tasks
        next.step = .challengesPresented
    }

    private func acceptChallenges(_ next: inout IssuanceCheckpoint) async throws {
        for task in next.challenges {
            guard let solver = solvers[task.type] else { throw ACMEError.notSupported("no \(task.type.rawValue) solver configured") }
            do {
                try await solving(task) { try await solver.waitUntilReady(task, timeout: propagationTimeout) }
            } catch let error as ACMEError where error.isDNSProviderFailure {
                await cleanUp(next.challenges, logger)
                throw error
            }
        }
        for task in next.challenges {
            // Only pending challenges: a resumed run must not re-POST one the CA already took.
            guard try await client.fetchChallenge(url: task.challengeURL).status == .pending else { continue }
            try await client.acceptChallenge(url: task.challengeURL)
        }
        next.step = .challengesAccepted
    }

    private func awaitAuthorizations(_ next: inout IssuanceCheckpoint, _ log: Logger) async throws {
        let challenges = ACMEChallengeMetrics(ca: client.configuration.directoryURL)
        do {
            // Only the challenges answered: the other authorizations were valid when presented.
            for task in next.challenges {
                do {
                    try await client.waitForChallenge(task)
                    challenges.record(task.type, ending: nil)
                } catch {
                    challenges.record(task.type, ending: error)
                    throw error
                }
            }
        } catch {
            await cleanUp(next.challenges, log)
            throw error
        }
        await cleanUp(next.challenges, log)
        guard let orderURL = next.orderURL else { throw ACMEError.invalidState("the checkpoint has no order URL") }
        _ = try await client.waitForOrder(url: orderURL, until: [.ready, .processing, .valid])
        next.step = .orderReady
    }

    private func finalize(_ next: inout IssuanceCheckpoint, _ request: IssuanceRequest) async throws {
        guard let orderURL = next.orderURL else { throw ACMEError.invalidState("the checkpoint has no order URL") }
        let order = try await client.fetchOrder(url: orderURL)
        switch order.status {
        case .ready:
            // The first DNS name (CAs put no IP address in the CN); none for an IP-only order.
            let commonName = request.identifiers.first { IPAddress.canonical($0) == nil && $0.utf8.count <= 64 }
            let csr: CertificateSigningRequest
            do {
                csr = try CertificateSigningRequest.make(
                    commonName: commonName, subjectAltNames: request.identifiers, key: request.certificateKey)
            } catch { throw ACMEError.crypto(error.description) }
            let finalized = try await client.finalize(order: order, csr: csr)
            next.finalizeSent = true
            if finalized.status == .valid, let certificate = finalized.certificate {
                next.certificateURL = certificate // signed at once: no poll needed
                next.step = .certificateReady
                return
            }
        case .processing, .valid:
            break // the CSR went out before a crash; the CA has it
        case .pending, .invalid:
            throw ACMEError.orderInvalid(
                order.error ?? ACMEProblem(type: "urn:ietf:params:acme:error:orderNotReady", detail: "order is \(order.status.rawValue)"))
        }
        next.finalizeSent = true
        next.step = .finalized
    }

    private func awaitCertificate(_ next: inout IssuanceCheckpoint) async throws {
        guard let orderURL = next.orderURL else { throw ACMEError.invalidState("the checkpoint has no order URL") }
        // Not polled at once: Pebble 2.4 hangs for good when a poll of an order
        // lands while it stores the order's certificate (its order handler takes
        // the order's read lock twice); a CA signs in milliseconds anyway.
        let order = try await client.waitForOrder(url: orderURL, until: [.valid], waitFirst: true)
        guard let certificate = order.certificate else { throw ACMEError.invalidState("a valid order without certificate URL") }
        next.certificateURL = certificate
        next.step = .certificateReady
    }

    private func download(_ next: inout IssuanceCheckpoint, _ request: IssuanceRequest) async throws {
        guard let url = next.certificateURL else { throw ACMEError.invalidState("the checkpoint has no certificate URL") }
        var chain = try await client.downloadCertificate(url: url)
        if let preferred = request.preferredChain, !Self.topIssuer(chain, is: preferred) {
            for alternate in chain.alternateURLs {
                let candidate = try await client.downloadCertificate(url: alternate)
                if Self.topIssuer(candidate, is: preferred) {
                    chain = ACMECertificateChain(url: candidate.url, pem: candidate.pem, alternateURLs: chain.alternateURLs)
                    break
                }
            }
        }
        let leaf = try chain.certificates()[0]
        guard request.certificateKey.matches(leaf) else {
            throw ACMEError.invalidState("the issued certificate does not carry the request's key")
        }
        next.certificatePEM = chain.pem
        next.alternateURLs = chain.alternateURLs
        next.step = .downloaded
    }

    private static func topIssuer(_ chain: ACMECertificateChain, is name: String) -> Bool {
        (try? chain.certificates().last?.info.issuer.commonName) == name
    }

    private func cleanUp(_ tasks: [ChallengeTask], _ log: Logger) async {
        for task in tasks {
            do { try await solvers[task.type]?.cleanUp(task) } catch {
                // A leftover token or TXT record is harmless; the issuance result matters more.
                log.warning("challenge clean-up failed", metadata: ["identifier": "\(task.identifier)", "error": "\(error)"])
            }
        }
    }

    private func solving(_ task: ChallengeTask, _ body: () async throws -> Void) async throws {
        do { try await body() } catch let error as ACMEError {
            throw error
        } catch let failure as DNS01Failure {
            throw ACMEError.dnsProvider(failure)
        } catch {
            throw ACMEError.solver(type: task.type, identifier: task.identifier, reason: "\(error)")
        }
    }

    static func isAlreadyReplaced(_ error: ACMEError) -> Bool { error.problem?.kind == .alreadyReplaced }

    static func identifier(_ name: String) -> ACMEIdentifier {
        // RFC 8738: IP addresses are `ip` identifiers.
        IPAddress.canonical(name).map { ACMEIdentifier(type: "ip", value: $0) } ?? .dns(name)
    }
}
