import API
import ArgumentParser
import CertFleetCore
import Foundation

/// `certfleet certs …`: the certificates resource from a shell, over the HTTP API.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs", abstract: "Manage certificates through the HTTP API (CERTFLEET_API_URL, CERTFLEET_API_KEY).",
        subcommands: [Upload.self, List.self, Get.self, Download.self, Renew.self, Delete.self, Bind.self, Unbind.self, CertsExport.self])

    /// `--wait` and its bound, shared by the commands that start a job.
    struct WaitOptions: ParsableArguments {
        @Flag(help: "Follow the job until it finishes; exit 3 if it fails.")
        var wait = false

        @Option(help: "Seconds --wait waits before giving up (exit 4).")
        var timeout: Int = 300
    }

    /// Prints a 202 answer (`uuid`, `name`, `state`, `job`), then follows the job when asked.
    static func accepted(_ answer: APIClient.Answer, client: APIClient, options: APIClientOptions, wait: WaitOptions) async throws {
        let item = answer.json["data"]?["certificates"]?.items.first ?? .null
        if options.json && !wait.wait { return Output.json(answer.json) }
        if !options.json {
            Output.fields([
                ("uuid", item["uuid"]?.cell ?? "-"), ("name", item["name"]?.cell ?? "-"),
                ("state", item["state"]?.cell ?? "-"), ("job", item["job"]?.cell ?? "-"),
            ])
        }
        guard wait.wait, let job = item["job"]?.text else { return }
        _ = try await client.waitForJob(job, timeout: .seconds(wait.timeout))
        if let uuid = item["uuid"]?.text, item["state"]?.text != "deleting" {
            let document = try await client.certificate(uuid)
            if options.json { return Output.json(document) }
            print("state: \(document["state"]?.cell ?? "-")")
        } else if options.json {
            Output.json(answer.json)
        }
    }

    struct Upload: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a chain and its key (validated by a job).")
        @OptionGroup var api: APIClientOptions
        @OptionGroup var waiting: WaitOptions
        @Option(help: "Certificate name (default: <common name>-xxxxx).") var name: String?
        @Option(help: "PEM file: the leaf, then its intermediates.") var chain: String
        @Option(help: "PEM file: the private key.") var key: String
        @Option(help: "PEM file: CA certificates that sign client certificates (two-way TLS).") var clientCA: String?
        @Option(help: "server or client (checked against Extended Key Usage).") var usage: String?

        func run() async throws {
            try await runCLI {
                var fields: [(String, JSONValue)] = [("chain", .string(try readFile(chain))), ("pkey", .string(try readFile(key)))]
                if let name { fields.append(("name", .string(name))) }
                if let clientCA { fields.append(("client_ca", .string(try readFile(clientCA)))) }
                if let usage { fields.append(("usage", .string(usage))) }
                let client = try api.client
                let answer = try await client.call(.POST, "/v1/certificates", json: .object(fields))
                try await CertsCommand.accepted(answer, client: client, options: api, wait: waiting)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List certificates.")
        @OptionGroup var api: APIClientOptions
        @Option(help: "Only certificates that cover this host name (wildcards count).") var domain: String?
        @Option(help: "Only this state (pending, valid, error, renewing, expired, revoked, deleting).") var state: String?
        @Option(help: "Only those expiring within this period: 30d, 12h, 90m.") var expiring: String?

        func run() async throws {
            try await runCLI {
                var query: [String] = ["limit=1000"]
                if let domain { query.append("domain=\(domain.pathEscaped)") }
                if let state { query.append("state=\(state.pathEscaped)") }
                if let expiring {
                    guard let seconds = parsePeriod(expiring) else {
                        throw CLIError(message: "--expiring takes a period like 30d, 12h or 90m", exit: ExitCode(64))
                    }
                    query.append("expires_before=\(RFC3339.format(Date().addingTimeInterval(seconds)).pathEscaped)")
                }
                let client = try api.client
                let listed = try await client.call(.GET, "/v1/certificates/list?" + query.joined(separator: "&"))
                // The documents in batches of 100 (the batch GET's cap), not one request each.
                let uuids = (listed.json["data"]?["certificates"]?.items ?? []).compactMap { $0["uuid"]?.text }
                var documents: [JSONValue] = []
                for start in stride(from: 0, to: uuids.count, by: 100) {
                    let batch = uuids[start..<min(start + 100, uuids.count)].joined(separator: ",")
                    let answer = try await client.call(.GET, "/v1/certificates?uuid=\(batch)")
                    documents += (answer.json["data"]?["certificates"]?.items ?? []).filter { $0["status"]?.text == "success" }
                }
                if api.json { return Output.json(.array(documents)) }
                Output.table(
                    ["NAME", "STATE", "COMMON NAME", "NOT AFTER", "SOURCE", "UUID"],
                    documents.map { d in
                        [
                            d["name"]?.cell ?? "-", d["state"]?.cell ?? "-", d["common_name"]?.cell ?? "-", d["not_after"]?.cell ?? "-",
                            d["source"]?.cell ?? "-", d["uuid"]?.cell ?? "-",
                        ]
                    })
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one certificate, or one value inside it (--path chain/0/subject).")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String
        @Option(help: "A path inside the certificate document, e.g. chain/0/subject/alt_names/0.") var path: String?

        func run() async throws {
            try await runCLI {
                let client = try api.client
                if let path {
                    let segments = path.split(separator: "/").map { String($0).pathEscaped }.joined(separator: "/")
                    let value = try await client.call(.GET, "/v1/certificates/\(reference.pathEscaped)/\(segments)").json["data"] ?? .null
                    return api.json ? Output.json(value) : print(value.cell)
                }
                let document = try await client.certificate(reference)
                if api.json { return Output.json(document) }
                let keys = [
                    "uuid", "name", "state", "common_name", "sans", "subject", "issuer", "serial_number", "not_before", "not_after",
                    "source", "usage", "tls_type", "key", "service_groups", "renew_at", "error",
                ]
                Output.fields(keys.map { ($0, document[$0]?.cell ?? "-") })
            }
        }
    }

    struct Download: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download PEM: fullchain, chain, cert, key or bundle (key and bundle need keys:export).")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String
        @Option(help: "fullchain, chain, cert, key or bundle.") var type: String = "fullchain"
        @Option(name: .shortAndLong, help: "Write to this file (mode 0600 for key and bundle) instead of standard output.") var output: String?

        func run() async throws {
            try await runCLI {
                let pem = try await api.client.call(.GET, "/v1/certificates/\(reference.pathEscaped)/pem?type=\(type.pathEscaped)").text
                guard let output else { return print(pem, terminator: "") }
                try writeFile(output, pem, secret: type == "key" || type == "bundle")
            }
        }
    }

    struct Renew: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Renew through ACME now.")
        @OptionGroup var api: APIClientOptions
        @OptionGroup var waiting: WaitOptions
        @Argument(help: "uuid or name") var reference: String

        func run() async throws {
            try await runCLI {
                let client = try api.client
                let answer = try await client.call(.POST, "/v1/certificates/\(reference.pathEscaped)/renew")
                try await CertsCommand.accepted(answer, client: client, options: api, wait: waiting)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a certificate (refused while it is bound).")
        @OptionGroup var api: APIClientOptions
        @OptionGroup var waiting: WaitOptions
        @Argument(help: "uuid or name") var reference: String

        func run() async throws {
            try await runCLI {
                let client = try api.client
                let answer = try await client.call(.DELETE, "/v1/certificates/\(reference.pathEscaped)")
                try await CertsCommand.accepted(answer, client: client, options: api, wait: waiting)
            }
        }
    }

    struct Bind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that CONSUMER uses the certificate (and deliver it to --target).")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String
        @Argument(help: "The consumer (service, listener, deployment).") var consumer: String
        @Option(help: "A delivery target (name or uuid): every new valid version is delivered there.") var target: String?

        func run() async throws {
            try await runCLI {
                let body: JSONValue? = target.map { .object([("target", .string($0))]) }
                let path = "/v1/certificates/\(reference.pathEscaped)/bindings/\(consumer.pathEscaped)"
                let answer = try await api.client.call(.PUT, path, json: body)
                api.json ? Output.json(answer.json) : print("bound \(reference) to \(consumer)")
            }
        }
    }

    struct Unbind: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove CONSUMER's binding.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "uuid or name") var reference: String
        @Argument(help: "The consumer.") var consumer: String

        func run() async throws {
            try await runCLI {
                try await api.client.call(.DELETE, "/v1/certificates/\(reference.pathEscaped)/bindings/\(consumer.pathEscaped)")
                api.json ? Output.json(.object([("status", .string("success"))])) : print("unbound \(consumer) from \(reference)")
            }
        }
    }
}

/// `certfleet jobs get|wait ID`.
struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "Show or follow jobs.", subcommands: [Get.self, Wait.self])

    static func show(_ job: JSONValue, json: Bool) {
        if json { return Output.json(job) }
        Output.fields(
            ["id", "kind", "state", "attempt", "certificate", "created_at", "finished_at"].map { ($0, job[$0]?.cell ?? "-") }
                + [("error", job["error"]?["code"]?.text.map { "\($0): \(job["error"]?["message"]?.cell ?? "")" } ?? "-")])
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a job.")
        @OptionGroup var api: APIClientOptions
        @Argument var id: String

        func run() async throws {
            try await runCLI {
                let job = try await api.client.call(.GET, "/v1/jobs/\(id.pathEscaped)").json["data"]?["jobs"]?.items.first ?? .null
                JobsCommand.show(job, json: api.json)
            }
        }
    }

    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Wait for a job to finish; exit 3 if it failed, 4 on timeout.")
        @OptionGroup var api: APIClientOptions
        @Argument var id: String
        @Option(help: "Seconds to wait.") var timeout: Int = 300

        func run() async throws {
            try await runCLI {
                JobsCommand.show(try await api.client.waitForJob(id, timeout: .seconds(timeout)), json: api.json)
            }
        }
    }
}

/// `30d`, `12h`, `90m`, `45s` → seconds.
func parsePeriod(_ text: String) -> TimeInterval? {
    guard let unit = text.last, let value = Double(text.dropLast()), value >= 0 else { return nil }
    switch unit {
    case "d": return value * 86_400
    case "h": return value * 3_600
    case "m": return value * 60
    case "s": return value
    default: return nil
    }
}

func readFile(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw CLIError(message: "cannot read \(path)", exit: ExitCode(1))
    }
    return text
}

/// Writes TEXT to PATH; private keys get mode 0600 from the start (never readable by others, even briefly).
func writeFile(_ path: String, _ text: String, secret: Bool) throws {
    let mode: mode_t = secret ? 0o600 : 0o644
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
    guard fd >= 0 else { throw CLIError(message: "cannot write \(path): \(String(cString: strerror(errno)))", exit: ExitCode(1)) }
    defer { close(fd) }
    _ = fchmod(fd, mode)
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw CLIError(message: "cannot write \(path)", exit: ExitCode(1)) }
        written += n
    }
}
