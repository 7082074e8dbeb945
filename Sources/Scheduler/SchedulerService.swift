import ACME
import AMQP
import CertFleetCore
import Foundation
import Messaging
import Logging
import ServiceLifecycle
import Store

/// How often the scheduler's loops run.
public struct SchedulerConfiguration: Sendable {
    /// The relay's polling interval (a NOTIFY wakes it earlier).
    public var relayInterval: Duration
    public var reapInterval: Duration
    /// The expiry scan: `expired` past `not_after`, `expiring` at the thresholds.
    public var expiryInterval: Duration
    /// Days before `not_after` at which `expiring` is announced (once each per version).
    public var expiringThresholds: [Int]
    /// The renewal scan.
    public var renewalInterval: Duration
    /// Waits between renewal tries of one version after failures (never past `not_after`):
    /// 1–2 h after the first, doubling, at most 32 h (the claim draws in [½, 1] of the
    /// ceiling), as cert-manager backs off a failing renewal.
    public var renewalBackoff: BackoffPolicy
    /// Queued jobs untouched this long with no message waiting get a new message.
    public var staleQueuedAfter: Duration
    public var schedulerID: String

    public init(relayInterval: Duration = .seconds(1), reapInterval: Duration = .seconds(5), expiryInterval: Duration = .seconds(60),
                expiringThresholds: [Int] = Maintenance.defaultExpiringThresholds, renewalInterval: Duration = .seconds(60),
                renewalBackoff: BackoffPolicy = .renewal,
                staleQueuedAfter: Duration = .seconds(120),
                schedulerID: String = "scheduler-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)") {
        self.relayInterval = relayInterval
        self.reapInterval = reapInterval
        self.expiryInterval = expiryInterval
        self.expiringThresholds = expiringThresholds
        self.renewalInterval = renewalInterval
        self.renewalBackoff = renewalBackoff
        self.staleQueuedAfter = staleQueuedAfter
        self.schedulerID = schedulerID
    }
}

/// Submits one due renewal (the job submitter's `renew`, with the renewal's idempotency key).
public typealias RenewalSubmitter = @Sendable (DueRenewal, _ actor: String) async throws -> Void

/// The timer process: outbox relay, lease reaper, expiry and `expiring` scan, renewal
/// scan. Several may run at once:
/// every step locks rows with `FOR UPDATE SKIP LOCKED`, so they share work, never repeat it.
public final class SchedulerService: Service, Sendable {
    let db: Database
    let publisher: OutboxPublisher
    let maintenance: Maintenance
    let configuration: SchedulerConfiguration
    let connectionString: String
    /// nil: no renewal scan (nothing can renew).
    let renew: RenewalSubmitter?
    /// nil: the CAs' renewal windows (ARI) are not polled.
    let renewalInfo: RenewalInfoPoller?
    let logger: Logger

    public init(db: Database, connectionString: String, amqp: AMQPConnection, topology: CertFleetTopology,
                configuration: SchedulerConfiguration, renew: RenewalSubmitter? = nil, acme: ACMESettings? = nil, logger: Logger) {
        self.db = db
        self.renew = renew
        self.renewalInfo = acme.map {
            RenewalInfoPoller(maintenance: Maintenance(db: db, actor: configuration.schedulerID), settings: $0, logger: logger)
        }
        self.connectionString = connectionString
        self.publisher = OutboxPublisher(db: db, amqp: amqp, topology: topology, logger: logger)
        self.maintenance = Maintenance(db: db, actor: configuration.schedulerID)
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        logger.info("scheduler started", metadata: ["scheduler_id": "\(configuration.schedulerID)"])
        let listener = OutboxWakeups(connectionString: connectionString, logger: logger)
        defer { listener.stop() }
        // Graceful shutdown cancels the loops, so a sleeping loop (the expiry scan sleeps a
        // minute) stops at once; work in flight finishes its current statement.
        try? await cancelWhenGracefulShutdown {
          await withDiscardingTaskGroup { group in
            group.addTask { await self.relayLoop(listener: listener) }
            group.addTask {
                await self.every(self.configuration.reapInterval, "reaper") {
                    let (reaped, outbox) = try await self.maintenance.reapExpiredLeases()
                    if reaped > 0 { self.logger.info("requeued jobs with expired leases", metadata: ["count": "\(reaped)"]) }
                    await self.publisher.publishNow(outbox)
                    let stale = try await self.maintenance.redeliverStaleQueuedJobs(age: self.configuration.staleQueuedAfter)
                    if !stale.isEmpty { self.logger.warning("redelivering stale queued jobs", metadata: ["count": "\(stale.count)"]) }
                    await self.publisher.publishNow(stale)
                }
            }
            group.addTask {
                await self.every(self.configuration.expiryInterval, "expiry") {
                    let (expired, outbox) = try await self.maintenance.expireCertificates()
                    if expired > 0 { self.logger.info("certificates expired", metadata: ["count": "\(expired)"]) }
                    await self.publisher.publishNow(outbox)
                    let (expiring, notices) = try await self.maintenance.announceExpiring(thresholds: self.configuration.expiringThresholds)
                    if expiring > 0 { self.logger.info("certificates expiring", metadata: ["count": "\(expiring)"]) }
                    await self.publisher.publishNow(notices)
                }
            }
            if let renew = self.renew {
                group.addTask {
                    await self.every(self.configuration.renewalInterval, "renewal") { try await self.renewDue(renew) }
                }
            }
            if let poller = self.renewalInfo {
                group.addTask {
                    await self.every(self.configuration.renewalInterval, "renewal info") {
                        // Batches until nothing is due, so a large fleet is not held to one batch a tick.
                        while try await poller.checkDue() > 0 && !Task.isCancelled {}
                    }
                }
            }
          }
        }
        await renewalInfo?.shutdown()
        logger.info("scheduler stopped")
    }

    /// Claims the due renewals and submits one renew job each. A claim already moved the
    /// certificate's `renew_at` to the next try, so a failure here is retried then.
    private func renewDue(_ renew: RenewalSubmitter) async throws {
        for due in try await maintenance.claimDueRenewals(backoff: configuration.renewalBackoff) {
            let metadata: Logger.Metadata = [
                "certificate_id": "\(due.certificateID.uuidString.lowercased())", "version": "\(due.version)", "attempt": "\(due.attempt)"]
            do {
                try await renew(due, configuration.schedulerID)
                logger.info("renewal submitted", metadata: metadata)
            } catch let error as StoreError {
                // A renewal forced through the API runs already, or the certificate moved on.
                logger.info("renewal not submitted", metadata: metadata.merging(["reason": "\(error.code)"]) { $1 })
            } catch {
                logger.warning("renewal submission failed; retried at the next try",
                               metadata: metadata.merging(["error": "\(error)", "next_try": "\(due.nextTry)"]) { $1 })
            }
        }
    }

    /// Publishes everything due; sleeps until the next tick or a NOTIFY, whichever comes first.
    private func relayLoop(listener: OutboxWakeups) async {
        let (ticks, tick) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in listener.wakeups { tick.yield() }
            }
            group.addTask {
                while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: self.configuration.relayInterval)
                    tick.yield()
                }
                tick.finish()
            }
            group.addTask {
                for await _ in ticks {
                    if Task.isShuttingDownGracefully || Task.isCancelled { break }
                    do {
                        var published = 0
                        repeat {
                            published = try await self.publisher.relay()
                            if published > 0 { self.logger.debug("relayed outbox messages", metadata: ["count": "\(published)"]) }
                        } while published > 0 && !Task.isShuttingDownGracefully
                    } catch {
                        self.logger.warning("relay failed; retrying", metadata: ["error": "\(error)"])
                    }
                }
                // Ends the notification loop above (the listener finishes its stream).
                listener.stop()
            }
        }
    }

    private func every(_ interval: Duration, _ name: String, _ body: @Sendable () async throws -> Void) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await body()
            } catch {
                logger.warning("\(name) failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
