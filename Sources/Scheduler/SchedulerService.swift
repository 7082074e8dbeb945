import ACME
import AMQP
import CertFleetCore
import Foundation
import Logging
import Messaging
import ServiceLifecycle
import Store
import Telemetry

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
    /// Most renew jobs waiting for a worker at once (nil: no limit). Past it the renewal scan
    /// submits more only as workers take them, every second, so a storm of due certificates
    /// is not one burst of submissions that takes the machine from the API, and the broker's
    /// queue stays short; the certificates wait, due, in the database meanwhile.
    public var renewalQueueLimit: Int?
    /// Queued jobs untouched this long with no message waiting get a new message.
    public var staleQueuedAfter: Duration
    /// What is deleted when (nil: nothing is), and how often a retention pass runs.
    public var retention: RetentionPolicy?
    public var retentionInterval: Duration
    public var schedulerID: String

    public init(
        relayInterval: Duration = .seconds(1), reapInterval: Duration = .seconds(5), expiryInterval: Duration = .seconds(60),
        expiringThresholds: [Int] = Maintenance.defaultExpiringThresholds, renewalInterval: Duration = .seconds(60),
        renewalBackoff: BackoffPolicy = .renewal, renewalQueueLimit: Int? = nil,
        staleQueuedAfter: Duration = .seconds(120),
        retention: RetentionPolicy? = .defaults, retentionInterval: Duration = .seconds(300),
        schedulerID: String = "scheduler-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    ) {
        self.relayInterval = relayInterval
        self.reapInterval = reapInterval
        self.expiryInterval = expiryInterval
        self.expiringThresholds = expiringThresholds
        self.renewalInterval = renewalInterval
        self.renewalBackoff = renewalBackoff
        self.renewalQueueLimit = renewalQueueLimit
        self.staleQueuedAfter = staleQueuedAfter
        self.retention = retention
        self.retentionInterval = retentionInterval
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

    public init(
        db: Database, connectionString: String, amqp: AMQPConnection, topology: CertFleetTopology,
        configuration: SchedulerConfiguration, renew: RenewalSubmitter? = nil, acme: ACMESettings? = nil, logger: Logger
    ) {
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
                group.addTask { await self.every(self.configuration.reapInterval, "reaper") { _ = try await self.reapTick() } }
                if self.configuration.retention != nil {
                    group.addTask { await self.every(self.configuration.retentionInterval, "retention") { _ = try await self.retentionTick() } }
                }
                group.addTask { await self.every(self.configuration.expiryInterval, "expiry") { _ = try await self.expiryTick() } }
                if self.renew != nil {
                    group.addTask {
                        await self.loop(self.configuration.renewalInterval, "renewal") {
                            try await self.renewalPass().heldBack ? Self.heldBackRecheck : nil
                        }
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
        await publisher.flushMarks()
        logger.info("scheduler stopped")
    }

    // MARK: - one tick of each loop (public: `certfleet bench scale` times them)

    /// Requeues jobs whose lease ran out (batch after batch), redelivers stale queued jobs,
    /// folds the /metrics count deltas. Returns the jobs requeued.
    public func reapTick() async throws -> Int {
        var total = 0, reaped = 0
        repeat {
            let (count, outbox) = try await maintenance.reapExpiredLeases(limit: Self.batch)
            reaped = count
            total += count
            await publisher.publishNow(outbox)
        } while reaped == Self.batch && !Task.isCancelled
        if total > 0 { logger.info("requeued jobs with expired leases", metadata: ["count": "\(total)"]) }
        let stale = try await maintenance.redeliverStaleQueuedJobs(age: configuration.staleQueuedAfter)
        if !stale.isEmpty { logger.warning("redelivering stale queued jobs", metadata: ["count": "\(stale.count)"]) }
        await publisher.publishNow(stale)
        try await StateCounts.fold(db)
        return total
    }

    /// `expired` past `not_after`, then `expiring` at the thresholds, batch after batch.
    public func expiryTick() async throws -> (expired: Int, expiring: Int) {
        var expired = 0, expiring = 0, count = 0
        repeat {
            let (n, outbox) = try await maintenance.expireCertificates(limit: Self.batch)
            count = n
            expired += n
            await publisher.publishNow(outbox)
        } while count == Self.batch && !Task.isCancelled
        repeat {
            let (n, outbox, visited) = try await maintenance.announceExpiring(thresholds: configuration.expiringThresholds, limit: Self.batch)
            count = visited
            expiring += n
            await publisher.publishNow(outbox)
        } while count == Self.batch && !Task.isCancelled
        if expired > 0 { logger.info("certificates expired", metadata: ["count": "\(expired)"]) }
        if expiring > 0 { logger.info("certificates expiring", metadata: ["count": "\(expiring)"]) }
        return (expired, expiring)
    }

    /// One retention pass (`RetentionPolicy`); nothing when retention is off.
    public func retentionTick() async throws -> RetentionReport {
        guard let policy = configuration.retention else { return RetentionReport() }
        let report = try await Retention(db: db, policy: policy).run()
        if report.total > 0 {
            logger.info(
                "retention deleted rows",
                metadata: [
                    "outbox": "\(report.outbox)", "jobs": "\(report.jobs)", "events": "\(report.events)", "versions": "\(report.versions)",
                ])
        }
        return report
    }

    /// Publishes every due outbox message; returns how many.
    public func relayTick() async throws -> Int {
        var total = 0, published = 0
        repeat {
            published = try await publisher.relay()
            total += published
        } while published > 0 && !Task.isShuttingDownGracefully && !Task.isCancelled
        return total
    }

    /// Claims the due renewals and submits one renew job each, batch after batch until nothing
    /// is due: a CA revoking tens of thousands at once must not wait a tick per 50 (the
    /// worker's issuance budget spreads what the CA would refuse). A claim already moved the
    /// certificate's `renew_at` to the next try, so a failed submission is retried then.
    /// Returns the renewals claimed.
    public func renewalTick() async throws -> Int { try await renewalPass().submitted }

    /// `renewalTick`, and whether `renewalQueueLimit` stopped it with renewals possibly still due.
    public func renewalPass() async throws -> (submitted: Int, heldBack: Bool) {
        guard let renew else { return (0, false) }
        var claimed = 0, total = 0, room = 0
        repeat {
            room = Self.renewalBatch
            if let limit = configuration.renewalQueueLimit {
                room = min(room, limit - (try await maintenance.queuedRenewals(upTo: limit)))
                if room <= 0 { return (total, true) }
            }
            let batch = try await maintenance.claimDueRenewals(backoff: configuration.renewalBackoff, limit: room)
            claimed = batch.count
            total += claimed
            await submit(batch, renew)
        } while claimed == room && !Task.isCancelled && !Task.isShuttingDownGracefully
        return (total, false)
    }

    /// How soon a renewal scan held back by `renewalQueueLimit` looks again.
    static let heldBackRecheck = Duration.seconds(1)

    /// Rows per scan statement: one short transaction each.
    static let batch = 100
    static let renewalBatch = 50

    /// Submissions in flight at once: each is a short transaction and a publish, independent
    /// of the others, so a storm is not one round trip after another; two, not more, because
    /// the workers drain far slower than this submits, and more at once only take the CPU
    /// from the API (bench storm: GET p99 of the first rounds 25 / 20 ms at 2, 29 / 35 at 8).
    static let submitConcurrency = 2

    private func submit(_ batch: [DueRenewal], _ renew: @escaping RenewalSubmitter) async {
        await withTaskGroup(of: Void.self) { group in
            for (index, due) in batch.enumerated() {
                if index >= Self.submitConcurrency { await group.next() }
                group.addTask { await self.submit(due, renew) }
            }
        }
    }

    private func submit(_ due: DueRenewal, _ renew: RenewalSubmitter) async {
        let metadata: Logger.Metadata = [
            "certificate_id": "\(due.certificateID.uuidString.lowercased())", "version": "\(due.version)", "attempt": "\(due.attempt)",
        ]
        do {
            // The renewal's trace starts here: the renew job's outbox row carries this span.
            try await withSpan("renewal due", context: .topLevel, ofKind: .producer) { span in
                span.attributes["certfleet.certificate_id"] = due.certificateID.uuidString.lowercased()
                span.attributes["certfleet.version"] = due.version
                span.attributes["certfleet.attempt"] = due.attempt
                try await renew(due, configuration.schedulerID)
            }
            logger.info("renewal submitted", metadata: metadata)
        } catch let error as StoreError {
            // A renewal forced through the API runs already, or the certificate moved on.
            logger.info("renewal not submitted", metadata: metadata.merging(["reason": "\(error.code)"]) { $1 })
        } catch {
            logger.warning(
                "renewal submission failed; retried at the next try",
                metadata: metadata.merging(["error": "\(error)", "next_try": "\(due.nextTry)"]) { $1 })
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
                        let published = try await self.relayTick()
                        if published > 0 { self.logger.debug("relayed outbox messages", metadata: ["count": "\(published)"]) }
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
        await loop(interval, name) {
            try await body()
            return nil
        }
    }

    /// Runs BODY until shutdown, sleeping INTERVAL after each run, or as long as BODY asks (it has more to do soon).
    private func loop(_ interval: Duration, _ name: String, _ body: @Sendable () async throws -> Duration?) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait = interval
            do {
                wait = try await body() ?? interval
            } catch is CancellationError {
                return // shutting down: not a failure worth a warning
            } catch {
                logger.warning("\(name) failed; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: wait)
        }
    }
}
