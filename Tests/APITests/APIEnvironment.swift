import AMQP
import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Postgres
import Store
import Testing
import TestSupport
import X509

/// An isolated world for one API test: its own migrated database, AMQP prefix and
/// master key, two projects with keys, and a real `certfleet worker` process.
final class APIEnvironment: @unchecked Sendable {
    let databaseName: String
    let databaseURL: String
    let topology: CertFleetTopology
    let db: PostgresClient
    let amqp: AMQPConnection
    let sealer: KeySealer
    let directory: URL
    let project: UUID
    let otherProject: UUID
    private var processes: [ChildProcess] = []
    private let admin: PostgresClient

    init() async throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        databaseName = "api_\(suffix)"
        admin = PostgresClient(TestStack.databaseURL, maxConnections: 1)
        try await admin.query("CREATE DATABASE \(unescaped: databaseName)")
        databaseURL = PostgresConfiguration.connectionString(TestStack.databaseURL, replacingDatabase: databaseName)
        db = PostgresClient(databaseURL, maxConnections: 8)
        try await Migrator(db: db, migrations: try Migrator.load(from: TestStack.root.appendingPathComponent("schemas/migrations"))).migrate()
        project = try await Projects.ensure(db, name: "test")
        otherProject = try await Projects.ensure(db, name: "other")
        topology = CertFleetTopology(prefix: "cfapi-\(suffix)")
        amqp = try await AMQPConnection.connect(try AMQPConfiguration(urls: TestStack.amqpURL, connectionName: "api-test"))
        try await amqp.declare(topology.topology)
        directory = TestStack.privateStackDirectory("api")
        let key = AESGCM.generateKey()
        try Data(key).base64EncodedString().write(to: directory.appendingPathComponent("master.key"), atomically: true, encoding: .utf8)
        sealer = KeySealer(keys: [key])
    }

    /// A key of PROJECT (default: the test project) with SCOPES; returns the secret.
    func key(_ scopes: [String], project: UUID? = nil) async throws -> String {
        try await APIKeys.create(db, project: project ?? self.project, name: "test", scopes: scopes).secret
    }

    func application(_ configuration: APIConfiguration = APIConfiguration(port: 0)) -> some ApplicationProtocol {
        var configuration = configuration
        configuration.port = 0
        return buildApplication(
            configuration: configuration,
            dependencies: APIDependencies(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: .init(label: "test.api")))
    }

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["CERTFLEET_BINARY"] { return path }
        // The binary built with these tests sits next to the test bundle (whatever the scratch path).
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("certfleet").path
        if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        for scratch in [".build", ".build-api"] {
            let path = TestStack.root.appendingPathComponent("\(scratch)/debug/certfleet").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return TestStack.root.appendingPathComponent(".build/debug/certfleet").path
    }

    var logFiles: [URL] { (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [] }

    /// Starts a real `certfleet ARGS` process (a worker) logging under the test directory.
    func start(_ arguments: [String]) throws {
        let log = directory.appendingPathComponent("\(arguments[0])-\(processes.count).log")
        processes.append(try ChildProcess(Self.binary, arguments, environment: [
            "CERTFLEET_DATABASE_URL": databaseURL, "CERTFLEET_AMQP_URL": TestStack.amqpURL, "CERTFLEET_AMQP_PREFIX": topology.prefix,
            "CERTFLEET_MASTER_KEY_FILE": directory.appendingPathComponent("master.key").path, "CERTFLEET_LOG_LEVEL": "info",
        ], output: log.path))
    }

    /// For failure messages: whether each started process still runs, and how the others ended.
    var processStatus: String {
        processes.map { $0.isRunning ? "\($0.pid): running" : "\($0.pid): exited \($0.waitForExit()) (128+n = signal n)" }
            .joined(separator: ", ")
    }

    func tearDown() async {
        for process in processes {
            process.signal(SIGKILL)
            process.waitForExit()
        }
        for kind in CertFleetTopology.jobKinds { _ = try? await amqp.deleteQueue(topology.jobQueue(kind)) }
        for queue in [topology.deadLetterQueue, topology.requestsQueue] { _ = try? await amqp.deleteQueue(queue) }
        for exchange in [topology.jobsExchange, topology.eventsExchange, topology.requestsExchange, topology.deadLetterExchange] {
            try? await amqp.deleteExchange(exchange)
        }
        await amqp.close()
        await db.shutdown()
        _ = try? await admin.query("DROP DATABASE \(unescaped: databaseName) WITH (FORCE)")
        await admin.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }
}

/// An answer: status, headers, body text and the body as JSON (when it is).
struct Answer: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String
    var json: JSONValue? { try? JSONValue.parse(text) }

    /// `data.certificates[0]` of the success envelope.
    var first: JSONValue? {
        if case .array(let items)? = json?["data"]?["certificates"] { return items.first }
        return nil
    }

    var errorCode: String? {
        if case .string(let code)? = json?["error"]?["code"] { return code }
        return nil
    }
}

extension JSONValue {
    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    var intValue: Int? { if case .number(let n) = self { return Int(n) }; return nil }
    var arrayValue: [JSONValue] { if case .array(let a) = self { return a }; return [] }
}

extension TestClientProtocol {
    func call(_ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil, headers extra: HTTPFields = [:]) async throws -> Answer {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if body != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            Answer(status: response.status, headers: response.headers, text: String(buffer: response.body))
        }
    }
}

/// The API tests' bundle (see `SelfSignedFixture`).
struct APIFixtures: Sendable {
    let chain: String
    let key: String
    let otherKey: String

    static let shared: APIFixtures = {
        do { return try make() } catch { fatalError("fixtures: \(error)") }
    }()

    static func make() throws -> APIFixtures {
        let made = try SelfSignedFixture.make(subject: "/CN=api.example.com/O=CertFleet Test", sans: "DNS:api.example.com,DNS:*.api.example.com")
        return APIFixtures(chain: made.chain, key: made.key, otherKey: made.otherKey)
    }

    func body(name: String? = nil, key: String? = nil, cn: String? = nil) -> String {
        var fields: [(String, JSONValue)] = [("chain", .string(chain)), ("pkey", .string(key ?? self.key))]
        if let name { fields.append(("name", .string(name))) }
        if let cn { fields.append(("cn", .string(cn))) }
        return JSONValue.object(fields).serialized()
    }
}
