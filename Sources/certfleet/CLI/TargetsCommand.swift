import API
import ArgumentParser
import Foundation

/// `certfleet targets …`: delivery targets from a shell, over the HTTP API.
struct TargetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "targets", abstract: "Manage delivery targets through the HTTP API (CERTFLEET_API_URL, CERTFLEET_API_KEY).",
        subcommands: [Create.self, List.self, Get.self, Delete.self, DeadLetters.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a target: files (directory, reload_command, reload_timeout_seconds), haproxy (socket, certificate), "
                + "webhook (url), unit (socket, listener), agent.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Target name.") var name: String
        @Option(help: "files, haproxy, webhook, unit or agent.") var kind: String
        @Option(name: .customLong("set"), help: "A setting as KEY=VALUE (repeatable), e.g. directory=/etc/ssl/certfleet.") var settings: [String] = []
        @Option(help: "File holding the webhook's HMAC secret (sealed at rest, never shown again).") var secretFile: String?

        func run() async throws {
            try await runCLI {
                var config: [(String, JSONValue)] = []
                for setting in settings {
                    guard let equals = setting.firstIndex(of: "=") else {
                        throw CLIError(message: "--set takes KEY=VALUE, not '\(setting)'", exit: ExitCode(64))
                    }
                    config.append((String(setting[..<equals]), .string(String(setting[setting.index(after: equals)...]))))
                }
                var fields: [(String, JSONValue)] = [("name", .string(name)), ("kind", .string(kind)), ("config", .object(config))]
                if let secretFile {
                    fields.append(("secret", .string(try readFile(secretFile).trimmingCharacters(in: .whitespacesAndNewlines))))
                }
                let answer = try await api.client.call(.POST, "/v1/targets", json: .object(fields))
                api.json ? Output.json(answer.json) : print("created \(answer.json["data"]?["uuid"]?.cell ?? "-") \(name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List targets.")
        @OptionGroup var api: APIClientOptions

        func run() async throws {
            try await runCLI {
                let answer = try await api.client.call(.GET, "/v1/targets")
                if api.json { return Output.json(answer.json) }
                Output.table(
                    ["UUID", "NAME", "KIND"],
                    (answer.json["data"]?["targets"]?.items ?? []).map {
                        [$0["uuid"]?.cell ?? "-", $0["name"]?.cell ?? "-", $0["kind"]?.cell ?? "-"]
                    })
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a target (never its secret).")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String

        func run() async throws {
            try await runCLI { Output.json(try await api.client.call(.GET, "/v1/targets/\(reference.pathEscaped)").json) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a target no binding names.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String

        func run() async throws {
            try await runCLI {
                try await api.client.call(.DELETE, "/v1/targets/\(reference.pathEscaped)")
                api.json ? Output.json(.object([("status", .string("success"))])) : print("deleted \(reference)")
            }
        }
    }

    struct DeadLetters: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dead-letters", abstract: "Deliveries to a target that were given up.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String

        func run() async throws {
            try await runCLI {
                let answer = try await api.client.call(.GET, "/v1/targets/\(reference.pathEscaped)/dead-letters")
                if api.json { return Output.json(answer.json) }
                Output.table(
                    ["CERTIFICATE", "VERSION", "CODE", "ATTEMPTS", "AT"],
                    (answer.json["data"]?["dead_letters"]?.items ?? []).map {
                        [
                            $0["certificate"]?["name"]?.cell ?? "-", $0["version"]?.cell ?? "-", $0["code"]?.cell ?? "-",
                            $0["attempts"]?.cell ?? "-", $0["at"]?.cell ?? "-",
                        ]
                    })
            }
        }
    }
}
