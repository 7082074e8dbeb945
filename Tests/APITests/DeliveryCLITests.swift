import API
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// `certfleet targets …` and `certs bind --target` from a shell, against the API in this
/// process and a real worker: the files target receives the certificate.
@Suite(.serialized) struct DeliveryCLITests {
    @Test func targetsFromTheShellDeliverTheBoundCertificate() async throws {
        try await APIEnvironment.with { env in
            try env.start(["worker"])
            let key = try await env.key(["certificates:read", "certificates:write"])
            let fixture = try DeliveryTests.fixture("cli")
            let chain = env.directory.appendingPathComponent("chain.pem"), privateKey = env.directory.appendingPathComponent("key.pem")
            try fixture.chain.write(to: chain, atomically: true, encoding: .utf8)
            try fixture.key.write(to: privateKey, atomically: true, encoding: .utf8)
            let files = env.directory.appendingPathComponent("delivered").path
            try await env.application().test(.live) { client in
                let port = try #require(client.port)
                func run(_ arguments: [String]) async -> (status: Int32, output: String) { await CLITests.cli(arguments, port: port, key: key) }
                #expect(await run(["certs", "upload", "--name", "site", "--chain", chain.path, "--key", privateKey.path, "--wait"]).status == 0)
                let created = await run([
                    "targets", "create", "disk", "--kind", "files", "--set", "directory=\(files)",
                    "--set", "reload_command=true",
                ])
                #expect(created.status == 0 && created.output.contains("created"), "\(created.output)")
                let bad = await run(["targets", "create", "bad", "--kind", "files", "--set", "directory=relative"])
                #expect(bad.status == 2 && bad.output.contains("target_misconfigured"), "\(bad.output)")
                let listed = await run(["targets", "list"])
                #expect(listed.output.contains("disk") && listed.output.contains("files"), "\(listed.output)")
                #expect(await run(["certs", "bind", "site", "web", "--target", "disk"]).status == 0)
                _ = try await DeliveryTests.waitForDeliveries(client, key: key, "site", env: env, DeliveryTests.holds(1))
                #expect(FileManager.default.fileExists(atPath: "\(files)/site/fullchain.pem"))
                let inUse = await run(["targets", "delete", "disk"])
                #expect(inUse.status == 2 && inUse.output.contains("target_in_use"), "\(inUse.output)")
                #expect(await run(["targets", "dead-letters", "disk"]).status == 0)
            }
        }
    }
}
