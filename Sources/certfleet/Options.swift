import ArgumentParser
import Foundation
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
