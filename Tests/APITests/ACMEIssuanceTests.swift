import ACME
import API
import Foundation
import Hummingbird
import HummingbirdTesting
import Jobs
import ServiceTestSupport
import TestSupport
import Testing
import X509

/// Issue, renew and revoke through the API with real worker processes against a
/// private Pebble (own log to count orders). Pebble validates http-01 on a port where a
/// separate `certfleet api` process answers (`--acme-http-port`) from the tokens the
/// workers wrote to the database, as any replica would.
@Suite struct ACMEIssuanceTests {
    /// One world: API on the Pebble's http-01 port, workers pointed at that Pebble.
    struct World {
        let env: APIEnvironment
        let pebble: PrivatePebble
        let key: String

        static func make(_ name: String, pebbleEnvironment: [String: String] = [:]) async throws -> World {
            let env = try await APIEnvironment()
            let pebble = try await PrivatePebble.start(name, httpPort: TestStack.freePort(), environment: pebbleEnvironment)
            return World(env: env, pebble: pebble, key: try await env.key(["certificates:read", "certificates:write"]))
        }

        /// Runs BODY in a fresh world (see `make`), torn down whether BODY throws or not.
        static func with(_ name: String, pebbleEnvironment: [String: String] = [:], _ body: (World) async throws -> Void) async throws {
            try await TestStack.using(try await make(name, pebbleEnvironment: pebbleEnvironment), tearDown: { await $0.tearDown() }, body)
        }

        var workerEnvironment: [String: String] {
            pebble.certfleetEnvironment.merging(["CERTFLEET_ACME_MANUAL_RECHECK_SECONDS": "1"]) { $1 }
        }

        /// A second API replica, answering http-01 on the Pebble's port; returns once it is ready.
        @discardableResult
        func startChallengeReplica() async throws -> ChildProcess {
            let port = TestStack.freePort()
            let replica = try env.services.start(
                ["api", "--port", String(port), "--acme-http-port", String(pebble.httpPort)],
                log: env.directory.appendingPathComponent("api-replica.log"))
            for _ in 0..<300 {
                if (try? await TestStack.run(
                    "/usr/bin/curl", ["-s", "-o", "/dev/null", "http://127.0.0.1:\(pebble.httpPort)/.well-known/acme-challenge/x"])) != nil
                {
                    return replica
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("the API replica did not answer on :\(pebble.httpPort); processes: \(env.processStatus)")
            return replica
        }

        /// The scheduler publishes delayed job messages (retries, snoozed dns-01-manual checks) and reaps leases.
        func startScheduler() throws {
            try env.services.start(["scheduler", "--reap-interval", "1"], log: env.directory.appendingPathComponent("scheduler.log"))
        }

        @discardableResult
        func startWorker(lease: Int = 60, concurrency: Int = 4) throws -> ChildProcess {
            let services = env.services
            return try services.start(
                ["worker", "--lease", String(lease), "--concurrency", String(concurrency)],
                log: env.directory.appendingPathComponent("worker-\(services.processes.count).log"),
                environment: workerEnvironment)
        }

        func application() -> some ApplicationProtocol {
            let settings = ACMESettings(defaultDirectoryURL: pebble.directoryURL, trustedCAFile: pebble.caFile, domainPolicy: .off)
            return buildApplication(
                configuration: APIConfiguration(port: 0, readRate: 0, writeRate: 0),
                dependencies: APIDependencies(
                    db: env.db, sealer: env.sealer, amqp: env.amqp, topology: env.topology,
                    logger: .init(label: "test.api"), acme: settings))
        }

        func tearDown() async {
            await env.tearDown()
            await pebble.stop()
        }
    }

    static func issue(_ client: some TestClientProtocol, _ world: World, _ body: String) async throws -> (uuid: String, job: String) {
        let answer = try await client.call(.post, "/v1/certificates", key: world.key, body: body)
        #expect(answer.status == .accepted, "\(answer.text)")
        let item = try #require(answer.first)
        return (try #require(item["uuid"]?.stringValue), try #require(item["job"]?.stringValue))
    }

    /// Polls the certificate until DONE says so (generous deadline: the machine is shared).
    static func waitFor(
        _ client: some TestClientProtocol, _ world: World, _ uuid: String, seconds: Int = 240,
        _ done: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        try await poll(client, key: world.key, uuid, environment: world.env, seconds: seconds, done)
    }

    static func state(_ wanted: String) -> (JSONValue) -> Bool { { $0["state"]?.stringValue == wanted } }

    /// Polls certificate UUID until DONE says so (generous deadline: the machine is shared).
    static func poll(
        _ client: some TestClientProtocol, key: String, _ uuid: String, environment: APIEnvironment, seconds: Int = 120,
        _ done: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last: Answer? = nil
        while ContinuousClock.now < deadline {
            let answer = try await client.call(.get, "/v1/certificates/\(uuid)", key: key)
            last = answer
            if let item = answer.first, done(item) { return item }
            try await Task.sleep(for: .milliseconds(300))
        }
        Issue.record("certificate \(uuid) did not settle: \(last?.text ?? "-"); processes: \(environment.processStatus)")
        throw CancellationError()
    }

    static func pebbleRoot(_ pebble: PrivatePebble) throws -> Certificate {
        try Certificate(pem: try TestStack.runWaiting("/usr/bin/curl", ["-sf", "--cacert", pebble.caFile, "\(pebble.managementURL)/roots/0"]))
    }

    static func domain(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
    }

    /// Nothing answers http-01: the authorization goes invalid, and the issue ends `error` with
    /// the CA's problem after exactly one order (it used to re-order on every retry).
    @Test func aFailedValidationEndsTheIssueAfterOneOrder() async throws {
        try await World.with("acme-invalid") { world in
            try world.startScheduler()
            try world.startWorker()
            try await world.application().test(.live) { client in
                let name = Self.domain("unanswered")
                let issued = try await Self.issue(client, world, #"{"domains":["\#(name)","www.\#(name)"],"challenge":"http-01"}"#)
                let item = try await Self.waitFor(client, world, issued.uuid, Self.state("error"))
                // Nothing answers the challenge: Pebble's connection fails, or, when another suite's
                // responder briefly holds the shared http-01 port, the answer is wrong. Both are a
                // failed validation, which must end the issue after one order.
                #expect(["acme_connection", "acme_unauthorized"].contains(item["error"]?["code"]?.stringValue ?? ""), "\(item)")
                let message = item["error"]?["message"]?.stringValue ?? ""
                #expect(message.contains("could not validate dns:") && message.contains("with http-01"), "\(message)")
                // Long enough for a retry to have ordered again, had it been scheduled.
                try await Task.sleep(for: .seconds(5))
                #expect(try world.pebble.ordersCreated() == 1)
                let job = try await client.call(.get, "/v1/jobs/\(issued.job)", key: world.key)
                #expect(job.text.contains("\"failed\""), "\(job.text)")
            }
        }
    }

    /// An automatic renewal whose validation fails: one order, the certificate keeps its valid
    /// version, shows the failure, and its next try is at least an hour away.
    @Test(.timeLimit(.minutes(5))) func aRenewalFailingValidationWaitsAnHourOrMore() async throws {
        // No reuse of the first validation: the renewal must validate again.
        try await World.with("acme-renewal-fails", pebbleEnvironment: ["PEBBLE_AUTHZREUSE": "0"]) { world in
            try world.env.services.start(
                ["scheduler", "--reap-interval", "1", "--renewal-interval", "1"],
                log: world.env.directory.appendingPathComponent("scheduler.log"))
            let replica = try await world.startChallengeReplica()
            try world.startWorker()
            try await world.application().test(.live) { client in
                let name = Self.domain("renewal-fails")
                let issued = try await Self.issue(client, world, #"{"domains":["\#(name)"],"challenge":"http-01"}"#)
                let valid = try await Self.waitFor(client, world, issued.uuid, Self.state("valid"))
                // Nothing answers http-01 any more; the renewal becomes due.
                replica.signal(SIGKILL)
                _ = replica.waitForExit()
                let due = Date()
                try await world.env.db.query(
                    "UPDATE certificates SET renew_at = now() - interval '1 second' WHERE id = \(UUID(uuidString: issued.uuid)!)")
                let failed = try await Self.waitFor(client, world, issued.uuid) { $0["error"]?["code"]?.stringValue == "acme_connection" }
                #expect(failed["state"]?.stringValue == "valid")
                #expect(failed["serial_number"] == valid["serial_number"])
                let next = try #require(failed["renew_at"]?.stringValue.flatMap(RFC3339Date.parse))
                #expect(next >= due.addingTimeInterval(3600 - 5), "next try \(next) is less than an hour after \(due)")
                #expect(next <= due.addingTimeInterval(2 * 3600 + 5))
                try await Task.sleep(for: .seconds(3))
                #expect(try world.pebble.ordersCreated() == 2, "one issuance, one failed renewal")
            }
        }
    }

    /// The budget with Let's Encrypt's defaults counts issued certificates: 20 issues whose
    /// validation fails (nothing answers http-01 yet) release their reservations, then of 60 more names under the same
    /// registered domain exactly 50 are issued and 10 wait for the window; Pebble saw 70 orders.
    @Test(.timeLimit(.minutes(8))) func theBudgetCountsIssuedCertificatesAndReleasesFailedOnes() async throws {
        try await World.with("acme-budget", pebbleEnvironment: ["PEBBLE_AUTHZREUSE": "0"]) { world in
            try world.startScheduler()
            try world.startWorker(concurrency: 4)
            try await world.application().test(.live) { client in
                let base = "budget-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
                func issueAll(_ names: [String]) async throws -> [String] {
                    var uuids: [String] = []
                    for name in names { uuids.append(try await Self.issue(client, world, #"{"domains":["\#(name)"],"challenge":"http-01"}"#).uuid) }
                    return uuids
                }
                func states(_ uuids: [String]) async throws -> [String: Int] {
                    var counts: [String: Int] = [:]
                    for row in try await world.env.db.query(
                        """
                        SELECT state || ':' || coalesce(last_error_code, '') AS s FROM certificates WHERE id = ANY(\(uuids)::uuid[])
                        """)
                    { counts[try row.decode(String.self, "s"), default: 0] += 1 }
                    return counts
                }
                func settle(_ uuids: [String], until done: ([String: Int]) -> Bool) async throws -> [String: Int] {
                    let deadline = ContinuousClock.now + .seconds(240)
                    var counts = try await states(uuids)
                    while !done(counts) && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(500))
                        counts = try await states(uuids)
                    }
                    return counts
                }
                // 20 names while nothing answers http-01 yet: validation fails.
                let failing = (1...20).map { "f\($0).\(base)" }
                let failed = try await settle(try await issueAll(failing)) { $0["error:acme_connection"] == 20 }
                #expect(failed == ["error:acme_connection": 20], "\(failed)")
                try await world.startChallengeReplica()

                let uuids = try await issueAll((1...60).map { "n\($0).\(base)" })
                let counts = try await settle(uuids) { $0["valid:"] == 50 && $0["pending:rate_limit_budget"] == 10 }
                #expect(counts == ["valid:": 50, "pending:rate_limit_budget": 10], "\(counts); processes: \(world.env.processStatus)")
                #expect(try world.pebble.ordersCreated() == 70)
            }
        }
    }

    /// RFC 8738: an IP address is issued over http-01 and lands in an IP SAN; dns-01 is refused.
    @Test func anIPAddressIsIssuedOverHTTP01() async throws {
        try await World.with("acme-ip") { world in
            try world.startScheduler()
            try await world.startChallengeReplica()
            try world.startWorker()
            try await world.application().test(.live) { client in
                let refused = try await client.call(
                    .post, "/v1/certificates", key: world.key,
                    body: #"{"domains":["127.0.0.1"],"challenge":"dns-01"}"#)
                #expect(refused.status == .unprocessableContent && refused.errorCode == "ip_requires_http01", "\(refused.text)")
                let issued = try await Self.issue(client, world, #"{"domains":["127.0.0.1"]}"#)
                let item = try await Self.waitFor(client, world, issued.uuid, Self.state("valid"))
                #expect(item["sans"]?.arrayValue.compactMap(\.stringValue) == ["127.0.0.1"], "\(item)")
                let pem = try await client.call(.get, "/v1/certificates/\(issued.uuid)/pem?type=cert", key: world.key)
                let file = world.env.directory.appendingPathComponent("ip.pem")
                try pem.text.write(to: file, atomically: true, encoding: .utf8)
                let text = try await TestStack.run("/usr/bin/openssl", ["x509", "-in", file.path, "-noout", "-ext", "subjectAltName"])
                #expect(text.contains("IP Address:127.0.0.1"), "\(text)")
            }
        }
    }

    @Test func issueRenewRevokeAcrossChallengeTypes() async throws {
        try await World.with("acme-api") { world in
            try world.startScheduler()
            try await world.startChallengeReplica()
            try world.startWorker()
            try world.startWorker()
            let secondIssuance = try await world.application().test(.live) { client -> Bool in
                let names = (1...3).map { Self.domain("three\($0)") }
                let three = try await Self.issue(client, world, #"{"domains":["\#(names.joined(separator: #"",""#))"]}"#)
                // The same name set again while the first runs: the running job comes back. A fast CA
                // may have finished the first before the second arrived: then it is a second issuance.
                let again = try await client.call(
                    .post, "/v1/certificates", key: world.key,
                    body: #"{"domains":["\#(names.reversed().joined(separator: #"",""#))"]}"#)
                let secondIssuance = again.first?["uuid"]?.stringValue != three.uuid
                if secondIssuance {
                    let first = try await client.call(.get, "/v1/jobs/\(three.job)", key: world.key)
                    #expect(first.text.contains("\"succeeded\""), "a second issuance while the first ran: \(first.text)")
                    _ = try await Self.waitFor(client, world, try #require(again.first?["uuid"]?.stringValue), Self.state("valid"))
                } else {
                    #expect(again.first?["job"]?.stringValue == three.job)
                }

                let base = Self.domain("wild")
                let wildcard = try await Self.issue(
                    client, world, #"{"domains":["*.\#(base)","\#(base)"],"challenge":"dns-01","key_type":"ec-p384"}"#)
                let manualName = Self.domain("manual")
                let manual = try await Self.issue(client, world, #"{"domains":["\#(manualName)"],"challenge":"dns-01-manual","key_type":"rsa-2048"}"#)

                // dns-01-manual: the record to create shows up at /challenges; the "user" creates it.
                var record: JSONValue? = nil
                for _ in 0..<600 where record == nil {
                    let answer = try await client.call(.get, "/v1/certificates/\(manual.uuid)/challenges", key: world.key)
                    record = answer.json?["data"]?["challenges"]?.arrayValue.first
                    if record == nil { try await Task.sleep(for: .milliseconds(200)) }
                }
                let shown = try #require(record, "no challenge shown; processes: \(world.env.processStatus)")
                #expect(shown["record_type"]?.stringValue == "TXT")
                #expect(shown["record_name"]?.stringValue == "_acme-challenge.\(manualName).")
                #expect(shown["domain"]?.stringValue == manualName)
                let name = try #require(shown["record_name"]?.stringValue), value = try #require(shown["record_content"]?.stringValue)
                try await TestStack.run(
                    "/usr/bin/curl",
                    ["-sf", "-X", "POST", "-d", #"{"host":"\#(name)","value":"\#(value)"}"#, "\(world.pebble.challTestSrvURL)/set-txt"])

                let root = try Self.pebbleRoot(world.pebble)
                for (uuid, commonName) in [(three.uuid, names[0]), (wildcard.uuid, "*.\(base)"), (manual.uuid, manualName)] {
                    let item = try await Self.waitFor(client, world, uuid, Self.state("valid"))
                    #expect(item["common_name"]?.stringValue == commonName)
                    #expect(item["source"]?.stringValue == "acme")
                    let pem = try await client.call(.get, "/v1/certificates/\(uuid)/pem?type=fullchain", key: world.key)
                    let chain = try CertificateBundle.parse(pem: pem.text, limits: .clientCA).chain
                    #expect(chain.count >= 2)
                    #expect(chain[0].info.subject.commonName == commonName)
                    #expect(zip(chain, chain.dropFirst()).allSatisfy { $0.isSignatureValid(signedBy: $1) })
                    #expect(chain.last?.isSignatureValid(signedBy: root) == true, "the chain must end at Pebble's root")
                }
                let threeLeaf = try await client.call(.get, "/v1/certificates/\(three.uuid)", key: world.key).first
                #expect(Set(threeLeaf?["sans"]?.arrayValue.compactMap(\.stringValue) ?? []) == Set(names))

                // Forced renewal: a new version with a new serial; the first is kept.
                let serial = threeLeaf?["serial_number"]?.stringValue
                let renew = try await client.call(.post, "/v1/certificates/\(three.uuid)/renew", key: world.key)
                #expect(renew.status == .accepted, "\(renew.text)")
                let renewed = try await Self.waitFor(client, world, three.uuid) {
                    $0["state"]?.stringValue == "valid" && $0["serial_number"]?.stringValue != serial
                }
                #expect(renewed["common_name"]?.stringValue == names[0])

                // reuse_key: the next version carries the same key; a default renewal a new one.
                let firstLeaf = try Certificate(pem: try await client.call(.get, "/v1/certificates/\(three.uuid)/pem?type=cert", key: world.key).text)
                let reuse = try await client.call(.post, "/v1/certificates/\(three.uuid)/renew", key: world.key, body: #"{"reuse_key":true}"#)
                #expect(reuse.status == .accepted, "\(reuse.text)")
                let secondSerial = renewed["serial_number"]?.stringValue
                _ = try await Self.waitFor(client, world, three.uuid) {
                    $0["state"]?.stringValue == "valid" && $0["serial_number"]?.stringValue != secondSerial
                }
                let reusedLeaf = try Certificate(
                    pem: try await client.call(.get, "/v1/certificates/\(three.uuid)/pem?type=cert", key: world.key).text)
                #expect(reusedLeaf.publicKey == firstLeaf.publicKey)
                #expect(reusedLeaf.info.serialNumber != firstLeaf.info.serialNumber)
                let versions = try await world.env.db.query(
                    "SELECT count(*)::int AS n FROM certificate_versions WHERE certificate_id = \(UUID(uuidString: three.uuid)!)")
                #expect(try versions.first?.decode(Int.self, "n") == 3)

                // Revocation at the CA.
                let revoke = try await client.call(
                    .post, "/v1/certificates/\(wildcard.uuid)/revoke", key: world.key, body: #"{"reason":"keyCompromise"}"#)
                #expect(revoke.status == .accepted, "\(revoke.text)")
                _ = try await Self.waitFor(client, world, wildcard.uuid, Self.state("revoked"))
                let badReason = try await client.call(.post, "/v1/certificates/\(three.uuid)/revoke", key: world.key, body: #"{"reason":"bored"}"#)
                #expect(badReason.errorCode == "invalid_reason")

                // DELETE ?revoke=true: revoked at the CA, then deleted.
                let delete = try await client.call(.delete, "/v1/certificates/\(manual.uuid)?revoke=true", key: world.key)
                #expect(delete.status == .accepted, "\(delete.text)")
                let deadline = ContinuousClock.now + .seconds(240)
                var gone = false
                while !gone && ContinuousClock.now < deadline {
                    gone = try await client.call(.get, "/v1/certificates/\(manual.uuid)", key: world.key).status == .notFound
                    if !gone { try await Task.sleep(for: .milliseconds(300)) }
                }
                #expect(gone)
                let types = try await world.env.db.query(
                    """
                    SELECT type FROM events WHERE certificate_id = \(UUID(uuidString: manual.uuid)!) ORDER BY id
                    """
                ).map { try $0.decode(String.self, "type") }
                #expect(types.contains("issued") && types.contains("revoked") && types.contains("deleted"), "\(types)")
                return secondIssuance
            }
            #expect(try world.pebble.ordersCreated() == (secondIssuance ? 6 : 5), "three issuances (four after the race above) and two renewals")
        }
    }

    /// Accounts: EAB required by the CA and given; an imported key; listed without keys; an
    /// issuance through a named account; typed errors for the rest.
    @Test func acmeAccountsRegisterImportListAndIssue() async throws {
        let kid = "kid-certfleet"
        let mac = Base64URL.encode(Array("certfleet-test-eab-mac-key-0123456789abcdef".utf8))
        try await World.with("acme-accounts", pebbleEnvironment: ["CERTFLEET_PEBBLE_EAB_KEYS": "\(kid)=\(mac)"]) { world in
            try world.startScheduler()
            try world.startWorker()
            try await world.application().test(.live) { client in
                let refused = try await client.call(.post, "/v1/acme/accounts", key: world.key, body: #"{"name":"plain"}"#)
                #expect(refused.status == .unprocessableContent, "\(refused.text)")
                #expect(refused.errorCode == "acme_external_account_required")

                let created = try await client.call(
                    .post, "/v1/acme/accounts", key: world.key,
                    body: #"{"name":"ops","email":"ops@certfleet-test.com","eab":{"kid":"\#(kid)","hmac_key":"\#(mac)"}}"#)
                #expect(created.status == .created, "\(created.text)")
                let account = try #require(created.json?["data"]?["acme_accounts"]?.arrayValue.first)
                #expect(account["status"]?.stringValue == "valid")
                #expect(account["directory_url"]?.stringValue == world.pebble.directoryURL)
                #expect(account["contact"]?.arrayValue.compactMap(\.stringValue) == ["mailto:ops@certfleet-test.com"])
                #expect(account["account_url"]?.stringValue?.hasPrefix("https://") == true)

                let keyPEM = try PrivateKey.generate(.ecP256).pkcs8PEM()
                let body = JSONValue.object([
                    ("name", .string("imported")), ("key_pem", .string(keyPEM)),
                    ("eab", .object([("kid", .string(kid)), ("hmac_key", .string(mac))])),
                ]).serialized()
                let imported = try await client.call(.post, "/v1/acme/accounts", key: world.key, body: body)
                #expect(imported.status == .created, "\(imported.text)")
                let importedID = try #require(imported.json?["data"]?["acme_accounts"]?.arrayValue.first?["uuid"]?.stringValue)
                let taken = try await client.call(.post, "/v1/acme/accounts", key: world.key, body: body)
                #expect(taken.errorCode == "name_taken")
                let badKey = try await client.call(.post, "/v1/acme/accounts", key: world.key, body: #"{"name":"bad","key_pem":"nope"}"#)
                #expect(badKey.errorCode == "invalid_key")

                let list = try await client.call(.get, "/v1/acme/accounts", key: world.key)
                #expect(list.json?["data"]?["acme_accounts"]?.arrayValue.compactMap { $0["name"]?.stringValue } == ["ops", "imported"])
                #expect(!list.text.contains("PRIVATE KEY") && !created.text.contains("PRIVATE KEY") && !imported.text.contains("PRIVATE KEY"))

                // DELETE ?revoke=true of a certificate that was never issued: just the delete, and its pending order stops.
                let stuck = try await Self.issue(client, world, #"{"domains":["\#(Self.domain("stuck"))"],"challenge":"dns-01-manual"}"#)
                let dropped = try await client.call(.delete, "/v1/certificates/\(stuck.uuid)?revoke=true", key: world.key)
                #expect(dropped.status == .accepted, "\(dropped.text)")
                #expect(dropped.first?["state"]?.stringValue == "deleting")
                let deadline = ContinuousClock.now + .seconds(240)
                var stopped = false
                while !stopped && ContinuousClock.now < deadline {
                    stopped =
                        try await world.env.db.query(
                            """
                            SELECT 1 AS done FROM jobs WHERE certificate_id = \(UUID(uuidString: stuck.uuid)!) AND kind = 'issue'
                              AND state IN ('cancelled', 'failed')
                            """
                        ).count == 1
                    if !stopped { try await Task.sleep(for: .milliseconds(300)) }
                }
                // Cancelled by the delete, or failed before it: the project's `default` account cannot
                // register at this CA without EAB (acme_external_account_required), which is final.
                #expect(stopped, "the issue job of a deleted certificate must end")

                let missing = try await client.call(
                    .post, "/v1/certificates", key: world.key,
                    body: #"{"domains":["\#(Self.domain("x"))"],"acme_account":"nope"}"#)
                #expect(missing.errorCode == "acme_account_not_found")
                let issued = try await Self.issue(
                    client, world, #"{"domains":["\#(Self.domain("named"))"],"challenge":"dns-01","acme_account":"imported"}"#)
                _ = try await Self.waitFor(client, world, issued.uuid, Self.state("valid"))
                let used = try await world.env.db.query("SELECT acme_account_id FROM certificates WHERE id = \(UUID(uuidString: issued.uuid)!)")
                #expect(try used.first?.decode(UUID?.self, "acme_account_id") == UUID(uuidString: importedID))
            }
        }
    }

    /// Kills the worker (SIGKILL) right after it saved a checkpoint at a random ACME step,
    /// several times; another worker resumes from the checkpoints. Every certificate ends
    /// valid and Pebble created exactly one order per certificate.
    @Test func killedWorkersResumeWithoutASecondOrder() async throws {
        let world = try await World.make("acme-kill")
        let steps = ["orderCreated", "challengesPresented", "challengesAccepted", "orderReady", "finalized", "certificateReady"]
        let certificates = 6
        do {
            try world.startScheduler()
            try await world.startChallengeReplica()
            try await world.application().test(.live) { client in
                var uuids: [String] = []
                for index in 0..<certificates {
                    let names = [Self.domain("kill\(index)"), Self.domain("kill\(index)b")]
                    uuids.append(try await Self.issue(client, world, #"{"domains":["\#(names.joined(separator: #"",""#))"]}"#).uuid)
                }
                var worker = try world.startWorker(lease: 8, concurrency: 1)
                var kills: [String] = []
                // A random step first; a fast machine may be past it everywhere, so then whichever
                // step a running job has reached (the kill count must not depend on the machine's speed).
                for _ in 0..<12 where kills.count < 5 {
                    let preferred = steps.randomElement()!
                    var step = try await Self.runningJobStep(world, among: [preferred], within: .seconds(10))
                    if step == nil { step = try await Self.runningJobStep(world, among: steps, within: .seconds(30)) }
                    guard let step else {
                        // Every job finished before enough kills landed (a fast machine): one more certificate.
                        let names = [Self.domain("kill\(uuids.count)"), Self.domain("kill\(uuids.count)b")]
                        uuids.append(try await Self.issue(client, world, #"{"domains":["\#(names.joined(separator: #"",""#))"]}"#).uuid)
                        continue
                    }
                    worker.signal(SIGKILL)
                    _ = worker.waitForExit()
                    kills.append(step)
                    worker = try world.startWorker(lease: 8, concurrency: 1)
                }
                #expect(kills.count >= 3, "kills landed at \(kills)")
                for uuid in uuids {
                    _ = try await Self.waitFor(client, world, uuid, seconds: 300, Self.state("valid"))
                }
                #expect(try world.pebble.ordersCreated() == uuids.count, "one order per certificate; processes: \(world.env.processStatus)")
            }
        } catch {
            await world.tearDown()
            throw error
        }
        await world.tearDown()
    }

    /// Waits up to LIMIT until a running job has saved a checkpoint at one of STEPS; returns that step.
    static func runningJobStep(_ world: World, among steps: [String], within limit: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let running = try await world.env.db.query(
                """
                SELECT checkpoint->>'step' AS step FROM jobs WHERE state = 'running' AND checkpoint->>'step' = ANY(\(steps)::text[]) LIMIT 1
                """)
            if let step = try running.first?.decode(String.self, "step") { return step }
            try await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}
