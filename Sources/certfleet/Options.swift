import Messaging
import AMQP
import ArgumentParser
import Foundation
import Logging
import Postgres

/// Connection options shared by every command that talks to PostgreSQL.
/// Flags win over `CERTFLEET_*` environment variables, which win over the local stack's defaults.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string or URL (env CERTFLEET_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("database-pool-size"), help: "Most PostgreSQL connections (env CERTFLEET_DATABASE_POOL_SIZE).")
    var poolSize: Int?

    var resolvedURL: String {
        databaseURL ?? Environment.string("CERTFLEET_DATABASE_URL") ?? "postgres://certfleet@127.0.0.1:55432/certfleet"
    }

    func makeClient(applicationName: String) -> PostgresClient {
        let size = poolSize ?? Environment.int("CERTFLEET_DATABASE_POOL_SIZE") ?? 8
        return PostgresClient(configuration: PostgresConfiguration(
            connectionString: resolvedURL, maxConnections: size, applicationName: applicationName))
    }
}

enum Environment {
    static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    static func int(_ name: String) -> Int? { string(name).flatMap(Int.init) }
}

/// RabbitMQ options shared by the server processes.
struct BrokerOptions: ParsableArguments {
    @Option(name: .customLong("amqp-url"), help: "Broker URL(s) for failover: repeat the flag or separate with commas (env CERTFLEET_AMQP_URL).")
    var amqpURLs: [String] = []

    @Option(name: .customLong("amqp-prefix"), help: "Prefix of exchange and queue names (env CERTFLEET_AMQP_PREFIX; default certfleet).")
    var prefix: String?

    var resolvedURL: String {
        amqpURLs.isEmpty ? Environment.string("CERTFLEET_AMQP_URL") ?? "amqp://guest:guest@127.0.0.1:55672/" : amqpURLs.joined(separator: ",")
    }

    var topology: CertFleetTopology {
        CertFleetTopology(prefix: prefix ?? Environment.string("CERTFLEET_AMQP_PREFIX") ?? "certfleet")
    }

    func connect(name: String, logger: Logger) async throws -> AMQPConnection {
        try await AMQPConnection.connect(try AMQPConfiguration(urls: resolvedURL, connectionName: name), logger: logger)
    }
}

/// Log level from `--log-level` or `CERTFLEET_LOG_LEVEL`.
struct LoggingOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env CERTFLEET_LOG_LEVEL).")
    var level: String?

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: level ?? Environment.string("CERTFLEET_LOG_LEVEL") ?? "info") ?? .info
        return logger
    }
}
