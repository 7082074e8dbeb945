import API
import ArgumentParser
import Foundation

/// `certfleet dns …`: the project's DNS providers and the issuance preflight, over the HTTP API.
struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns", abstract: "DNS providers for dns-01 and the issuance preflight (CERTFLEET_API_URL, CERTFLEET_API_KEY).",
        subcommands: [Providers.self, Preflight.self])

    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Manage DNS providers (rfc2136, exec, httpreq, acme-dns).", subcommands: [Add.self, List.self, Delete.self, Test.self])
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a provider. Secrets are read from files (never from the command line) and never shown again.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Provider name") var name: String
        @Option(help: "rfc2136, exec, httpreq or acme-dns.") var kind: String
        @Option(help: "A zone it serves (repeatable): example.com, *.corp.example.") var zone: [String] = []
        @Option(help: "A JSON file with the settings (primary, tsig_key_name, command, endpoint, server_url, propagation …).")
        var config: String?
        @Option(help: "A JSON file with the secrets (tsig_secret, password, env, acme_dns).") var secretFile: String?

        func run() async throws {
            try await runCLI {
                var fields: [(String, JSONValue)] = [("name", .string(name)), ("kind", .string(kind)), ("zones", .strings(zone))]
                if let config { fields.append(("config", try JSONValue.parse(try readFile(config)))) }
                if let secretFile { fields.append(("secret", try JSONValue.parse(try readFile(secretFile)))) }
                let answer = try await api.client.call(.POST, "/v1/dns/providers", json: .object(fields))
                if api.json { return Output.json(answer.json) }
                let item = answer.json["data"]?["dns_providers"]?.items.first ?? .null
                var pairs = [("name", item["name"]?.cell ?? "-"), ("kind", item["kind"]?.cell ?? "-"), ("zones", item["zones"]?.cell ?? "-")]
                if let target = item["cname_target"]?.text { pairs.append(("cname_target", target)) }
                if let instructions = item["instructions"]?.text { pairs.append(("instructions", instructions)) }
                Output.fields(pairs)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the project's DNS providers and its zone map.")
        @OptionGroup var api: APIClientOptions

        func run() async throws {
            try await runCLI {
                let answer = try await api.client.call(.GET, "/v1/dns/providers")
                let items = answer.json["data"]?["dns_providers"]?.items ?? []
                if api.json { return Output.json(.array(items)) }
                Output.table(
                    ["NAME", "KIND", "ZONES", "SECRET"],
                    items.map {
                        [$0["name"]?.cell ?? "-", $0["kind"]?.cell ?? "-", $0["zones"]?.cell ?? "-", $0["has_secret"]?.cell ?? "-"]
                    })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a provider.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Provider name") var name: String

        func run() async throws {
            try await runCLI {
                let answer = try await api.client.call(.DELETE, "/v1/dns/providers/\(name.pathEscaped)")
                api.json ? Output.json(answer.json) : print("deleted \(name)")
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write, check and remove a test record in ZONE; exit 3 when a step fails.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Provider name") var name: String
        @Option(help: "The zone (or a name in it) to write into.") var zone: String

        func run() async throws {
            try await runCLI {
                let answer = try await api.client.call(.POST, "/v1/dns/providers/\(name.pathEscaped)/test", json: .object([("zone", .string(zone))]))
                let report = answer.json["data"] ?? .null
                if api.json {
                    Output.json(report)
                } else {
                    Output.table(
                        ["STEP", "OK", "MS", "DETAIL"],
                        report["steps"]?.items.map {
                            [
                                $0["step"]?.cell ?? "-", $0["ok"]?.cell ?? "-", $0["ms"]?.cell ?? "-",
                                $0["message"]?.text ?? $0["record_name"]?.text ?? "",
                            ]
                        } ?? [])
                }
                if report["ok"] != .bool(true) { throw CLIError(message: "the provider test failed", exit: ExitCode(3)) }
            }
        }
    }

    struct Preflight: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check names before ordering (resolves, CAA, provider); exit 3 when one fails.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Names") var domains: [String]
        @Option(help: "http-01 or dns-01.") var challenge: String = "dns-01"
        @Option(help: "The DNS provider (default: the zone map).") var dnsProvider: String?

        func run() async throws {
            try await runCLI {
                var fields: [(String, JSONValue)] = [("domains", .strings(domains)), ("challenge", .string(challenge))]
                if let dnsProvider { fields.append(("dns_provider", .string(dnsProvider))) }
                let answer = try await api.client.call(.POST, "/v1/certificates/preflight", json: .object(fields))
                let report = answer.json["data"] ?? .null
                if api.json {
                    Output.json(report)
                } else {
                    Output.table(
                        ["NAME", "CHECK", "OK", "DETAIL"],
                        report["checks"]?.items.map {
                            [$0["name"]?.cell ?? "-", $0["check"]?.cell ?? "-", $0["ok"]?.cell ?? "-", $0["detail"]?.cell ?? "-"]
                        } ?? [])
                    if let error = report["error"] { print("error: \(error["code"]?.cell ?? "-"): \(error["message"]?.cell ?? "-")") }
                }
                if report["ok"] != .bool(true) { throw CLIError(message: "the preflight failed", exit: ExitCode(3)) }
            }
        }
    }
}
