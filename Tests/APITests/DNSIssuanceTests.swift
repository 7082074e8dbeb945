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

/// dns-01 against real DNS: a private BIND or Knot serves the zone, a private Pebble resolves
/// through it (`-dnsserver`), real worker processes write the records through the project's DNS
/// providers (RFC 2136 + TSIG, exec and httpreq hooks), and the tests read the zone with dig.
@Suite struct DNSIssuanceTests {
    struct World {
        let env: APIEnvironment
        let dns: PrivateAuthoritativeDNS
        let pebble: PrivatePebble
        let key: String
        /// CERTFLEET_DNS_EXEC_DIR: the hook scripts exec providers may run.
        let hooks: URL

        static func with(
            _ kind: PrivateAuthoritativeDNS.Kind, zone: String, extraRecords: String = "", pebbleEnvironment: [String: String] = [:],
            _ body: (World) async throws -> Void
        ) async throws {
            let env = try await APIEnvironment()
            let dns: PrivateAuthoritativeDNS
            do { dns = try await PrivateAuthoritativeDNS.start(kind, zone: zone, extraRecords: extraRecords) } catch {
                await env.tearDown()
                throw error
            }
            let pebble: PrivatePebble
            do {
                pebble = try await PrivatePebble.start(
                    "dns-pebble", httpPort: TestStack.freePort(),
                    environment: pebbleEnvironment.merging(["CERTFLEET_PEBBLE_DNS_SERVER": dns.server]) { $1 })
            } catch {
                await dns.stop()
                await env.tearDown()
                throw error
            }
            let hooks = env.directory.appendingPathComponent("hooks")
            try FileManager.default.createDirectory(at: hooks, withIntermediateDirectories: true)
            for script in ["nsupdate-hook.sh", "raw-hook.sh", "failing-hook.sh", "hanging-hook.sh"] {
                try FileManager.default.copyItem(
                    at: TestStack.root.appendingPathComponent("Tests/Fixtures/dns/\(script)"),
                    to: hooks.appendingPathComponent(script))
            }
            let world = World(env: env, dns: dns, pebble: pebble, key: try await env.key(["certificates:read", "certificates:write"]), hooks: hooks)
            try await TestStack.using(world, tearDown: { await $0.tearDown() }, body)
        }

        var workerEnvironment: [String: String] {
            pebble.certfleetEnvironment.merging([
                "CERTFLEET_DNS_RESOLVER": dns.server, "CERTFLEET_DNS_EXEC_DIR": hooks.path, "CERTFLEET_ACME_BUDGET": "off",
                "CERTFLEET_DNS_HTTPREQ_ALLOWED": "http://127.0.0.1:",
                // Pebble's directory publishes no caaIdentities; this is the identity the CAA records name.
                "CERTFLEET_ACME_CAA_IDENTITIES": "pebble.test",
            ]) { $1 }
        }

        @discardableResult
        func startWorker(lease: Int = 60) throws -> ChildProcess {
            let services = env.services
            return try services.start(
                ["worker", "--lease", String(lease), "--concurrency", "2"],
                log: env.directory.appendingPathComponent("worker-\(services.processes.count).log"),
                environment: workerEnvironment)
        }

        func startScheduler() throws {
            try env.services.start(["scheduler", "--reap-interval", "1"], log: env.directory.appendingPathComponent("scheduler.log"))
        }

        var settings: ACMESettings {
            var settings = ACMESettings(
                defaultDirectoryURL: pebble.directoryURL, trustedCAFile: pebble.caFile, budgetEnabled: false,
                domainPolicy: .off)
            settings.dnsResolver = dns.server
            settings.dnsExecDirectory = hooks.path
            settings.dnsHTTPAllowed = ["http://127.0.0.1:"]
            settings.caaIdentities = ["pebble.test"]
            return settings
        }

        func application() -> some ApplicationProtocol {
            buildApplication(
                configuration: APIConfiguration(port: 0, readRate: 0, writeRate: 0),
                dependencies: APIDependencies(
                    db: env.db, sealer: env.sealer, amqp: env.amqp, topology: env.topology,
                    logger: .init(label: "test.api"), acme: settings))
        }

        /// The rfc2136 provider body for this world's server (TSIG from the server's config).
        func rfc2136(_ name: String, zones: [String], secret: String? = nil, keyName: String? = nil) -> String {
            JSONValue.object([
                ("name", .string(name)), ("kind", .string("rfc2136")), ("zones", .strings(zones)),
                (
                    "config",
                    .object([
                        ("primary", .string(dns.server)), ("tsig_key_name", .string(keyName ?? dns.keyName)),
                        ("tsig_algorithm", .string(dns.algorithm)), ("timeout_seconds", .int(2)),
                        ("propagation", .object([("nameserver_port", .int(dns.port)), ("timeout_seconds", .int(20))])),
                    ])
                ),
                ("secret", .object([("tsig_secret", .string(secret ?? dns.secret))])),
            ]).serialized()
        }

        func tearDown() async {
            await env.tearDown()
            await pebble.stop()
            await dns.stop()
        }
    }

    /// Starts one of the Python fixture servers (Tests/Fixtures/dns) on PORT; killed by the caller.
    static func fixtureServer(_ script: String, _ arguments: [String], port: Int, world: World) async throws -> ChildProcess {
        let server = try ChildProcess(
            "/usr/bin/python3", [TestStack.root.appendingPathComponent("Tests/Fixtures/dns/\(script)").path] + arguments,
            environment: [:], output: world.env.directory.appendingPathComponent("\(script).log").path)
        for _ in 0..<100 where !TestStack.isListening(port: port) { try await Task.sleep(for: .milliseconds(100)) }
        return server
    }

    static func zone(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(6).lowercased()).certfleet-test.com" }

    static func addProvider(_ client: some TestClientProtocol, _ world: World, _ body: String) async throws {
        let answer = try await client.call(.post, "/v1/dns/providers", key: world.key, body: body)
        #expect(answer.status == .created, "\(answer.text)")
    }

    static func issueAndSettle(_ client: some TestClientProtocol, _ world: World, _ body: String, state: String) async throws -> (JSONValue, String) {
        let issued = try await ACMEIssuanceTests.issue(client, ACMEIssuanceTests.World(env: world.env, pebble: world.pebble, key: world.key), body)
        let item = try await ACMEIssuanceTests.poll(client, key: world.key, issued.uuid, environment: world.env, seconds: 180) {
            $0["state"]?.stringValue == state
        }
        return (item, issued.uuid)
    }

    /// `*.zone` + `zone` through RFC 2136 on BIND and on Knot: valid, the challenges show
    /// what the authoritative server answered, and no TXT value is left in the zone.
    @Test(arguments: PrivateAuthoritativeDNS.Kind.allCases)
    func wildcardThroughRFC2136(kind: PrivateAuthoritativeDNS.Kind) async throws {
        let zone = Self.zone(kind.rawValue)
        try await World.with(kind, zone: zone) { world in
            try world.startWorker()
            try await world.application().test(.live) { client in
                try await Self.addProvider(client, world, world.rfc2136("auth", zones: [zone]))
                // The secret is never shown again.
                let listed = try await client.call(.get, "/v1/dns/providers", key: world.key)
                #expect(!listed.text.contains(world.dns.secret) && listed.text.contains("\"has_secret\":true"), "\(listed.text)")
                let started = ContinuousClock.now
                let (item, uuid) = try await Self.issueAndSettle(
                    client, world, #"{"domains":["*.\#(zone)","\#(zone)"],"challenge":"dns-01"}"#, state: "valid")
                let elapsed = ContinuousClock.now - started
                print("dns-01 via rfc2136/\(kind.rawValue): wildcard certificate valid in \(elapsed)")
                #expect(item["sans"]?.arrayValue.compactMap(\.stringValue).sorted() == ["*.\(zone)", zone].sorted(), "\(item)")
                let challenges = try await client.call(.get, "/v1/certificates/\(uuid)/challenges", key: world.key)
                let written = (challenges.json?["data"]?["challenges"]?.arrayValue ?? []).filter { $0["provider"]?.stringValue == "auth" }
                #expect(written.count == 2, "\(challenges.text)")
                for record in written {
                    #expect(record["record_state"]?.stringValue == "removed", "\(record)")
                    let trace = record["propagation"]?.arrayValue ?? []
                    #expect(
                        trace.count == 1 && trace[0]["server"]?.stringValue == "127.0.0.1:\(world.dns.port)"
                            && trace[0]["role"]?.stringValue == "authoritative" && trace[0]["visible"] == .bool(true), "\(record)")
                }
                #expect(try await world.dns.digTXT("_acme-challenge.\(zone)").isEmpty)
                #expect(try world.pebble.ordersCreated() == 1)
            }
        }
    }

    /// The same through a lego-compatible exec hook (nsupdate inside) and an httpreq endpoint.
    @Test func wildcardThroughExecAndHTTPReqHooks() async throws {
        let zone = Self.zone("hooks")
        try await World.with(.bind9, zone: zone) { world in
            try world.startWorker()
            let httpPort = TestStack.freePort()
            let tsig = "\(world.dns.algorithm):\(world.dns.keyName):\(world.dns.secret)"
            let server = try await Self.fixtureServer(
                "httpreq_server.py", [String(httpPort), "lego", "hook-password", String(world.dns.port), tsig],
                port: httpPort, world: world)
            defer { server.signal(SIGKILL); _ = server.waitForExit() }
            try await world.application().test(.live) { client in
                let propagation: JSONValue = .object([("nameserver_port", .int(world.dns.port)), ("timeout_seconds", .int(20))])
                try await Self.addProvider(
                    client, world,
                    JSONValue.object([
                        ("name", .string("exec")), ("kind", .string("exec")),
                        (
                            "config",
                            .object([
                                ("command", .string(world.hooks.appendingPathComponent("nsupdate-hook.sh").path)),
                                ("propagation", propagation),
                            ])
                        ),
                        ("secret", .object([("env", .object([("HOOK_DNS_PORT", .string(String(world.dns.port))), ("HOOK_TSIG", .string(tsig))]))])),
                    ]).serialized())
                try await Self.addProvider(
                    client, world,
                    JSONValue.object([
                        ("name", .string("exec-raw")), ("kind", .string("exec")),
                        (
                            "config",
                            .object([
                                ("command", .string(world.hooks.appendingPathComponent("raw-hook.sh").path)), ("mode", .string("raw")),
                                ("propagation", propagation),
                            ])
                        ),
                        ("secret", .object([("env", .object([("HOOK_DNS_PORT", .string(String(world.dns.port))), ("HOOK_TSIG", .string(tsig))]))])),
                    ]).serialized())
                for (name, mode) in [("httpreq", "default"), ("httpreq-raw", "raw")] {
                    try await Self.addProvider(
                        client, world,
                        JSONValue.object([
                            ("name", .string(name)), ("kind", .string("httpreq")),
                            (
                                "config",
                                .object([
                                    ("endpoint", .string("http://127.0.0.1:\(httpPort)")), ("username", .string("lego")),
                                    ("mode", .string(mode)), ("propagation", propagation),
                                ])
                            ),
                            ("secret", .object([("password", .string("hook-password"))])),
                        ]).serialized())
                }
                // A hook outside CERTFLEET_DNS_EXEC_DIR is refused when the provider is made.
                let outside = try await client.call(
                    .post, "/v1/dns/providers", key: world.key,
                    body: JSONValue.object([
                        ("name", .string("outside")), ("kind", .string("exec")), ("config", .object([("command", .string("/bin/sh"))])),
                    ]).serialized())
                #expect(outside.status == .unprocessableContent && outside.errorCode == "invalid_dns_provider", "\(outside.text)")
                for provider in ["exec", "exec-raw", "httpreq", "httpreq-raw"] {
                    let (item, _) = try await Self.issueAndSettle(
                        client, world, #"{"domains":["*.\#(zone)","\#(zone)"],"challenge":"dns-01","dns_provider":"\#(provider)"}"#, state: "valid")
                    #expect(item["state"]?.stringValue == "valid")
                    #expect(try await world.dns.digTXT("_acme-challenge.\(zone)").isEmpty, "\(provider) left a record")
                }
                // The test action writes, sees and removes a record.
                let tested = try await client.call(.post, "/v1/dns/providers/httpreq/test", key: world.key, body: #"{"zone":"\#(zone)"}"#)
                #expect(tested.json?["data"]?["ok"] == .bool(true), "\(tested.text)")
                #expect(!tested.text.contains("hook-password"))
            }
        }
    }

    /// Wrong TSIG key, a failing hook (garbage + its secret on stderr), a hanging hook, a CNAME loop,
    /// a zone map that matches nothing: each ends the job with its code, before or without an order
    /// where possible, and no secret in the error.
    @Test func badSetupsEndWithStableCodes() async throws {
        let zone = Self.zone("bad")
        let extra = "_acme-challenge.loop IN CNAME a.loop\na.loop IN CNAME _acme-challenge.loop"
        try await World.with(.bind9, zone: zone, extraRecords: extra) { world in
            try world.startWorker()
            try await world.application().test(.live) { client in
                let wrongSecret = Data(repeating: 9, count: 32).base64EncodedString()
                try await Self.addProvider(client, world, world.rfc2136("wrong-key", zones: [], secret: wrongSecret))
                try await Self.addProvider(client, world, world.rfc2136("unknown-key", zones: [], keyName: "nobody"))
                try await Self.addProvider(client, world, world.rfc2136("good", zones: ["loop.\(zone)"]))
                try await Self.addProvider(
                    client, world,
                    JSONValue.object([
                        ("name", .string("failing")), ("kind", .string("exec")),
                        ("config", .object([("command", .string(world.hooks.appendingPathComponent("failing-hook.sh").path))])),
                        ("secret", .object([("env", .object([("HOOK_SECRET_TOKEN", .string("s3cr3t-hook-token"))]))])),
                    ]).serialized())
                try await Self.addProvider(
                    client, world,
                    JSONValue.object([
                        ("name", .string("hanging")), ("kind", .string("exec")),
                        (
                            "config",
                            .object([("command", .string(world.hooks.appendingPathComponent("hanging-hook.sh").path)), ("timeout_seconds", .int(2))])
                        ),
                    ]).serialized())
                let cases: [(String, String)] = [
                    (#""dns_provider":"wrong-key""#, "preflight_provider"), (#""dns_provider":"unknown-key""#, "preflight_provider"),
                    (#""dns_provider":"failing""#, "dns_hook_exit"), (#""dns_provider":"hanging""#, "dns_hook_timeout"),
                ]
                for (field, code) in cases {
                    let started = ContinuousClock.now
                    let (item, _) = try await Self.issueAndSettle(
                        client, world, #"{"domains":["\#(zone)"],"challenge":"dns-01",\#(field)}"#, state: "error")
                    #expect(item["error"]?["code"]?.stringValue == code, "\(field): \(item)")
                    let message = item["error"]?["message"]?.stringValue ?? ""
                    #expect(
                        !message.contains(wrongSecret) && !message.contains(world.dns.secret) && !message.contains("s3cr3t-hook-token"), "\(message)")
                    if code.hasPrefix("preflight") { #expect(message.contains("BADSIG") || message.contains("BADKEY"), "\(message)") }
                    if code == "dns_hook_exit" { #expect(message.contains("exited 7") && message.contains("garbage"), "\(message)") }
                    #expect(ContinuousClock.now - started < .seconds(60))
                }
                // The CNAME loop at _acme-challenge.loop.<zone>; then a name no provider's zone covers.
                let (looped, _) = try await Self.issueAndSettle(client, world, #"{"domains":["loop.\#(zone)"],"challenge":"dns-01"}"#, state: "error")
                #expect(
                    looped["error"]?["code"]?.stringValue == "preflight_provider" || looped["error"]?["code"]?.stringValue == "dns_cname_loop",
                    "\(looped)")
                #expect(looped["error"]?["message"]?.stringValue?.contains("dns_cname_loop") == true, "\(looped)")
                let (unmapped, _) = try await Self.issueAndSettle(
                    client, world, #"{"domains":["elsewhere.\#(zone)"],"challenge":"dns-01"}"#, state: "error")
                #expect(unmapped["error"]?["code"]?.stringValue == "dns_zone_unmapped", "\(unmapped)")
                // Only the hook jobs reached the CA (the provider failed after the order): preflight failures ordered nothing.
                let orders = try world.pebble.ordersCreated()
                #expect(orders == 2, "orders: \(orders)")
                // No secret in any process log, event or job error of this world.
                for file in world.env.logFiles where !file.hasDirectoryPath {
                    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                    for secret in [wrongSecret, world.dns.secret, "s3cr3t-hook-token"] {
                        #expect(!text.contains(secret), "\(file.lastPathComponent) holds a secret")
                    }
                }
                let stored = try await world.env.db.query("SELECT coalesce(string_agg(errors::text, ' '), '') AS e FROM jobs")
                let errors = try stored.first?.decode(String.self, "e") ?? ""
                #expect(!errors.isEmpty && !errors.contains(world.dns.secret) && !errors.contains("s3cr3t-hook-token"))
            }
        }
    }

    /// A CAA record that admits no CA: the job ends `preflight_caa` and Pebble never sees an order;
    /// `POST /v1/certificates/preflight` reports the same without issuing. A CNAME-delegated name is issued.
    @Test func caaPreflightAndCNAMEDelegation() async throws {
        let zone = Self.zone("caa")
        let extra = """
            forbidden IN CAA 0 issue ";"
            wild IN CAA 0 issue "pebble.test"
            wild IN CAA 0 issuewild "other-ca.example"
            _acme-challenge.delegated IN CNAME challenges.target
            """
        try await World.with(.bind9, zone: zone, extraRecords: extra) { world in
            try world.startWorker()
            try await world.application().test(.live) { client in
                try await Self.addProvider(client, world, world.rfc2136("auth", zones: [zone]))
                let (forbidden, _) = try await Self.issueAndSettle(
                    client, world, #"{"domains":["forbidden.\#(zone)"],"challenge":"dns-01"}"#, state: "error")
                #expect(forbidden["error"]?["code"]?.stringValue == "preflight_caa", "\(forbidden)")
                #expect(try world.pebble.ordersCreated() == 0)
                let report = try await client.call(
                    .post, "/v1/certificates/preflight", key: world.key,
                    body: #"{"domains":["*.wild.\#(zone)","wild.\#(zone)"],"challenge":"dns-01"}"#)
                #expect(report.json?["data"]?["error"]?["code"]?.stringValue == "preflight_caa", "\(report.text)")
                let missing = try await client.call(
                    .post, "/v1/certificates/preflight", key: world.key,
                    body: #"{"domains":["missing.\#(zone)"],"challenge":"http-01"}"#)
                #expect(missing.json?["data"]?["error"]?["code"]?.stringValue == "preflight_nxdomain", "\(missing.text)")
                let ok = try await client.call(
                    .post, "/v1/certificates/preflight", key: world.key,
                    body: #"{"domains":["delegated.\#(zone)"],"challenge":"dns-01"}"#)
                #expect(ok.json?["data"]?["ok"] == .bool(true), "\(ok.text)")
                let (delegated, uuid) = try await Self.issueAndSettle(
                    client, world, #"{"domains":["delegated.\#(zone)"],"challenge":"dns-01"}"#, state: "valid")
                #expect(delegated["state"]?.stringValue == "valid")
                let challenges = try await client.call(.get, "/v1/certificates/\(uuid)/challenges", key: world.key)
                #expect(challenges.text.contains("challenges.target.\(zone)."), "\(challenges.text)")
                #expect(try world.pebble.ordersCreated() == 1)
            }
        }
    }

    /// acme-dns: the provider registers at creation and shows the CNAME to create; once the user
    /// created it, a wildcard is issued through `/update`. acme-dns is not packaged for Debian: the
    /// server here is a minimal compatible responder (Tests/Fixtures/dns/acmedns_server.py) writing into BIND.
    @Test func wildcardThroughACMEDNS() async throws {
        let zone = Self.zone("acmedns")
        try await World.with(.bind9, zone: zone) { world in
            try world.startWorker()
            let port = TestStack.freePort()
            let tsig = "\(world.dns.algorithm):\(world.dns.keyName):\(world.dns.secret)"
            let server = try await Self.fixtureServer(
                "acmedns_server.py", [String(port), zone, String(world.dns.port), tsig], port: port, world: world)
            defer { server.signal(SIGKILL); _ = server.waitForExit() }
            try await world.application().test(.live) { client in
                let created = try await client.call(
                    .post, "/v1/dns/providers", key: world.key,
                    body: JSONValue.object([
                        ("name", .string("acme-dns")), ("kind", .string("acme-dns")), ("zones", .strings([zone])),
                        (
                            "config",
                            .object([
                                ("server_url", .string("http://127.0.0.1:\(port)")),
                                ("propagation", .object([("nameserver_port", .int(world.dns.port))])),
                            ])
                        ),
                    ]).serialized())
                #expect(created.status == .created, "\(created.text)")
                let item = created.json?["data"]?["dns_providers"]?.arrayValue.first
                let target = try #require(item?["cname_target"]?.stringValue)
                #expect(item?["instructions"]?.stringValue?.contains("CNAME \(target)") == true)
                #expect(!created.text.contains("password"), "\(created.text)")
                // What the user does once: delegate _acme-challenge to the acme-dns name.
                try await world.dns.nsupdate(["update add _acme-challenge.\(zone). 60 CNAME \(target)."])
                let (issued, uuid) = try await Self.issueAndSettle(
                    client, world, #"{"domains":["*.\#(zone)","\#(zone)"],"challenge":"dns-01"}"#, state: "valid")
                #expect(issued["state"]?.stringValue == "valid")
                let challenges = try await client.call(.get, "/v1/certificates/\(uuid)/challenges", key: world.key)
                #expect(challenges.text.contains(target), "the records were checked at the delegated name: \(challenges.text)")
            }
        }
    }

    /// Issuance time per wildcard certificate, CertFleet (API request → valid, through a worker) vs
    /// `lego --dns rfc2136` (process start → certificate) against the same BIND and Pebble in the same
    /// run, 3 each, medians printed. lego cannot ask nameservers on a port other than 53, so its
    /// propagation check is off (`--dns.disable-cp`) while CertFleet asks the authoritative server.
    @Test func issuanceTimeVersusLego() async throws {
        let zone = Self.zone("bench")
        try await World.with(.bind9, zone: zone) { world in
            try world.startWorker()
            var lego: [Duration] = []
            let ours = try await world.application().test(.live) { client -> [Duration] in
                var ours: [Duration] = []
                try await Self.addProvider(client, world, world.rfc2136("auth", zones: [zone]))
                for index in 0..<3 {
                    let name = "c\(index).\(zone)"
                    let started = ContinuousClock.now
                    _ = try await Self.issueAndSettle(client, world, #"{"domains":["*.\#(name)","\#(name)"],"challenge":"dns-01"}"#, state: "valid")
                    ours.append(ContinuousClock.now - started)
                }
                return ours
            }
            let environment = [
                "RFC2136_NAMESERVER": world.dns.server, "RFC2136_TSIG_KEY": world.dns.keyName + ".", "RFC2136_TSIG_SECRET": world.dns.secret,
                "RFC2136_TSIG_ALGORITHM": world.dns.algorithm + ".", "RFC2136_PROPAGATION_TIMEOUT": "30", "RFC2136_POLLING_INTERVAL": "1",
                // Both authorizations share one record name; lego's default waits 60 s between them.
                "RFC2136_SEQUENCE_INTERVAL": "1", "LEGO_CA_CERTIFICATES": world.pebble.caFile, "PATH": "/usr/bin:/bin",
            ]
            for index in 0..<3 {
                let name = "l\(index).\(zone)"
                let started = ContinuousClock.now
                try await TestStack.run(
                    "/usr/bin/lego",
                    [
                        "--server", world.pebble.directoryURL, "--accept-tos", "--email", "bench@example.com",
                        "--path", world.env.directory.appendingPathComponent("lego").path, "--dns", "rfc2136",
                        "--dns.resolvers", world.dns.server, "--dns.disable-cp", "--domains", "*.\(name)", "--domains", name, "run",
                    ], environment: environment)
                lego.append(ContinuousClock.now - started)
            }
            func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }
            print(
                "issuance time per wildcard certificate (nproc \(ProcessInfo.processInfo.activeProcessorCount)): "
                    + "certfleet rfc2136 median \(median(ours)) \(ours), lego --dns rfc2136 median \(median(lego)) \(lego)")
            #expect(try world.pebble.ordersCreated() == 6)
            let leftOver = try await world.dns.digTXT("_acme-challenge.c0.\(zone)") + world.dns.digTXT("_acme-challenge.l0.\(zone)")
            #expect(leftOver.isEmpty)
        }
    }

    /// SIGKILL of the worker while the records are in the zone (Pebble's VA sleeps before it
    /// validates): another worker resumes from the checkpoint, the certificate is issued once and
    /// the resumed job removes the records, so none is left.
    @Test func killBetweenPresentAndCleanupLeavesNoOrphan() async throws {
        let zone = Self.zone("kill")
        try await World.with(.bind9, zone: zone, pebbleEnvironment: ["PEBBLE_VA_NOSLEEP": "0", "PEBBLE_VA_SLEEPTIME": "6"]) { world in
            try world.startScheduler()
            let worker = try world.startWorker(lease: 5)
            try await world.application().test(.live) { client in
                try await Self.addProvider(client, world, world.rfc2136("auth", zones: [zone]))
                let acme = ACMEIssuanceTests.World(env: world.env, pebble: world.pebble, key: world.key)
                // Pebble's VA sleeps 0-5 s (at random) per challenge: when both draw 0 the job can
                // pass the window unseen, and then the next name tries again.
                var names: [String] = [], uuids: [String] = []
                var presentAtKill = 0
                for attempt in 0..<3 where presentAtKill < 2 {
                    let name = attempt == 0 ? zone : "again\(attempt).\(zone)"
                    names.append(name)
                    uuids.append(try await ACMEIssuanceTests.issue(client, acme, #"{"domains":["*.\#(name)","\#(name)"],"challenge":"dns-01"}"#).uuid)
                    // Both values written and the CA asked to validate.
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        let rows = try await world.env.db.query(
                            """
                            SELECT (SELECT count(*) FROM dns_challenge_records r JOIN jobs j ON j.id = r.job_id
                                    WHERE r.state = 'present' AND j.state = 'running' AND j.checkpoint->>'step' = 'challengesAccepted') AS n,
                                   (SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')) AS unfinished
                            """)
                        presentAtKill = try rows.first?.decode(Int.self, "n") ?? 0
                        let unfinished = try rows.first?.decode(Int.self, "unfinished")
                        if presentAtKill == 2 || unfinished == 0 { break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                worker.signal(SIGKILL)
                _ = worker.waitForExit()
                #expect(presentAtKill == 2, "the kill did not land between present and cleanup (\(names.count) names tried)")
                #expect(try await world.dns.digTXT("_acme-challenge.\(names.last!)").count == 2, "the records are in the zone while no worker runs")
                try world.startWorker(lease: 5)
                for uuid in uuids {
                    _ = try await ACMEIssuanceTests.poll(client, key: world.key, uuid, environment: world.env, seconds: 180) {
                        $0["state"]?.stringValue == "valid"
                    }
                }
                for name in names {
                    #expect(try await world.dns.digTXT("_acme-challenge.\(name)").isEmpty, "orphaned TXT records of \(name)")
                }
                let left = try await world.env.db.query("SELECT count(*) AS n FROM dns_challenge_records WHERE state <> 'removed'")
                #expect(try left.first?.decode(Int.self, "n") == 0)
                #expect(try world.pebble.ordersCreated() == uuids.count)
            }
        }
    }
}
