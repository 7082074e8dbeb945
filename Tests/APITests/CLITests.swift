import API
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceTestSupport
import TestSupport
import Testing

/// The built `certfleet` binary's CLI against a live API (in-process server on a free
/// port) with a real worker: what a script sees — output, files, exit codes.
@Suite(.serialized) struct CLITests {
    let fixtures = APIFixtures.shared

    /// Runs `certfleet ARGS` with the API's URL and KEY; its standard output, or the exit code it failed with.
    static func cli(_ arguments: [String], port: Int, key: String) async -> (status: Int32, output: String) {
        let environment = ["CERTFLEET_API_URL": "http://127.0.0.1:\(port)", "CERTFLEET_API_KEY": key]
        do {
            return (0, try await TestStack.run(IsolatedServices.binary, arguments, environment: environment))
        } catch let failure as CommandFailed {
            return (failure.status, failure.standardError)
        } catch {
            return (-1, "\(error)")
        }
    }

    static func python(_ script: String, _ input: URL) async throws -> String {
        try await TestStack.run(try await TestStack.toolsPython(), ["-c", script, input.path])
    }

    @Test func uploadListGetDownloadExportAndExitCodes() async throws {
        let env = try await APIEnvironment()
        do {
            try env.start(["worker"])
            let key = try await env.key(["certificates:read", "certificates:write", "keys:export"])
            let dir = env.directory
            let chain = dir.appendingPathComponent("chain.pem"), privateKey = dir.appendingPathComponent("key.pem")
            let wrongKey = dir.appendingPathComponent("wrong.pem"), clientCA = dir.appendingPathComponent("client-ca.pem")
            try fixtures.chain.write(to: chain, atomically: true, encoding: .utf8)
            try fixtures.key.write(to: privateKey, atomically: true, encoding: .utf8)
            try fixtures.otherKey.write(to: wrongKey, atomically: true, encoding: .utf8)
            try SelfSignedFixture.makeCA(subject: "/CN=CLI Client CA").write(to: clientCA, atomically: true, encoding: .utf8)

            try await env.application().test(.live) { client in
                let port = try #require(client.port)
                func run(_ arguments: [String]) async -> (status: Int32, output: String) { await Self.cli(arguments, port: port, key: key) }

                // upload --wait --json: the document once valid.
                let upload = await run(["certs", "upload", "--name", "web", "--chain", chain.path, "--key", privateKey.path, "--wait", "--json"])
                #expect(upload.status == 0, "\(upload.output); worker: \(env.processStatus)")
                let uploaded = try JSONValue.parse(upload.output)
                #expect(uploaded["state"]?.stringValue == "valid", "\(upload.output)")
                let mutual = await run([
                    "certs", "upload", "--name", "mutual", "--chain", chain.path, "--key", privateKey.path,
                    "--client-ca", clientCA.path, "--usage", "server", "--wait",
                ])
                #expect(mutual.status == 0, "\(mutual.output)")
                #expect(mutual.output.contains("state: valid"))

                // list: table and JSON, with filters.
                let table = await run(["certs", "list"])
                #expect(
                    table.status == 0 && table.output.hasPrefix("NAME") && table.output.contains("web") && table.output.contains("mutual"),
                    "\(table.output)")
                let byDomain = try JSONValue.parse(await run(["certs", "list", "--domain", "www.api.example.com", "--json"]).output)
                #expect(byDomain.arrayValue.count == 2)
                let soon = try JSONValue.parse(await run(["certs", "list", "--expiring", "30d", "--json"]).output)
                #expect(soon.arrayValue.isEmpty, "the fixture is valid for a year")
                let withinYear = try JSONValue.parse(await run(["certs", "list", "--expiring", "400d", "--state", "valid", "--json"]).output)
                #expect(withinYear.arrayValue.count == 2)

                // get, by path; download with modes.
                let altName = await run(["certs", "get", "web", "--path", "chain/0/subject/alt_names/0"])
                #expect(altName.output.trimmingCharacters(in: .whitespacesAndNewlines) == "api.example.com", "\(altName.output)")
                #expect(await run(["certs", "get", "web"]).output.contains("common_name"))
                let keyFile = dir.appendingPathComponent("downloaded.key")
                #expect(await run(["certs", "download", "web", "--type", "key", "-o", keyFile.path]).status == 0)
                #expect(try String(contentsOf: keyFile, encoding: .utf8) == fixtures.key)
                #expect((try FileManager.default.attributesOfItem(atPath: keyFile.path)[.posixPermissions] as? Int) == 0o600)
                #expect(await run(["certs", "download", "web", "--type", "fullchain"]).output == fixtures.chain)

                // export k8s-secret: YAML with the right keys (ca.crt only for two-way).
                for (name, expectCA) in [("web", false), ("mutual", true)] {
                    let manifest = dir.appendingPathComponent("\(name)-secret.yaml")
                    try await run(["certs", "export", name, "--format", "k8s-secret"]).output.write(to: manifest, atomically: true, encoding: .utf8)
                    let parsed = try await Self.python(
                        """
                        import base64, json, sys, yaml
                        doc = yaml.safe_load(open(sys.argv[1]))
                        print(json.dumps({"kind": doc["kind"], "type": doc["type"], "name": doc["metadata"]["name"], "keys": sorted(doc["data"]),
                                          "key": base64.b64decode(doc["data"]["tls.key"]).decode()}))
                        """, manifest)
                    let secret = try JSONValue.parse(parsed)
                    #expect(secret["kind"]?.stringValue == "Secret" && secret["type"]?.stringValue == "kubernetes.io/tls")
                    #expect(secret["name"]?.stringValue == name)
                    #expect(
                        secret["keys"]?.arrayValue.compactMap(\.stringValue)
                            == (expectCA ? ["ca.crt", "tls.crt", "tls.key"] : ["tls.crt", "tls.key"]))
                    #expect(secret["key"]?.stringValue == fixtures.key)
                }

                // export env: Kontena's names; a shell reads the values back unchanged.
                let envFile = dir.appendingPathComponent("web.env")
                try await run(["certs", "export", "web", "--format", "env"]).output.write(to: envFile, atomically: true, encoding: .utf8)
                let readBack = try await TestStack.run(
                    "/bin/bash", ["-c", #". "$1"; printf %s "$LE_CERTIFICATE_API_EXAMPLE_COM_PRIVATE_KEY""#, "sh", envFile.path])
                #expect(readBack == fixtures.key)
                let names = try String(contentsOf: envFile, encoding: .utf8)
                #expect(names.contains("LE_CERTIFICATE_API_EXAMPLE_COM_CERTIFICATE=") && names.contains("LE_CERTIFICATE_API_EXAMPLE_COM_BUNDLE="))

                // export files: certbot's layout, the key 0600, and openssl accepts the chain.
                let live = dir.appendingPathComponent("live")
                #expect(await run(["certs", "export", "web", "--format", "files", "--dir", live.path]).status == 0)
                for file in ["fullchain.pem", "chain.pem", "cert.pem", "privkey.pem"] {
                    #expect(FileManager.default.fileExists(atPath: live.appendingPathComponent(file).path), "\(file)")
                }
                #expect(
                    (try FileManager.default.attributesOfItem(atPath: live.appendingPathComponent("privkey.pem").path)[.posixPermissions] as? Int)
                        == 0o600)
                let cert = live.appendingPathComponent("cert.pem").path
                #expect(try await TestStack.run("/usr/bin/openssl", ["verify", "-CAfile", cert, cert]).contains("OK"))

                // bind, delete refused (2), unbind, delete --wait; jobs get/wait.
                #expect(await run(["certs", "bind", "web", "edge-1"]).status == 0)
                #expect(await run(["certs", "delete", "web"]).status == 2)
                #expect(await run(["certs", "unbind", "web", "edge-1"]).status == 0)
                let deleted = await run(["certs", "delete", "web", "--wait", "--json"])
                #expect(deleted.status == 0, "\(deleted.output)")
                #expect(await run(["certs", "get", "web"]).status == 2)

                // A failing job: exit 3; jobs get shows why; jobs wait exits 3 as well.
                let failing = await run(["certs", "upload", "--name", "broken", "--chain", chain.path, "--key", wrongKey.path, "--wait"])
                #expect(failing.status == 3, "\(failing.output)")
                #expect(failing.output.contains("key_mismatch"))
                let jobs = try await client.call(.get, "/v1/jobs?certificate=broken", key: key).json?["data"]?["jobs"]?.arrayValue ?? []
                let jobID = try #require(jobs.first?["id"]?.stringValue)
                let shown = try JSONValue.parse(await run(["jobs", "get", jobID, "--json"]).output)
                #expect(shown["state"]?.stringValue == "failed")
                #expect(await run(["jobs", "wait", jobID]).status == 3)

                // No key: a usage error; an unreachable API: 5.
                #expect(await Self.cli(["certs", "list"], port: port, key: "").status != 0)
                #expect(await Self.cli(["certs", "list"], port: TestStack.freePort(), key: key).status == 5)
            }
        } catch {
            await env.tearDown()
            throw error
        }
        await env.tearDown()
    }
}
