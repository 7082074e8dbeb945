import CertFleetCore
import Foundation
import Logging
import Store

/// Puts the certificate's current version on one target (the job names it). Idempotent:
/// a target that already holds the version gets nothing (the replay after a crash between
/// delivering and committing re-sends, which every kind tolerates — files are swapped
/// again, HAProxy takes the same certificate again, a webhook sees the same event id).
public struct DeliverJob: JobHandler {
    public let kind = JobKind.deliver
    let context: JobContext
    let policy: DeliveryRetryPolicy
    let metrics: DeliveryMetrics

    public init(context: JobContext, policy: DeliveryRetryPolicy = .standard, metrics: DeliveryMetrics = DeliveryMetrics()) {
        self.context = context
        self.policy = policy
        self.metrics = metrics
    }

    public func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult {
        guard let work = try await Deliveries(db: context.db).work(for: job) else {
            return failure(DeliveryFailure(.bindingRemoved, "the certificate is no longer bound to this target"), job: job, kind: nil, since: Date())
        }
        var log = logger
        log[metadataKey: "target"] = "\(work.target.name)"
        switch DeliveryPlan.decide(held: work.heldVersion, current: work.currentVersion) {
        case .nothingValid:
            return failure(
                DeliveryFailure(.keyUnavailable, "the certificate has no valid version to deliver"), job: job, kind: work.target.kind,
                since: work.jobCreatedAt)
        case .refuseDowngrade(let held, let offered):
            return failure(
                DeliveryFailure(.downgradeRefused, "the target holds version \(held); version \(offered) is older"),
                job: job, kind: work.target.kind, since: work.jobCreatedAt)
        case .upToDate(let version):
            return .delivered(
                DeliveryReceipt(
                    version: version, fingerprintSHA256: work.fingerprintSHA256 ?? "",
                    answer: "already held", alreadyHeld: true))
        case .deliver(let version):
            let started = ContinuousClock.now
            do {
                let bundle = try bundle(work, version: version, job: job)
                let answer = try await deliverer(for: work.target).deliver(bundle)
                metrics.delivered(kind: work.target.kind, duration: ContinuousClock.now - started, since: work.validSince)
                log.info("delivered", metadata: ["version": "\(version)", "answer": "\(answer.prefix(200))"])
                return .delivered(DeliveryReceipt(version: version, fingerprintSHA256: bundle.fingerprintSHA256, answer: answer))
            } catch let failure as DeliveryFailure {
                log.warning("delivery failed", metadata: ["code": "\(failure.code.rawValue)", "answer": "\(failure.answer.prefix(200))"])
                return self.failure(failure, job: job, kind: work.target.kind, since: work.jobCreatedAt)
            }
        }
    }

    /// Retry with backoff while the failure may pass and the day is not over; else the end.
    func failure(_ failure: DeliveryFailure, job: ClaimedJob, kind: DeliveryTargetKind?, since: Date) -> JobResult {
        switch policy.decide(failure, attempt: job.attempt, firstAttempt: since, now: Date()) {
        case .retry(let at) where job.attempt < job.maxAttempts:
            metrics.attemptFailed(kind: kind, code: failure.code.rawValue)
            return .retry(.delivery(code: failure.code.rawValue), message: failure.answer, notBefore: at)
        default:
            metrics.gaveUp(kind: kind, code: failure.code.rawValue)
            return .failed(.delivery(code: failure.code.rawValue), message: failure.answer)
        }
    }

    func bundle(_ work: DeliveryWork, version: Int, job: ClaimedJob) throws -> DeliveryBundle {
        guard let sealed = work.sealedKey, let keyID = work.masterKeyID else {
            throw DeliveryFailure(.keyUnavailable, "version \(version) has no private key (erased)")
        }
        let key: [UInt8]
        do {
            let aad = KeySealer.certificateKeyContext(certificate: job.certificateID, version: version)
            key = try context.sealer.open(sealed, keyID: keyID, context: aad)
        } catch {
            throw DeliveryFailure(.keyUnavailable, "the master key \(keyID) is not loaded in this worker")
        }
        return DeliveryBundle(
            certificateID: job.certificateID, projectID: job.projectID, certificateName: work.certificateName, version: version,
            serial: work.serial ?? "", fingerprintSHA256: work.fingerprintSHA256 ?? "", chainPEM: work.chainPEM,
            keyPEM: String(decoding: key, as: UTF8.self))
    }

    func deliverer(for target: DeliveryTarget) async throws -> any Deliverer {
        switch try DeliveryTargetSettings.parse(kind: target.kind, config: target.config, hasSecret: target.hasSecret) {
        case .files(let directory, let command, let timeout):
            return FilesDeliverer(directory: directory, reloadCommand: command, reloadTimeout: timeout)
        case .haproxy(let socket, let certificate):
            return HAProxyDeliverer(socket: socket, certificatePath: certificate)
        case .webhook(let url):
            guard let secret = try await Targets(db: context.db, sealer: context.sealer).secret(target: target.id) else {
                throw DeliveryFailure(.targetMisconfigured, "the webhook's secret is gone")
            }
            return WebhookDeliverer(url: url, secret: secret, targetID: target.id)
        case .agent:
            throw DeliveryFailure(.kindUnsupported, "agents fetch their certificates; no job pushes to them")
        case .unit(let socket, let listener):
            return UnitDeliverer(socket: socket, listener: listener)
        }
    }
}

extension DeliveryRetryPolicy {
    /// `CERTFLEET_DELIVERY_RETRY_FOR` (seconds a failing delivery is retried; default 86400) and
    /// `CERTFLEET_DELIVERY_BACKOFF_BASE` / `_CAP` (seconds; default 2 and 3600).
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> DeliveryRetryPolicy {
        func seconds(_ name: String, _ fallback: Int) -> Duration { .seconds(max(1, Int(environment[name] ?? "") ?? fallback)) }
        let base = seconds("CERTFLEET_DELIVERY_BACKOFF_BASE", 2)
        let cap = max(base, seconds("CERTFLEET_DELIVERY_BACKOFF_CAP", 3600))
        return DeliveryRetryPolicy(backoff: BackoffPolicy(base: base, cap: cap), giveUpAfter: seconds("CERTFLEET_DELIVERY_RETRY_FOR", 86400))
    }
}
