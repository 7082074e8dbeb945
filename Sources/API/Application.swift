import ACME
import AMQP
import Foundation
import Hummingbird
import Logging
import Messaging
import ServiceLifecycle
import Store

/// What `certfleet api` is told: where to listen and the limits.
public struct APIConfiguration: Sendable {
    public static let defaultBodyLimit = 1 << 20

    public var host: String
    public var port: Int
    /// Largest request body in bytes (413 above).
    public var bodyLimit: Int
    /// Per key: reads and writes per second (0 = unlimited) and their bursts.
    public var readRate: Double
    public var readBurst: Double
    public var writeRate: Double
    public var writeBurst: Double
    /// Where the NGINX Unit-compatible certificate store answers over TCP (`/unit/certificates/…`).
    public var unitPrefix = "/unit"
    /// Also serve the Unit store on this Unix domain socket (trusted by file permissions, mode 0600).
    public var unitSocketPath: String?
    /// The project whose certificates the Unix socket manages.
    public var unitSocketProject = "default"
    /// How long a Unit `PUT` or `DELETE` waits for its job before answering.
    public var unitWait: Duration = .seconds(30)
    /// Per key, per hour: writes and reads of `/v1/consumers/{consumer}/tls` (EMQX: 6 and 60; 0 = unlimited).
    public var consumerTLSWritesPerHour: Double = 6
    public var consumerTLSReadsPerHour: Double = 60
    /// Per client address: invalid API keys per second (0 = unlimited) and their burst; 429 past it.
    public var failedAuthenticationRate: Double = 1
    public var failedAuthenticationBurst: Double = 50
    /// How long `/metrics` serves the same database gauges (it needs no key: at most one
    /// round of aggregate queries per interval, whatever the scrape rate).
    public var metricsSnapshotInterval: Duration = .seconds(15)
    /// How long a scrape waits for each of its parts (database gauges, broker gauges, the
    /// per-certificate refresh) before leaving a late one out: under Prometheus's default 10 s.
    public var metricsPartLimit: Duration = .seconds(8)
    /// Serve `/metrics` on this port of `metricsHost` instead of the API's port (nil: the API's port).
    /// `/metrics` needs no key: a separate, internal address keeps it off the public listener.
    public var metricsPort: Int?
    public var metricsHost = "127.0.0.1"
    /// How often the per-certificate series (`certfleet_certificate_*`) read what changed; nil: not served.
    public var certificateMetricsInterval: Duration? = .seconds(5)
    /// The most live certificates the per-certificate series are served for (past it: left out).
    public var certificateMetricsLimit = CertificateSeries.defaultLimit

    public init(
        host: String = "127.0.0.1", port: Int = 8080, bodyLimit: Int = defaultBodyLimit,
        readRate: Double = 200, readBurst: Double = 400, writeRate: Double = 20, writeBurst: Double = 40
    ) {
        self.host = host
        self.port = port
        self.bodyLimit = bodyLimit
        self.readRate = readRate
        self.readBurst = readBurst
        self.writeRate = writeRate
        self.writeBurst = writeBurst
    }
}

/// The services the API uses; the caller owns and closes them.
public struct APIDependencies: Sendable {
    public let db: Database
    public let sealer: KeySealer
    public let amqp: AMQPConnection
    public let topology: CertFleetTopology
    /// The accept step; each committed job message is published at once.
    public let submissions: Submissions
    /// The default ACME directory and the CA file for its HTTPS (`POST /v1/acme/accounts`).
    public let acme: ACMESettings
    /// CA directories (profiles), for checks before an order exists.
    let directories: DirectoryCache

    public init(
        db: Database, sealer: KeySealer, amqp: AMQPConnection, topology: CertFleetTopology, logger: Logger,
        acme: ACMESettings = .fromEnvironment()
    ) {
        self.acme = acme
        self.directories = DirectoryCache(settings: acme)
        self.db = db
        self.sealer = sealer
        self.amqp = amqp
        self.topology = topology
        // A 202 means committed: the job message's outbox row is in the same transaction, and
        // its publish (and the broker's confirm) runs after the response, or by the relay.
        self.submissions = .publishing(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: logger, inBackground: true)
    }
}

/// Configuration in, router and server out (the tests call this too).
public func buildApplication(
    configuration: APIConfiguration, dependencies: APIDependencies, logger: Logger = Logger(label: "certfleet.api")
) -> some ApplicationProtocol {
    let observability = Observability(dependencies: dependencies, configuration: configuration, logger: logger)
    let router = buildRouter(configuration: configuration, dependencies: dependencies, observability: observability)
    var services: [any Service] = []
    if let interval = configuration.certificateMetricsInterval {
        services.append(CertificateSeriesRefresher(series: observability.certificates, interval: interval))
    }
    if let port = configuration.metricsPort {
        let metricsRouter = Router(context: APIRequestContext.self)
        MetricsController(observability: observability).addRoutes(to: metricsRouter)
        services.append(
            Application(
                router: metricsRouter,
                configuration: .init(
                    address: .hostname(configuration.metricsHost, port: port),
                    serverName: "certfleet"), logger: logger))
    }
    if let path = configuration.unitSocketPath {
        services.append(buildUnitSocketApplication(path: path, configuration: configuration, dependencies: dependencies, logger: logger))
    }
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "certfleet"),
        services: services,
        logger: logger)
}

/// NGINX Unit's certificate store alone on a Unix domain socket (its control socket's
/// place): no API key, the file's mode (0600) decides who may talk to it.
func buildUnitSocketApplication(
    path: String, configuration: APIConfiguration, dependencies: APIDependencies, logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: APIRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: TrustedSocketMiddleware(db: dependencies.db, project: configuration.unitSocketProject, bodyLimit: configuration.bodyLimit))
    UnitController(dependencies: dependencies, bodyLimit: configuration.bodyLimit, prefix: "", wait: configuration.unitWait)
        .addRoutes(to: router.group())
    // A socket file left by a previous run would make the bind fail.
    try? FileManager.default.removeItem(atPath: path)
    return Application(
        router: router,
        configuration: .init(address: .unixDomainSocket(path: path), serverName: "certfleet"),
        onServerRunning: { _ in _ = chmod(path, 0o600) },
        logger: logger)
}

/// The request metrics of one API process, its database gauges and the per-certificate
/// series, shared by `/metrics` wherever it is served.
struct Observability {
    let requests = RequestMetrics()
    let gauges: DatabaseGauges
    let certificates: CertificateSeries
    /// nil: the per-certificate series are off.
    let certificatesInterval: Duration?

    init(dependencies: APIDependencies, configuration: APIConfiguration, logger: Logger = Logger(label: "certfleet.api")) {
        gauges = DatabaseGauges(
            db: dependencies.db, broker: (dependencies.amqp, dependencies.topology), interval: configuration.metricsSnapshotInterval,
            partLimit: configuration.metricsPartLimit)
        certificates = CertificateSeries(db: dependencies.db, logger: logger, limit: configuration.certificateMetricsLimit)
        certificatesInterval = configuration.certificateMetricsInterval
    }
}

public func buildRouter(configuration: APIConfiguration, dependencies: APIDependencies) -> Router<APIRequestContext> {
    buildRouter(
        configuration: configuration, dependencies: dependencies,
        observability: Observability(dependencies: dependencies, configuration: configuration))
}

func buildRouter(configuration: APIConfiguration, dependencies: APIDependencies, observability: Observability) -> Router<APIRequestContext> {
    let router = Router(context: APIRequestContext.self)
    router.add(middleware: RequestTracingMiddleware())
    router.add(middleware: MetricsMiddleware(metrics: observability.requests))
    router.add(middleware: ErrorMiddleware())
    HealthController(dependencies: dependencies).addRoutes(to: router)
    if configuration.metricsPort == nil {
        MetricsController(observability: observability).addRoutes(to: router)
    }
    ACMEChallengeController(db: dependencies.db).addRoutes(to: router)
    let limiter = RateLimiter(
        reads: .init(rate: configuration.readRate, burst: configuration.readBurst),
        writes: .init(rate: configuration.writeRate, burst: configuration.writeBurst))
    let keys = KeyCache(db: dependencies.db)
    let failedAuthentications = RateLimiter(
        reads: .init(rate: configuration.failedAuthenticationRate, burst: configuration.failedAuthenticationBurst),
        writes: .init(rate: configuration.failedAuthenticationRate, burst: configuration.failedAuthenticationBurst))
    let auth = AuthMiddleware(keys: keys, limiter: limiter, failedAuthentications: failedAuthentications, bodyLimit: configuration.bodyLimit)
    let v1 = router.group("v1").add(middleware: auth)
    AgentController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: router.group("agent/v1"))
    KeysController(db: dependencies.db, cache: keys).addRoutes(to: v1.group("keys"))
    ProjectsController(db: dependencies.db).addRoutes(to: v1.group("projects"))
    CertificatesController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1)
    CertificateFilesController(dependencies: dependencies).addRoutes(to: v1)
    BindingsController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1)
    JobsController(dependencies: dependencies).addRoutes(to: v1)
    MatchController(dependencies: dependencies).addRoutes(to: v1)
    TargetsController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1)
    let consumerTLSLimiter = RateLimiter(
        reads: .init(rate: configuration.consumerTLSReadsPerHour / 3600, burst: configuration.consumerTLSReadsPerHour),
        writes: .init(rate: configuration.consumerTLSWritesPerHour / 3600, burst: configuration.consumerTLSWritesPerHour))
    ConsumersController(dependencies: dependencies, bodyLimit: configuration.bodyLimit, limiter: consumerTLSLimiter).addRoutes(to: v1)
    UnitController(dependencies: dependencies, bodyLimit: configuration.bodyLimit, prefix: configuration.unitPrefix, wait: configuration.unitWait)
        .addRoutes(to: router.group(RouterPath(configuration.unitPrefix)).add(middleware: auth))
    ACMEAccountsController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1.group("acme/accounts"))
    DomainsController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1.group("domains"))
    DNSProvidersController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1.group("dns/providers"))
    PreflightController(dependencies: dependencies, bodyLimit: configuration.bodyLimit).addRoutes(to: v1)
    Console(
        dependencies: dependencies, keys: keys, limiter: limiter, failedAuthentications: failedAuthentications,
        bodyLimit: configuration.bodyLimit
    ).addRoutes(to: router)
    return router
}

/// `/healthz`: the process answers. `/readyz`: the database and the broker answer.
struct HealthController {
    let dependencies: APIDependencies

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("healthz") { _, _ in JSONResponse(.object([("status", .string("ok"))])) }
        router.get("readyz") { _, _ in
            var checks: [(String, JSONValue)] = []
            var ready = true
            do {
                try await DatabaseHealth.ping(dependencies.db)
                checks.append(("database", .string("ok")))
            } catch {
                ready = false
                checks.append(("database", .string("unavailable")))
            }
            if dependencies.amqp.isConnected {
                checks.append(("broker", .string("ok")))
            } else {
                ready = false
                checks.append(("broker", .string("unavailable")))
            }
            return JSONResponse(
                .object([("status", .string(ready ? "ok" : "unavailable")), ("checks", .object(checks))]),
                status: ready ? .ok : .serviceUnavailable)
        }
    }
}

/// A JSON answer with an optional status and headers.
struct JSONResponse: ResponseGenerator {
    var value: JSONValue
    var status: HTTPResponse.Status = .ok
    var headers: HTTPFields = [:]

    init(_ value: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) {
        self.value = value
        self.status = status
        self.headers = headers
    }

    /// The success envelope `{"status":"success","data":DATA}`.
    static func success(_ data: JSONValue, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> JSONResponse {
        JSONResponse(.object([("status", .string("success")), ("data", data)]), status: status, headers: headers)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized())))
    }
}

/// A header name (HTTPTypes' `HTTPField.Name`, which Hummingbird does not re-export).
public typealias HeaderName = HTTPFields.Element.Name
