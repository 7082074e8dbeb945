import API
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// Kontena's Let's Encrypt verbs with the built binary against a live API, real workers and
/// a private Pebble: register, authorize (the test creates the TXT record in the test DNS
/// server), get --wait → files that `openssl verify` accepts against Pebble's root.
@Suite struct KontenaCLITests {
    @Test func registerAuthorizeGetWithWait() async throws {
        let world = try await ACMEIssuanceTests.World.make("kontena")
        do {
            try world.startScheduler()
            try world.startWorker()
            let exporter = try await world.env.key(["certificates:read", "certificates:write", "keys:export"])
            let dir = world.env.directory
            try await world.application().test(.live) { client in
                let port = try #require(client.port)
                func run(_ arguments: [String]) async -> (status: Int32, output: String) { await CLITests.cli(arguments, port: port, key: exporter) }

                let registered = await run(["certificate", "register", "ops@certfleet-test.com", "--json"])
                #expect(registered.status == 0, "\(registered.output)")
                let account = try JSONValue.parse(registered.output)["data"]?["acme_accounts"]?.arrayValue.first
                #expect(account?["status"]?.stringValue == "valid", "\(registered.output)")

                let domain = "kontena-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
                let authorized = await run(["certificate", "authorize", domain, "--name", "kontena-web"])
                #expect(authorized.status == 0, "\(authorized.output); processes: \(world.env.processStatus)")
                func line(_ label: String) -> String? {
                    authorized.output.split(separator: "\n").first { $0.hasPrefix("\(label): ") }.map { String($0.dropFirst(label.count + 2)) }
                }
                let recordName = try #require(line("Record name"), "\(authorized.output)")
                let recordContent = try #require(line("Record content"))
                #expect(line("Record type") == "TXT")
                #expect(recordName.hasPrefix("_acme-challenge.\(domain)"))
                try await TestStack.run(
                    "/usr/bin/curl",
                    [
                        "-sf", "-X", "POST", "-d", #"{"host":"\#(recordName)","value":"\#(recordContent)"}"#,
                        "\(world.pebble.challTestSrvURL)/set-txt",
                    ])

                let fullchain = dir.appendingPathComponent("fullchain.pem")
                let got = await run([
                    "certificate", "get", "--name", "kontena-web", "--cert-type", "fullchain", domain, "--wait", "-o", fullchain.path,
                ])
                #expect(got.status == 0, "\(got.output); processes: \(world.env.processStatus)")
                #expect(try String(contentsOf: fullchain, encoding: .utf8).contains("BEGIN CERTIFICATE"))

                let live = dir.appendingPathComponent("live")
                #expect(await run(["certs", "export", "kontena-web", "--format", "files", "--dir", live.path]).status == 0)
                let root = dir.appendingPathComponent("pebble-root.pem")
                try await TestStack.run(
                    "/usr/bin/curl", ["-sf", "--cacert", world.pebble.caFile, "-o", root.path, "\(world.pebble.managementURL)/roots/0"])
                let verified = try await TestStack.run(
                    "/usr/bin/openssl",
                    [
                        "verify", "-CAfile", root.path, "-untrusted", live.appendingPathComponent("chain.pem").path,
                        live.appendingPathComponent("cert.pem").path,
                    ])
                #expect(verified.contains(": OK"), "\(verified)")

                // A failing order: a domain whose TXT never appears and a CA that refuses at once → non-zero exit.
                let refused = await run(["certificate", "get", "invalid..name", "--wait"])
                #expect(refused.status == 2, "\(refused.output)")
            }
        } catch {
            await world.tearDown()
            throw error
        }
        await world.tearDown()
    }
}
