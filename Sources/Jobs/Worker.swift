import AMQP
import CertFleetCore
import Foundation
import Logging
import Messaging
import NIOConcurrencyHelpers
import ServiceLifecycle
import Store
import Telemetry

/// How a worker process runs.
public struct WorkerConfiguration: Sendable {
    /// The job kinds (queues) this worker consumes.
    public var kinds: [JobKind]
    /// Jobs in flight at once, per queue (also the broker prefetch).
    public var concurrency: Int
    /// How long a claim lasts without renewal; renewed every third of it.
    public var lease: Duration
    /// This worker's identity in `jobs.lease_owner` and the audit trail.
    public var workerID: String
    public var backoff: BackoffPolicy

    public init(
        kinds: [JobKind] = JobKind.allCases, concurrency: Int = 4, lease: Duration = .seconds(60),
        workerID: String = WorkerConfiguration.defaultWorkerID(), backoff: BackoffPolicy = BackoffPolicy()
    ) {
        self.kinds = kinds
        self.concurrency = max(1, concurrency)
        self.lease = lease
        self.workerID = workerID
        self.backoff = backoff
    }

    /// `worker-<host>-<pid>-<random>`: unique per process, readable in the audit trail.
    public static func defaultWorkerID() -> String {
        "worker-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(6).lowercased())"
    }
}

/// Consumes job queues and runs the job protocol for each delivery:
/// claim → run (lease renewed) → commit → publish the commit's outbox rows → ack (the rows
/// are marked published a moment later, in a batch: `PublishedMarks`).
/// On graceful shutdown it stops consuming, finishes what is in flight, and returns.
public final class Worker: Service, Sendable {
    let db: Database
    let amqp: AMQPConnection
    let topology: CertFleetTopology
    let configuration: WorkerConfiguration
    let ledger: JobLedger
    let publisher: OutboxPublisher
    let handlers: [JobKind: any JobHandler]
    let logger: Logger
    public let metrics: WorkerMetrics
    private let consumers = NIOLockedValueBox([AMQPConsumer]())

    public init(
        db: Database, amqp: AMQPConnection, topology: CertFleetTopology, context: JobContext,
        configuration: WorkerConfiguration, metrics: WorkerMetrics = WorkerMetrics(), logger: Logger
    ) {
        self.db = db
        self.amqp = amqp
        self.topology = topology
        self.configuration = configuration
        self.ledger = JobLedger(db: db)
        self.publisher = OutboxPublisher(db: db, amqp: amqp, topology: topology, logger: logger)
        var handlers: [JobKind: any JobHandler] = [:]
        let clients = ACMEClients(settings: context.acme)
        let all: [any JobHandler] = [
            ValidateJob(context: context), DeleteJob(context: context), IssueJob(kind: .issue, context: context, clients: clients),
            IssueJob(kind: .renew, context: context, clients: clients), RevokeJob(context: context, clients: clients),
            DeliverJob(context: context, policy: .fromEnvironment()),
        ]
        for handler in all { handlers[handler.kind] = handler }
        self.handlers = handlers
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        try await amqp.declare(topology.topology)
        let kinds = configuration.kinds.filter { handlers[$0] != nil }
        logger.info(
            "worker started",
            metadata: [
                "worker_id": "\(configuration.workerID)", "queues": "\(kinds.map(\.rawValue).joined(separator: ","))",
                "concurrency": "\(configuration.concurrency)",
            ])
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for kind in kinds {
                    let consumer = try await amqp.consume(queue: topology.jobQueue(kind.rawValue), prefetch: UInt16(configuration.concurrency))
                    consumers.withLockedValue { $0.append(consumer) }
                    group.addTask { try await self.consume(consumer) }
                }
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stopConsuming()
        }
        await publisher.flushMarks()
        logger.info("worker drained", metadata: ["counts": "\(metrics.snapshot.sorted { $0.key < $1.key })"])
    }

    /// Stops taking deliveries; in-flight jobs finish and are acked.
    public func stopConsuming() {
        let current = consumers.withLockedValue { $0 }
        for consumer in current {
            Task { try? await consumer.cancel() }
        }
    }

    private func consume(_ consumer: AMQPConsumer) async throws {
        // Deliveries are processed concurrently; prefetch bounds how many are in flight.
        // Handler tasks are not cancelled on shutdown: the group waits for them.
        await withTaskGroup(of: Void.self) { inFlight in
            do {
                for try await delivery in consumer {
                    inFlight.addTask { await self.process(delivery, from: consumer) }
                }
            } catch {
                logger.warning("consumer ended", metadata: ["queue": "\(consumer.queue)", "error": "\(error)"])
            }
            await inFlight.waitForAll()
        }
    }

    private func process(_ delivery: AMQPDelivery, from consumer: AMQPConsumer) async {
        let message: JobMessage
        do {
            message = try JobMessage.decode(delivery.body)
        } catch {
            // Never requeued: it would come back forever. Visible in the dead-letter queue.
            metrics.deadLettered(reason: "unparseable")
            logger.error(
                "unparseable job message dead-lettered", metadata: ["queue": "\(consumer.queue)", "message_id": "\(delivery.messageID ?? "-")"])
            try? await consumer.reject(delivery, requeue: false)
            return
        }
        // The job's span continues the trace the message carries (the API request or the commit
        // that queued it); a message without one starts a trace of its own.
        let parent = TraceHeaders.context(from: delivery.headers.compactMapValues(\.stringValue))
        await withSpan("job \(message.kind.rawValue)", context: parent, ofKind: .consumer) { span in
            span.attributes["certfleet.job_id"] = message.jobID.uuidString.lowercased()
            span.attributes["certfleet.certificate_id"] = message.certificateID.uuidString.lowercased()
            span.attributes["certfleet.job_kind"] = message.kind.rawValue
            span.attributes["messaging.rabbitmq.redelivered"] = delivery.redelivered
            await process(message, delivery, from: consumer, span: span)
        }
    }

    private func process(_ message: JobMessage, _ delivery: AMQPDelivery, from consumer: AMQPConsumer, span: any Span) async {
        var log = logger
        log[metadataKey: "job_id"] = "\(message.jobID.uuidString.lowercased())"
        log[metadataKey: "certificate_id"] = "\(message.certificateID.uuidString.lowercased())"
        log[metadataKey: "kind"] = "\(message.kind.rawValue)"
        do {
            let claimed = try await withSpan("job.claim") { claim in
                let job = try await ledger.claim(jobID: message.jobID, owner: configuration.workerID, lease: configuration.lease)
                claim.attributes["certfleet.claimed"] = job != nil
                return job
            }
            guard let job = claimed else {
                span.attributes["certfleet.outcome"] = "duplicate_dropped"
                metrics.duplicateDropped()
                log.info("duplicate or stale delivery dropped", metadata: ["redelivered": "\(delivery.redelivered)"])
                try await consumer.ack(delivery)
                return
            }
            log[metadataKey: "attempt"] = "\(job.attempt)"
            span.attributes["certfleet.attempt"] = job.attempt
            let started = ContinuousClock.now
            let lag = Date().timeIntervalSince(job.readySince)
            let result = await withSpan("job.run \(job.kind.rawValue)") { run in
                let result = await runHoldingLease(job, logger: log)
                if let reason = Self.reason(result) { run.attributes["certfleet.reason"] = reason }
                return result
            }
            // The commit writes the events' outbox rows inside this span: the events continue the trace.
            let report = try await withSpan("job.commit") { commit in
                let report = try await ledger.commit(job, result: result)
                commit.attributes["certfleet.job_state"] = report.jobState.rawValue
                commit.attributes["certfleet.certificate_state"] = report.certificateState?.rawValue
                return report
            }
            span.attributes["certfleet.outcome"] = report.jobState.rawValue
            metrics.jobFinished(kind: job.kind, outcome: report.jobState.rawValue, duration: ContinuousClock.now - started, queueLag: lag)
            var committed: Logger.Metadata = [
                "job_state": "\(report.jobState.rawValue)", "certificate_state": "\(report.certificateState?.rawValue ?? "-")",
                "reason": "\(Self.reason(result) ?? "-")",
            ]
            // What went wrong, for whoever reads the log: the message of a failure or a retry (never key material).
            switch result {
            case .failed(_, let message), .retry(_, let message, _), .snoozed(_, let message, _): committed["detail"] = "\(message.prefix(300))"
            default: break
            }
            log.info("job committed", metadata: committed)
            await publisher.publishNow(report.outbox)
            try await consumer.ack(delivery)
        } catch let error as LeaseLost {
            span.attributes["certfleet.outcome"] = "lease_lost"
            metrics.leaseLost()
            log.warning("lease lost; nothing committed", metadata: ["error": "\(error)"])
            try? await consumer.ack(delivery)
        } catch {
            // Database or broker trouble: the message goes back; if the job was claimed,
            // its lease runs out and the reaper requeues it. Pause so an outage is not a busy loop.
            span.setStatus(SpanStatus(code: .error, message: "job not committed; will be retried"))
            log.warning("job not committed; will be retried", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            try? await consumer.nack(delivery, requeue: true)
        }
    }

    /// Runs the handler while renewing the lease every third of its length. A lost lease
    /// cancels the handler (the commit will then be refused as well).
    private func runHoldingLease(_ job: ClaimedJob, logger: Logger) async -> JobResult {
        guard let handler = handlers[job.kind] else {
            return .failed(.unsupportedJobKind, message: "this worker has no handler for \(job.kind.rawValue) jobs")
        }
        let lease = configuration.lease
        let backoff = configuration.backoff
        return await withTaskGroup(of: JobResult?.self) { group in
            group.addTask {
                do {
                    return try await handler.run(job, logger: logger)
                } catch {
                    let next = backoff.nextAttempt(after: job.attempt, now: Date()) ?? Date().addingTimeInterval(60)
                    return .retry(.transientError, message: "\(error)", notBefore: next)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: lease / 3)
                    if Task.isCancelled { break }
                    if (try? await self.ledger.extendLease(job, lease: lease)) == false { return nil }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let result = next { return result }
                // The renewer gave up: the lease is gone.
                return .retry(.leaseLost, message: "the lease could not be renewed", notBefore: Date())
            }
            return .retry(.leaseLost, message: "the handler did not finish", notBefore: Date())
        }
    }

    static func reason(_ result: JobResult) -> String? {
        switch result {
        case .validated, .deleted, .revoked, .delivered: return nil
        case .failed(let reason, _), .retry(let reason, _, _), .snoozed(let reason, _, _): return reason.code
        }
    }
}
