import AMQP
import ArgumentParser
import CertFleetOptions
import Foundation
import Logging
import Messaging
import Postgres
import Store
import X509

/// What a process-level benchmark runs against: a private database (dropped and
/// recreated, then migrated), a private AMQP prefix and a throwaway master key, plus the
/// environment that points `certfleet` child processes at them.
struct BenchEnvironment {
    let db: PostgresClient
    let databaseURL: String
    let project: UUID
    let topology: CertFleetTopology
    let amqp: AMQPConnection
    let sealer: KeySealer
    /// For `certfleet` child processes: database, broker, prefix, master key, log level.
    let environment: [String: String]
    private let keyFile: URL

    static func make(database: DatabaseOptions, broker: BrokerOptions, name: String, poolSize: Int, logger: Logger) async throws -> BenchEnvironment {
        let admin = database.makeClient(applicationName: "certfleet-bench")
        try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)")
        try await admin.query("CREATE DATABASE \(unescaped: name)")
        await admin.shutdown()
        let url = PostgresConfiguration.connectionString(database.resolvedURL, replacingDatabase: name)
        let db = PostgresClient(configuration: PostgresConfiguration(connectionString: url, maxConnections: 16))
        try await Migrator(db: db, migrations: try Migrator.load(from: try Migrator.locateDirectory(explicit: nil))).migrate()
        let project = try await Projects.ensure(db, name: "bench")
        let topology = CertFleetTopology(prefix: "cfbench-\(UUID().uuidString.prefix(6).lowercased())")
        let amqp = try await broker.connect(name: "certfleet-bench", logger: logger)
        try await amqp.declare(topology.topology)
        let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-\(UUID().uuidString).key")
        let key = AESGCM.generateKey()
        try Data(key).base64EncodedString().write(to: keyFile, atomically: true, encoding: .utf8)
        let environment = [
            "CERTFLEET_DATABASE_URL": url, "CERTFLEET_AMQP_URL": broker.resolvedURL,
            "CERTFLEET_AMQP_PREFIX": topology.prefix, "CERTFLEET_MASTER_KEY_FILE": keyFile.path,
            "CERTFLEET_LOG_LEVEL": "warning", "CERTFLEET_DATABASE_POOL_SIZE": "\(poolSize)",
            // A private benchmark database: its project issues for Pebble's test names without verified zones.
            "CERTFLEET_DOMAIN_POLICY": "off",
        ]
        return BenchEnvironment(
            db: db, databaseURL: url, project: project, topology: topology, amqp: amqp,
            sealer: KeySealer(keys: [key]), environment: environment, keyFile: keyFile)
    }

    /// Starts this executable with ARGUMENTS (e.g. `["worker"]`) against the private
    /// services, its output in LOG (or this process's output).
    func start(_ arguments: [String], environment extra: [String: String] = [:], log: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.merging(extra) { $1 }
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
        }
        try process.run()
        return process
    }

    /// Waits (up to 30 s) until the `certfleet api` at BASE answers `/readyz`.
    static func waitUntilReady(_ base: String) async throws {
        for _ in 0..<300 {
            if (try? runTool("curl", ["-fsS", "\(base)/readyz"])) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchFailure("certfleet api did not become ready at \(base)")
    }

    /// Removes the private queues and the key file; closes the connections.
    func tearDown() async {
        for kind in CertFleetTopology.jobKinds { _ = try? await amqp.deleteQueue(topology.jobQueue(kind)) }
        _ = try? await amqp.deleteQueue(topology.deadLetterQueue)
        _ = try? await amqp.deleteQueue(topology.requestsQueue)
        await amqp.close()
        await db.shutdown()
        try? FileManager.default.removeItem(at: keyFile)
    }
}

extension BenchEnvironment {
    /// Runs BODY so that SIGINT or SIGTERM cancels it: its defers then stop the processes it
    /// started and its teardown removes its queues, where the signal's default action killed
    /// the bench alone and left its api, workers, Pebble and queues behind.
    static func interruptible(_ body: @escaping @Sendable () async throws -> Void) async throws {
        let work = Task { try await body() }
        let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { work.cancel() }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        try await work.value
    }
}

extension Process {
    /// SIGTERM, then waits for the exit.
    func stop() {
        terminate()
        waitUntilExit()
    }
}
