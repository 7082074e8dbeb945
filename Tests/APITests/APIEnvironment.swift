import ACME
import AMQP
import API
import CertFleetCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import Messaging
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing
import X509

/// One API test's world (see `IsolatedServices`): two projects with keys, and a real
/// `certfleet worker` process.
final class APIEnvironment: Sendable {
    let services: IsolatedServices
    let project: UUID
    let otherProject: UUID
    var databaseURL: String { services.databaseURL }
    var topology: CertFleetTopology { services.topology }
    var db: PostgresClient { services.db }
    var amqp: AMQPConnection { services.amqp }
    var sealer: KeySealer { services.sealer }
    var directory: URL { services.directory }

    init() async throws {
        services = try await IsolatedServices(name: "api")
        project = try await Projects.ensure(services.db, name: "test")
        otherProject = try await Projects.ensure(services.db, name: "other")
    }

    /// Runs BODY in a fresh environment, torn down whether BODY throws or not.
    static func with(_ body: (APIEnvironment) async throws -> Void) async throws {
        try await TestStack.using(try await APIEnvironment(), tearDown: { await $0.tearDown() }, body)
    }

    /// A key of PROJECT (default: the test project) with SCOPES; returns the secret.
    func key(_ scopes: [String], project: UUID? = nil) async throws -> String {
        try await APIKeys.create(db, project: project ?? self.project, name: "test", scopes: scopes).secret
    }

    /// The API in this process; issuance is open to any name unless DOMAINPOLICY says `enforce`.
    func application(
        _ configuration: APIConfiguration = APIConfiguration(port: 0),
        domainPolicy: DomainOwnership.Policy = .off
    ) -> some ApplicationProtocol {
        var configuration = configuration
        configuration.port = 0
        var acme = ACMESettings.fromEnvironment()
        acme.domainPolicy = domainPolicy
        return buildApplication(
            configuration: configuration,
            dependencies: APIDependencies(db: db, sealer: sealer, amqp: amqp, topology: topology, logger: .init(label: "test.api"), acme: acme))
    }

    var logFiles: [URL] { (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? [] }

    /// Starts a real `certfleet ARGS` process (a worker) logging under the test directory.
    func start(_ arguments: [String]) throws {
        try services.start(arguments, log: directory.appendingPathComponent("\(arguments[0])-\(services.processes.count).log"))
    }

    /// For failure messages: whether each started process still runs, and how the others ended.
    var processStatus: String {
        services.processes.map { $0.isRunning ? "\($0.pid): running" : "\($0.pid): exited \($0.waitForExit()) (128+n = signal n)" }
            .joined(separator: ", ")
    }

    func tearDown() async {
        await services.tearDown()
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
    func call(_ method: HTTPRequest.Method, _ uri: String, key: String?, body: String? = nil, headers extra: HTTPFields = [:]) async throws -> Answer
    {
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
