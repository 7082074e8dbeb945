import API
import ArgumentParser
import CertFleetCore
import CertFleetOptions
import Foundation
import Jobs
import X509

/// `certfleet agent`: on an edge host the workers cannot reach, fetches the current versions
/// of the certificates bound to its target (HTTP long-poll, the target's key), installs them
/// as files + command, and acknowledges each with the fingerprint of the leaf now on disk.
/// An agent that was stopped gets only the latest version when it starts again.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Install the certificates bound to an agent target on this host (files + reload command).")

    @Option(name: .customLong("api-url"), help: "The API's base URL (env CERTFLEET_API_URL; default http://127.0.0.1:8080).")
    var url: String?
    @Option(help: "File holding the agent key (<target uuid>.<secret>); env CERTFLEET_AGENT_KEY instead.")
    var keyFile: String?
    @Option(help: "Where certificates go: <directory>/<certificate name>/{fullchain,privkey,chain,cert}.pem.")
    var directory: String
    @Option(help: "Run after installing (through /bin/sh -c), e.g. 'nginx -s reload'.")
    var reloadCommand: String?
    @Option(help: "Seconds the reload command may run.")
    var reloadTimeout: Int = 30
    @Option(help: "Seconds one long-poll waits for something to install.")
    var wait: Int = 25
    @Flag(help: "Install what is due now and exit.")
    var once = false

    func run() async throws {
        TerminationSignals.restoreDefaults()
        try await runCLI {
            let key =
                try keyFile.map { try readFile($0).trimmingCharacters(in: .whitespacesAndNewlines) }
                ?? Environment.string("CERTFLEET_AGENT_KEY")
            guard let key, !key.isEmpty else { throw CLIError(message: "pass --key-file or set CERTFLEET_AGENT_KEY", exit: ExitCode(1)) }
            let client = APIClient(base: url ?? Environment.string("CERTFLEET_API_URL") ?? "http://127.0.0.1:8080", key: key)
            let installer = AgentInstaller(directory: directory, reloadCommand: reloadCommand, reloadTimeout: .seconds(reloadTimeout))
            print("agent started: \(directory)")
            while true {
                let offers: [JSONValue]
                do {
                    offers = try await client.call(.GET, "/agent/v1/deliveries?wait=\(once ? 0 : wait)").json["data"]?["deliveries"]?.items ?? []
                } catch let error as CLIError where error.exit == CLIExit.unavailable {
                    // The API is down or restarting: keep trying, the versions wait for us.
                    print("API unavailable: \(error.message)")
                    try await Task.sleep(for: .seconds(2))
                    continue
                }
                for offer in offers { try await install(offer, installer: installer, client: client) }
                if once { return }
            }
        }
    }

    func install(_ offer: JSONValue, installer: AgentInstaller, client: APIClient) async throws {
        guard let id = offer["certificate"]?["uuid"]?.text.flatMap(UUID.init(uuidString:)), let name = offer["certificate"]?["name"]?.text,
            let version = offer["version"]?.number, let chain = offer["chain_pem"]?.text, let keyPEM = offer["key_pem"]?.text
        else { return }
        do {
            let answer = try await installer.install(
                certificateID: id, projectID: UUID(), name: name, version: version, serial: offer["serial"]?.text ?? "",
                fingerprintSHA256: offer["fingerprint_sha256"]?.text ?? "", chainPEM: chain, keyPEM: keyPEM)
            // The fingerprint of what is on disk now, not of what was offered.
            let installed = try Certificate(pem: try readFile("\(directory)/\(name)/cert.pem")).info.fingerprintSHA256
            try await client.call(
                .POST, "/agent/v1/acks",
                json: .object([
                    ("certificate", .string(id.uuidString.lowercased())), ("version", .number(Double(version))),
                    ("fingerprint_sha256", .string(installed)), ("answer", .string(String(answer.prefix(300)))),
                ]))
            print("installed \(name) version \(version) \(installed)")
        } catch let failure as DeliveryFailure {
            // Offered again on the next poll; a short pause keeps a broken reload from spinning.
            print("could not install \(name) version \(version): \(failure.code.rawValue): \(failure.answer)")
            try await Task.sleep(for: .seconds(5))
        }
    }
}
