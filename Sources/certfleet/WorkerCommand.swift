import AMQP
import ArgumentParser
import CertFleetCore
import Jobs
import Scheduler
import Logging
import ServiceLifecycle
import Store
import X509

/// `certfleet worker`: consumes job queues and runs jobs; SIGTERM drains and exits 0.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worker", abstract: "Run jobs from the job queues.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var probe: ProbeOptions

    @Option(help: "Job kinds to consume, comma-separated (issue,validate,renew,delete,revoke).")
    var queues: String = "issue,validate,renew,delete,revoke"

    @Option(help: "Jobs in flight at once per queue.")
    var concurrency: Int = 4

    @Option(help: "Lease length in seconds; renewed every third of it.")
    var lease: Int = 60

    func run() async throws {
        let kinds = try queues.split(separator: ",").map { name -> JobKind in
            guard let kind = JobKind(rawValue: String(name).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown job kind '\(name)' (known: \(JobKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return kind
        }
        TerminationSignals.restoreDefaults()
        let logger = logging.makeLogger("certfleet.worker")
        let sealer = try KeySealer.fromEnvironment()
        let db = database.makeClient(applicationName: "certfleet-worker")
        let acme = ACMESettings.fromEnvironment()
        // A malformed CERTFLEET_ACME_RATE_LIMITS stops the worker here, not every issue job later.
        _ = try acme.budget(db: db)
        let amqp = try await broker.connect(name: "certfleet-worker", logger: logger)
        let worker = Worker(
            db: db, amqp: amqp, topology: broker.topology, context: JobContext(db: db, sealer: sealer, acme: acme),
            configuration: WorkerConfiguration(kinds: kinds, concurrency: concurrency, lease: .seconds(lease)), logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)] + probe.services(logger: logger),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await amqp.close()
        await db.shutdown()
    }
}

/// `certfleet scheduler`: outbox relay, lease reaper, expiry and renewal scans. Safe to run several.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the relay, reaper, expiry and renewal loops.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var probe: ProbeOptions

    @Option(help: "Seconds between lease-reaper runs.")
    var reapInterval: Int = 5

    @Option(help: "Seconds between expiry scans (`expired`, `expiring`) (env CERTFLEET_EXPIRY_INTERVAL; default 60).")
    var expiryInterval: Int?

    @Option(help: "Days before not_after to announce `expiring`, comma-separated (env CERTFLEET_EXPIRING_THRESHOLDS; default 30,14,7,1).")
    var expiringThresholds: String?

    @Option(help: "Seconds between renewal scans (env CERTFLEET_RENEWAL_INTERVAL; default 60).")
    var renewalInterval: Int?

    /// The thresholds flag or variable, validated.
    func thresholds() throws -> [Int] {
        guard let text = expiringThresholds ?? Environment.string("CERTFLEET_EXPIRING_THRESHOLDS") else {
            return Maintenance.defaultExpiringThresholds
        }
        return try text.split(separator: ",").map { part in
            guard let days = Int(part.trimmingCharacters(in: .whitespaces)), days > 0 else {
                throw ValidationError("expiring thresholds must be positive whole days, e.g. 30,14,7,1 (got '\(text)')")
            }
            return days
        }
    }

    func run() async throws {
        let expiringThresholds = try thresholds()
        TerminationSignals.restoreDefaults()
        let logger = logging.makeLogger("certfleet.scheduler")
        let db = database.makeClient(applicationName: "certfleet-scheduler")
        let amqp = try await broker.connect(name: "certfleet-scheduler", logger: logger)
        try await amqp.declare(broker.topology.topology)
        // Renew submissions never seal or open a key (the worker makes the new one), so a
        // scheduler without the master key mounted gets a throwaway sealer.
        let sealer = (try? KeySealer.fromEnvironment()) ?? KeySealer(keys: [AESGCM.generateKey()])
        let submitter = JobSubmitter(db: db, sealer: sealer, amqp: amqp, topology: broker.topology, logger: logger)
        let scheduler = SchedulerService(
            db: db, connectionString: database.resolvedURL, amqp: amqp, topology: broker.topology,
            configuration: SchedulerConfiguration(
                reapInterval: .seconds(reapInterval),
                expiryInterval: .seconds(expiryInterval ?? Environment.int("CERTFLEET_EXPIRY_INTERVAL") ?? 60),
                expiringThresholds: expiringThresholds,
                renewalInterval: .seconds(renewalInterval ?? Environment.int("CERTFLEET_RENEWAL_INTERVAL") ?? 60)),
            renew: { due, actor in
                _ = try await submitter.renew(project: due.projectID, reference: due.certificateID.uuidString,
                                              idempotencyKey: due.idempotencyKey, actor: actor)
            },
            acme: ACMESettings.fromEnvironment(),
            logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup)] + probe.services(logger: logger),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await amqp.close()
        await db.shutdown()
    }
}
