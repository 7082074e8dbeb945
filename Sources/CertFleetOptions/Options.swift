import AMQP
import ArgumentParser
import Foundation
import Logging
import Messaging
import Postgres

/// The options every `certfleet` command shares (server processes and benchmarks).

/// Connection options shared by every command that talks to PostgreSQL.
/// Flags win over `CERTFLEET_*` environment variables, which win over the local stack's defaults.
public struct DatabaseOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("database-url"), help: "libpq connection string or URL (env CERTFLEET_DATABASE_URL).")
    public var databaseURL: String?

    @Option(name: .customLong("database-pool-size"), help: "Most PostgreSQL connections (env CERTFLEET_DATABASE_POOL_SIZE).")
    public var poolSize: Int?

    public var resolvedURL: String {
        databaseURL ?? Environment.string("CERTFLEET_DATABASE_URL") ?? "postgres://certfleet@127.0.0.1:55432/certfleet"
    }

    public func makeClient(applicationName: String, inlineWait: Duration = PostgresConfiguration.defaultInlineWait) -> PostgresClient {
        let size = poolSize ?? Environment.int("CERTFLEET_DATABASE_POOL_SIZE") ?? 8
        return PostgresClient(
            configuration: PostgresConfiguration(
                connectionString: resolvedURL, maxConnections: size, applicationName: applicationName, inlineWait: inlineWait))
    }
}

public enum Environment {
    public static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    public static func int(_ name: String) -> Int? { string(name).flatMap(Int.init) }
}

/// RabbitMQ options shared by the server processes.
public struct BrokerOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("amqp-url"), help: "Broker URL(s) for failover: repeat the flag or separate with commas (env CERTFLEET_AMQP_URL).")
    public var amqpURLs: [String] = []

    @Option(name: .customLong("amqp-prefix"), help: "Prefix of exchange and queue names (env CERTFLEET_AMQP_PREFIX; default certfleet).")
    public var prefix: String?

    public var resolvedURL: String {
        amqpURLs.isEmpty ? Environment.string("CERTFLEET_AMQP_URL") ?? "amqp://guest:guest@127.0.0.1:55672/" : amqpURLs.joined(separator: ",")
    }

    public var topology: CertFleetTopology {
        CertFleetTopology(prefix: prefix ?? Environment.string("CERTFLEET_AMQP_PREFIX") ?? "certfleet")
    }

    public func connect(name: String, logger: Logger) async throws -> AMQPConnection {
        try await AMQPConnection.connect(try AMQPConfiguration(urls: resolvedURL, connectionName: name), logger: logger)
    }
}

/// Log level from `--log-level` or `CERTFLEET_LOG_LEVEL`.
public struct LoggingOptions: ParsableArguments {
    public init() {}

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (env CERTFLEET_LOG_LEVEL).")
    public var level: String?

    public func makeLogger(_ label: String) -> Logger {
        // trace_id/span_id of the current span on every line (none when nothing is traced).
        var logger = Logger(label: label, metadataProvider: TraceExport.metadataProvider)
        logger.logLevel = Logger.Level(rawValue: level ?? Environment.string("CERTFLEET_LOG_LEVEL") ?? "info") ?? .info
        return logger
    }
}
