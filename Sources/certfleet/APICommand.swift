import ACME
import API
import ArgumentParser
import CertFleetOptions
import Hummingbird
import Jobs
import Logging
import Postgres
import ServiceLifecycle
import Store

/// `certfleet api`: the HTTP API. Answers at once; slow work goes to jobs. SIGTERM drains.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api", abstract: "Serve the HTTP API.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var broker: BrokerOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Address to listen on (env CERTFLEET_API_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (env CERTFLEET_API_PORT; default 8080).")
    var port: Int?

    @Option(help: "Largest request body in bytes (env CERTFLEET_API_BODY_LIMIT; default 1 MiB).")
    var bodyLimit: Int?

    @Option(help: "Per-key write requests per second, 0 = unlimited (env CERTFLEET_API_WRITE_RATE; default 20, burst 2×).")
    var writeRate: Double?

    @Option(help: "Per-key read requests per second, 0 = unlimited (env CERTFLEET_API_READ_RATE; default 200, burst 2×).")
    var readRate: Double?

    @Option(help: "Path prefix of the NGINX Unit-compatible certificate store (env CERTFLEET_UNIT_PREFIX; default /unit).")
    var unitPrefix: String?

    @Option(help: "Also serve the Unit store on this Unix socket, no API key, mode 0600 (env CERTFLEET_UNIT_SOCKET).")
    var unitSocket: String?

    @Option(help: "Project the Unix socket manages (env CERTFLEET_UNIT_SOCKET_PROJECT; default 'default').")
    var unitSocketProject: String?

    @Option(help: "Seconds a Unit PUT/DELETE waits for its job (env CERTFLEET_UNIT_WAIT; default 30).")
    var unitWait: Int?

    @Option(help: "Per-key writes per hour of /v1/consumers/{consumer}/tls, 0 = unlimited (env CERTFLEET_CONSUMER_TLS_WRITES_PER_HOUR; default 6).")
    var consumerTLSWritesPerHour: Double?

    @Option(help: "Per-key reads per hour of /v1/consumers/{consumer}/tls, 0 = unlimited (env CERTFLEET_CONSUMER_TLS_READS_PER_HOUR; default 60).")
    var consumerTLSReadsPerHour: Double?

    @Option(help: "Serve /metrics on this port instead of the API's (env CERTFLEET_API_METRICS_PORT; default: the API's port).")
    var metricsPort: Int?

    @Option(help: "Address for --metrics-port (env CERTFLEET_API_METRICS_HOST; default 127.0.0.1).")
    var metricsHost: String?

    @Option(help: "Also answer http-01 challenges on this port, where the CA validates (env CERTFLEET_API_ACME_HTTP_PORT; off by default).")
    var acmeHTTPPort: Int?

    func run() async throws {
        TerminationSignals.restoreDefaults()
        let logger = logging.makeLogger("certfleet.api")
        let writes = writeRate ?? Environment.string("CERTFLEET_API_WRITE_RATE").flatMap(Double.init) ?? 20
        let reads = readRate ?? Environment.string("CERTFLEET_API_READ_RATE").flatMap(Double.init) ?? 200
        var configuration = APIConfiguration(
            host: host ?? Environment.string("CERTFLEET_API_HOST") ?? "127.0.0.1",
            port: port ?? Environment.int("CERTFLEET_API_PORT") ?? 8080,
            bodyLimit: bodyLimit ?? Environment.int("CERTFLEET_API_BODY_LIMIT") ?? APIConfiguration.defaultBodyLimit,
            readRate: reads, readBurst: reads * 2, writeRate: writes, writeBurst: writes * 2)
        configuration.unitPrefix = unitPrefix ?? Environment.string("CERTFLEET_UNIT_PREFIX") ?? configuration.unitPrefix
        configuration.unitSocketPath = unitSocket ?? Environment.string("CERTFLEET_UNIT_SOCKET")
        configuration.unitSocketProject = unitSocketProject ?? Environment.string("CERTFLEET_UNIT_SOCKET_PROJECT") ?? configuration.unitSocketProject
        configuration.unitWait = .seconds(unitWait ?? Environment.int("CERTFLEET_UNIT_WAIT") ?? 30)
        configuration.metricsPort = metricsPort ?? Environment.int("CERTFLEET_API_METRICS_PORT")
        configuration.metricsHost = metricsHost ?? Environment.string("CERTFLEET_API_METRICS_HOST") ?? configuration.metricsHost
        // How long /metrics reuses its database counts (0: every scrape reads them; `bench scale` times that).
        if let seconds = Environment.int("CERTFLEET_API_METRICS_SNAPSHOT_SECONDS"), seconds >= 0 {
            configuration.metricsSnapshotInterval = .seconds(seconds)
        }
        // The per-certificate series (certfleet_certificate_*): how often they read what changed, or off.
        if let text = Environment.string("CERTFLEET_API_CERTIFICATE_METRICS"), text != "on" {
            guard text == "off" || (Int(text) ?? 0) > 0 else {
                throw ValidationError("CERTFLEET_API_CERTIFICATE_METRICS must be on, off or a refresh interval in seconds (got '\(text)')")
            }
            configuration.certificateMetricsInterval = Int(text).map { .seconds($0) }
        }
        if let text = Environment.string("CERTFLEET_API_CERTIFICATE_METRICS_LIMIT") {
            guard let limit = Int(text), limit >= 0 else {
                throw ValidationError("CERTFLEET_API_CERTIFICATE_METRICS_LIMIT must be a number of certificates, 0 or more (got '\(text)')")
            }
            configuration.certificateMetricsLimit = limit
        }
        configuration.consumerTLSWritesPerHour =
            consumerTLSWritesPerHour
            ?? Environment.string("CERTFLEET_CONSUMER_TLS_WRITES_PER_HOUR").flatMap(Double.init) ?? configuration.consumerTLSWritesPerHour
        configuration.consumerTLSReadsPerHour =
            consumerTLSReadsPerHour
            ?? Environment.string("CERTFLEET_CONSUMER_TLS_READS_PER_HOUR").flatMap(Double.init) ?? configuration.consumerTLSReadsPerHour
        let sealer = try KeySealer.fromEnvironment()
        let db = database.makeClient(applicationName: "certfleet-api", inlineWait: PostgresConfiguration.apiInlineWait)
        let amqp = try await broker.connect(name: "certfleet-api", logger: logger)
        try await amqp.declare(broker.topology.topology)
        let dependencies = APIDependencies(db: db, sealer: sealer, amqp: amqp, topology: broker.topology, logger: logger)
        if configuration.unitSocketPath != nil,
            try await Projects.unitSocketProject(db, name: configuration.unitSocketProject) == nil
        {
            throw ValidationError(
                "project '\(configuration.unitSocketProject)' exists but was not created for the Unit socket, "
                    + "which never adopts another project; choose another --unit-socket-project")
        }
        let app = buildApplication(configuration: configuration, dependencies: dependencies, logger: logger)
        // The AMQP door: the same requests as HTTP, from `certfleet.requests`.
        let intake = RequestIntake(dependencies: dependencies, configuration: configuration, logger: logger)
        var services = try TraceExport.services(serviceName: "certfleet-api", logger: logger)
        services += [
            .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: intake, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        // The CA validates http-01 on port 80 (Pebble: CERTFLEET_ACME_HTTP_PORT); the main port serves the same path.
        if let challengePort = acmeHTTPPort ?? Environment.int("CERTFLEET_API_ACME_HTTP_PORT") {
            services.append(
                .init(
                    service: HTTP01ResponderService(
                        host: configuration.host, port: challengePort, store: DatabaseHTTP01TokenStore(db: db, jobID: nil), logger: logger),
                    // A port it cannot bind ends only the responder, not the API.
                    successTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await amqp.close()
        await db.shutdown()
    }
}
