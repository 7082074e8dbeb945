import API
import ArgumentParser
import Foundation

/// `certfleet certificate register|authorize|get`: Kontena's Let's Encrypt verbs, over
/// CertFleet's ACME accounts and ACME-issued certificates.
struct CertificateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certificate", abstract: "Kontena-style ACME flow: register an account, authorize a domain, get a certificate.",
        subcommands: [Register.self, Authorize.self, Get.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register an ACME account for EMAIL.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Contact e-mail address.") var email: String
        @Option(help: "PEM file of an existing account key to import.") var keyFile: String?
        @Option(help: "ACME directory URL (default: the server's).") var directoryURL: String?
        @Option(help: "Account name (default: the server's).") var name: String?

        func run() async throws {
            try await runCLI {
                var fields: [(String, JSONValue)] = [("email", .string(email))]
                if let keyFile { fields.append(("key_pem", .string(try readFile(keyFile)))) }
                if let directoryURL { fields.append(("directory_url", .string(directoryURL))) }
                if let name { fields.append(("name", .string(name))) }
                let answer = try await api.client.call(.POST, "/v1/acme/accounts", json: .object(fields))
                if api.json { return Output.json(answer.json) }
                let account = answer.json["data"]?["acme_accounts"]?.items.first ?? .null
                Output.fields(["uuid", "name", "status", "contact", "directory_url", "account_url"].map { ($0, account[$0]?.cell ?? "-") })
            }
        }
    }

    struct Authorize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a dns-01 authorization for DOMAIN and print the TXT record to create.",
            discussion: "Create the record, then run `certfleet certificate get DOMAIN --wait` (or pass --wait here).")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "The domain to authorize.") var domain: String
        @Option(help: "Name of the certificate this authorization becomes.") var name: String?
        @Option(help: "ACME account (uuid or name).") var account: String?
        @Flag(help: "Wait until the CA validated the record and the certificate is issued.") var wait = false
        @Option(help: "Seconds to wait for the record to be known, and with --wait for the certificate.") var timeout: Int = 300

        func run() async throws {
            try await runCLI {
                var fields: [(String, JSONValue)] = [("domains", .array([.string(domain)])), ("challenge", .string("dns-01-manual"))]
                if let name { fields.append(("name", .string(name))) }
                if let account { fields.append(("acme_account", .string(account))) }
                let client = try api.client
                let created = try await client.call(.POST, "/v1/certificates", json: .object(fields))
                let item = created.json["data"]?["certificates"]?.items.first ?? .null
                guard let uuid = item["uuid"]?.text else { throw CLIError(message: "unexpected answer: \(created.text)", exit: CLIExit.unavailable) }
                let challenge = try await record(client: client, certificate: uuid)
                if api.json {
                    Output.json(.object([("certificate", item), ("challenge", challenge)]))
                } else {
                    print("Authorization successfully created. Use the following details to create necessary validations:")
                    // Kontena's lines, so scripts that scrape them keep working.
                    print("Record name: \(challenge["record_name"]?.cell ?? "-")")
                    print("Record type: \(challenge["record_type"]?.cell ?? "TXT")")
                    print("Record content: \(challenge["record_content"]?.cell ?? "-")")
                    print("Certificate: \(item["name"]?.cell ?? uuid)")
                }
                if wait, let job = item["job"]?.text {
                    _ = try await client.waitForJob(job, timeout: .seconds(timeout), quiet: api.json)
                }
            }
        }

        /// The first dns-01 challenge of the certificate once its TXT value is known.
        func record(client: APIClient, certificate: String) async throws -> JSONValue {
            let deadline = ContinuousClock.now + .seconds(timeout)
            while ContinuousClock.now < deadline {
                let challenges = try await client.call(.GET, "/v1/certificates/\(certificate)/challenges").json["data"]?["challenges"]?.items ?? []
                if let ready = challenges.first(where: { $0["domain"]?.text == domain && $0["record_content"]?.text != nil })
                    ?? challenges.first(where: {
                        $0["record_content"]?.text != nil
                    })
                {
                    return ready
                }
                if let failed = try await client.certificate(certificate)["error"], failed != .null {
                    throw CLIError(
                        message: "the authorization failed: \(failed["code"]?.cell ?? "") \(failed["message"]?.cell ?? "")", exit: CLIExit.jobFailed)
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            throw CLIError(message: "no dns-01 record for \(domain) after \(timeout) s", exit: CLIExit.timedOut)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Get a certificate for DOMAIN… (the first is the common name); continues an authorization started for it.")
        @OptionGroup var api: APIClientOptions
        @Argument(help: "Domains; the first is the common name.") var domains: [String]
        @Option(help: "Certificate name.") var name: String?
        @Option(help: "fullchain, chain or cert: what -o writes.") var certType: String = "fullchain"
        @Option(help: "Challenge for a new order: http-01, dns-01 or dns-01-manual (default: the API's, CERTFLEET_ACME_DEFAULT_CHALLENGE).")
        var challenge: String?
        @Option(help: "ACME account (uuid or name).") var account: String?
        @Flag(help: "Follow the job with a progress line; exit 3 if it fails.") var wait = false
        @Option(help: "Seconds --wait waits.") var timeout: Int = 300
        @Option(name: .shortAndLong, help: "With --wait: write the --cert-type PEM here.") var output: String?

        func run() async throws {
            try await runCLI {
                guard !domains.isEmpty else { throw CLIError(message: "name at least one domain", exit: ExitCode(64)) }
                guard ["fullchain", "chain", "cert"].contains(certType) else {
                    throw CLIError(message: "--cert-type must be fullchain, chain or cert", exit: ExitCode(64))
                }
                let client = try api.client
                let (uuid, job) = try await order(client)
                if !wait {
                    let document = try await client.certificate(uuid)
                    return api.json
                        ? Output.json(document)
                        : Output.fields([
                            ("name", document["name"]?.cell ?? "-"), ("state", document["state"]?.cell ?? "-"),
                            ("job", job ?? "-"),
                        ])
                }
                if let job { _ = try await client.waitForJob(job, timeout: .seconds(timeout), quiet: api.json) }
                let document = try await client.certificate(uuid)
                guard document["state"]?.text == "valid" else {
                    throw CLIError(
                        message:
                            "certificate \(document["name"]?.cell ?? uuid) is \(document["state"]?.cell ?? "?"): \(document["error"]?.cell ?? "")",
                        exit: CLIExit.jobFailed)
                }
                if let output {
                    try writeFile(output, try await client.call(.GET, "/v1/certificates/\(uuid)/pem?type=\(certType)").text, secret: false)
                }
                if api.json { return Output.json(document) }
                Output.fields(
                    [
                        ("name", document["name"]?.cell ?? "-"), ("state", "valid"), ("domains", document["sans"]?.cell ?? "-"),
                        ("not_after", document["not_after"]?.cell ?? "-"),
                    ] + (output.map { [("written", $0)] } ?? []))
            }
        }

        /// The certificate `authorize` started for these domains (still pending, or already
        /// issued when `--name` names it: the CA may have validated the record before `get`
        /// ran), or a new order.
        func order(_ client: APIClient) async throws -> (uuid: String, job: String?) {
            let common = domains[0]
            let listed = try await client.call(.GET, "/v1/certificates/list?common_name=\(common.pathEscaped)")
            for item in listed.json["data"]?["certificates"]?.items ?? [] {
                guard let uuid = item["uuid"]?.text else { continue }
                let document = try await client.certificate(uuid)
                let sans = Set(document["sans"]?.items.compactMap(\.text) ?? [])
                guard sans.isEmpty || sans == Set(domains.map { $0.lowercased() }), name == nil || document["name"]?.text == name else { continue }
                switch document["state"]?.text {
                case "pending", "renewing":
                    let jobs = try await client.call(.GET, "/v1/jobs?certificate=\(uuid)").json["data"]?["jobs"]?.items ?? []
                    return (uuid, jobs.last?["id"]?.text)
                case "valid" where name != nil:
                    return (uuid, nil)
                default:
                    continue
                }
            }
            var fields: [(String, JSONValue)] = [("domains", .strings(domains))]
            if let challenge { fields.append(("challenge", .string(challenge))) }
            if let name { fields.append(("name", .string(name))) }
            if let account { fields.append(("acme_account", .string(account))) }
            let created = try await client.call(.POST, "/v1/certificates", json: .object(fields))
            let item = created.json["data"]?["certificates"]?.items.first ?? .null
            guard let uuid = item["uuid"]?.text else { throw CLIError(message: "unexpected answer: \(created.text)", exit: CLIExit.unavailable) }
            return (uuid, item["job"]?.text)
        }
    }
}
