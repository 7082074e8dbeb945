import ACME
import AMQP
import ArgumentParser
import CertFleetCore
import CertFleetOptions
import Jobs
import Logging
import Scheduler
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

    @Option(help: "Job kinds to consume, comma-separated (issue,validate,renew,delete,revoke,deliver).")
    var queues: String = "issue,validate,renew,delete,revoke,deliver"

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
        // First: it installs the metrics backend, and metrics made before it stay no-ops.
        let probeServices = probe.services(logger: logger)
        let sealer = try KeySealer.fromEnvironment()
        let db = database.makeClient(applicationName: "certfleet-worker")
        let acme = ACMESettings.fromEnvironment()
        // A malformed CERTFLEET_ACME_RATE_LIMITS stops the worker here, not every issue job later.
        _ = try acme.budget(db: db)
        let amqp = try await broker.connect(name: "certfleet-worker", logger: logger)
        let worker = Worker(
            db: db, amqp: amqp, topology: broker.topology, context: JobContext(db: db, sealer: sealer, acme: acme),
            configuration: WorkerConfiguration(kinds: kinds, concurrency: concurrency, lease: .seconds(lease)), logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: try TraceExport.services(serviceName: "certfleet-worker", logger: logger)
                    + [.init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup)] + probeServices,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await amqp.close()
        await db.shutdown()
    }
}
