import ACME
import AMQP
import ArgumentParser
import CertFleetCore
import CertFleetOptions
import Foundation
import Jobs
import Logging
import Scheduler
import ServiceLifecycle
import Store
import X509

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

    @Option(
        help: ArgumentHelp(
            "Most renew jobs waiting for a worker at once; past it the scan submits more as workers take them "
                + "(env CERTFLEET_RENEWAL_QUEUE_LIMIT; default 1000; 'off': no limit).")
    )
    var renewalQueueLimit: String?

    /// The queue limit flag or variable, validated; nil: no limit.
    func queueLimit() throws -> Int? {
        let text = renewalQueueLimit ?? Environment.string("CERTFLEET_RENEWAL_QUEUE_LIMIT") ?? "1000"
        if text == "off" { return nil }
        guard let limit = Int(text), limit > 0 else {
            throw ValidationError("the renewal queue limit is a positive number of jobs or 'off' (got '\(text)')")
        }
        return limit
    }

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
        let renewalQueueLimit = try queueLimit()
        let retention: RetentionPolicy
        do { retention = try RetentionPolicy.from(environment: ProcessInfo.processInfo.environment) } catch {
            throw ValidationError(error.description)
        }
        TerminationSignals.restoreDefaults()
        let logger = logging.makeLogger("certfleet.scheduler")
        // First: it installs the metrics backend, and metrics made before it stay no-ops.
        let probeServices = probe.services(logger: logger)
        let db = database.makeClient(applicationName: "certfleet-scheduler")
        let amqp = try await broker.connect(name: "certfleet-scheduler", logger: logger)
        try await amqp.declare(broker.topology.topology)
        // Renew submissions never seal or open a key (the worker makes the new one), so a
        // scheduler without the master key mounted gets a throwaway sealer.
        let sealer = (try? KeySealer.fromEnvironment()) ?? KeySealer(keys: [AESGCM.generateKey()])
        let submitter = Submissions.publishing(db: db, sealer: sealer, amqp: amqp, topology: broker.topology, logger: logger)
        let scheduler = SchedulerService(
            db: db, connectionString: database.resolvedURL, amqp: amqp, topology: broker.topology,
            configuration: SchedulerConfiguration(
                reapInterval: .seconds(reapInterval),
                expiryInterval: .seconds(expiryInterval ?? Environment.int("CERTFLEET_EXPIRY_INTERVAL") ?? 60),
                expiringThresholds: expiringThresholds,
                renewalInterval: .seconds(renewalInterval ?? Environment.int("CERTFLEET_RENEWAL_INTERVAL") ?? 60),
                renewalQueueLimit: renewalQueueLimit,
                retention: retention,
                retentionInterval: .seconds(Environment.int("CERTFLEET_RETENTION_INTERVAL") ?? 300)),
            renew: { due, actor in
                _ = try await submitter.renew(
                    project: due.projectID, reference: due.certificateID.uuidString,
                    idempotencyKey: due.idempotencyKey, actor: actor)
            },
            acme: ACMESettings.fromEnvironment(),
            logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: try TraceExport.services(serviceName: "certfleet-scheduler", logger: logger)
                    + [.init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup)] + probeServices,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await amqp.close()
        await db.shutdown()
    }
}
