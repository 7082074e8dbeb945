import ArgumentParser
import CertFleetOptions
import Foundation
import Store

/// `certfleet keys create`: bootstrap API keys straight in the database.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage API keys directly in the database.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key and print its secret (shown once).")

        @OptionGroup var database: DatabaseOptions

        @Option(help: "Project name (created when missing).")
        var project: String

        @Option(help: "Comma-separated scopes: \(APIKeys.scopes.joined(separator: ", ")).")
        var scopes: String

        @Option(help: "A label for the key.")
        var name: String = "bootstrap"

        @Flag(help: "Also grant the 'system' scope (create projects): for the installation's bootstrap key only.")
        var system = false

        func run() async throws {
            var list = scopes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if system && !list.contains(APIKeys.system) { list.append(APIKeys.system) }
            for scope in list where !APIKeys.scopes.contains(scope) {
                throw ValidationError("unknown scope '\(scope)' (known: \(APIKeys.scopes.joined(separator: ", ")))")
            }
            let db = database.makeClient(applicationName: "certfleet-keys")
            let projectID = try await Projects.ensure(db, name: project)
            let created = try await APIKeys.create(db, project: projectID, name: name, scopes: list)
            print(created.secret)
            await db.shutdown()
        }
    }
}
