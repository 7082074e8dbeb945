import API
import Foundation
import Store
import TestSupport
import Testing

/// Issue 19's metrics, from real processes: a `certfleet api` and a `certfleet worker
/// --metrics-port` issue through a private Pebble and validate an upload, then every metric the
/// Grafana dashboard and the alert rules of `deploy/observability/` name must be on one of their
/// live `/metrics`, and the per-certificate series must show both certificates as cert-manager would.
@Suite struct ObservabilityTests {
    /// Names Prometheus makes itself (scrape health), never on a `/metrics`.
    static let prometheusOwn: Set<String> = ["up"]

    @Test func everyMetricOfTheDashboardAndAlertsIsOnALiveMetricsEndpoint() async throws {
        try await ACMEIssuanceTests.World.with("observability") { world in
            let env = world.env
            let apiPort = TestStack.freePort(), workerPort = TestStack.freePort()
            try env.services.start(
                ["api", "--port", String(apiPort), "--acme-http-port", String(world.pebble.httpPort)],
                log: env.directory.appendingPathComponent("api.log"), environment: world.workerEnvironment)
            try env.services.start(
                ["worker", "--metrics-port", String(workerPort)], log: env.directory.appendingPathComponent("worker.log"),
                environment: world.workerEnvironment)
            let api = "http://127.0.0.1:\(apiPort)"
            #expect(await Self.eventually(seconds: 60) { await Self.get("\(api)/healthz") != nil }, "api: \(env.processStatus)")

            // A project whose name needs escaping in a label value.
            let oddProject = try await Projects.ensure(env.db, name: #"odd "quoted" \ project"#)
            let oddKey = try await env.key(["certificates:read", "certificates:write"], project: oddProject)
            let issued = try await Self.call(
                "POST", "\(api)/v1/certificates", key: world.key,
                body: #"{"name":"observed","domains":["\#(ACMEIssuanceTests.domain("observed"))"],"challenge":"http-01"}"#)
            let uploaded = try await Self.call("POST", "\(api)/v1/certificates", key: oddKey, body: APIFixtures.shared.body(name: "uploaded"))
            for (uuid, key) in [(Self.uuid(issued), world.key), (Self.uuid(uploaded), oddKey)] {
                #expect(
                    await Self.eventually(seconds: 240) {
                        Self.certificate(try await Self.call("GET", "\(api)/v1/certificates/\(uuid)", key: key))?["state"]?.stringValue == "valid"
                    }, "certificate \(uuid) did not become valid; \(env.processStatus)")
            }

            // The per-certificate series follow the changes (refreshed every few seconds).
            let ready =
                #"certfleet_certificate_ready_status{name="observed",project="test",issuer="\#(world.pebble.directoryURL)",condition="True"} 1"#
            let oddReady = #"certfleet_certificate_ready_status{name="uploaded",project="odd \"quoted\" \\ project","#
            #expect(
                await Self.eventually(seconds: 60) {
                    let text = await Self.get("\(api)/metrics") ?? ""
                    return text.contains(ready) && text.contains(oddReady)
                }, "the per-certificate series did not show both certificates")
            let apiText = try #require(await Self.get("\(api)/metrics"))
            let workerText = try #require(await Self.get("http://127.0.0.1:\(workerPort)/metrics"))
            for family in ["expiration", "not_before", "renewal"] {
                #expect(apiText.contains(#"certfleet_certificate_\#(family)_timestamp_seconds{name="observed",project="test","#), "\(family)")
            }
            #expect(apiText.contains(#"condition="False"} 0"#) && apiText.contains(#"condition="Unknown"} 0"#))
            #expect(!apiText.contains(#"certfleet_certificate_renewal_timestamp_seconds{name="uploaded","#), "CertFleet never renews uploads")
            // The whole exposition parses (promtool reports format errors; it also lints, which is not our concern here).
            let file = env.directory.appendingPathComponent("api-metrics.txt")
            try apiText.write(to: file, atomically: true, encoding: .utf8)
            let check = (try? await TestStack.run("/bin/sh", ["-c", "promtool check metrics < '\(file.path)' 2>&1 || true"])) ?? ""
            #expect(!check.contains("parsing error") && !check.contains("error while"), "promtool: \(check)")

            // Asked for gzip (as Prometheus asks), the same series come compressed: gzip checks the
            // stream's CRC-32 and length, which span segments compressed at different times.
            let compressed = env.directory.appendingPathComponent("metrics.gz")
            _ = try await TestStack.run("/usr/bin/curl", ["-fsS", "-H", "Accept-Encoding: gzip", "-o", compressed.path, "\(api)/metrics"])
            let unzipped = try await TestStack.run("/bin/gzip", ["-dc", compressed.path])
            func certificateLines(_ text: String) -> [Substring] {
                text.split(separator: "\n").filter { $0.hasPrefix("certfleet_certificate_") || $0.hasPrefix("# TYPE certfleet_certificate_") }
            }
            #expect(certificateLines(unzipped) == certificateLines(apiText) && certificateLines(unzipped).count >= 12, "\(unzipped)")
            #expect(unzipped.contains("certfleet_jobs{"))

            // The worker's ACME client metrics carry an action, never a URL.
            #expect(workerText.contains(#"action="new_order""#) && workerText.contains(#"action="finalize""#), "\(workerText)")
            #expect(!workerText.split(separator: "\n").contains { $0.hasPrefix("certfleet_acme_client") && $0.contains("/acme/") })
            #expect(workerText.contains(#"certfleet_acme_challenges_total{"#) && workerText.contains(#"status="valid""#))

            let live = Self.metricNames(apiText).union(Self.metricNames(workerText))
            let used = try Self.usedMetricNames()
            #expect(used.count > 20, "\(used)")
            let missing = used.subtracting(live).subtracting(Self.prometheusOwn).sorted()
            #expect(missing.isEmpty, "named by deploy/observability/ but on no live /metrics: \(missing)")

            // Later changes reach the series: a renamed project re-labels its certificates, a
            // deleted certificate's series go.
            try await env.db.query("UPDATE projects SET name = 'renamed' WHERE id = \(env.project)")
            _ = try await Self.call("DELETE", "\(api)/v1/certificates/\(Self.uuid(uploaded))", key: oddKey)
            #expect(
                await Self.eventually(seconds: 120) {
                    let text = await Self.get("\(api)/metrics") ?? ""
                    return text.contains(#"{name="observed",project="renamed","#) && !text.contains(#"{name="observed",project="test","#)
                        && !text.contains(#"{name="uploaded","#)
                }, "rename and delete did not reach the series; \(env.processStatus)")
        }
    }

    /// Every metric name in the dashboard's queries and the alert rules' expressions.
    static func usedMetricNames() throws -> Set<String> {
        let directory = TestStack.root.appendingPathComponent("deploy/observability")
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("certfleet-dashboard.json")))
        var expressions: [String] = []
        for panel in (dashboard as? [String: Any])?["panels"] as? [[String: Any]] ?? [] {
            for target in panel["targets"] as? [[String: Any]] ?? [] { expressions.append(target["expr"] as? String ?? "") }
        }
        let rules = try String(contentsOf: directory.appendingPathComponent("certfleet-alerts.yml"), encoding: .utf8)
        // The rules' `expr:` values: the line itself, or the indented block after `expr: |`.
        var inBlock = false
        for line in rules.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("expr:") {
                let rest = trimmed.dropFirst("expr:".count).trimmingCharacters(in: .whitespaces)
                inBlock = rest == "|"
                if !inBlock { expressions.append(rest) }
            } else if inBlock, line.hasPrefix("          ") {
                expressions.append(trimmed)
            } else {
                inBlock = false
            }
        }
        return Set(expressions.flatMap(promQLMetricNames))
    }

    /// The metric names in a PromQL expression: identifiers that are not functions, keywords,
    /// label names (inside braces or grouping lists) nor string contents.
    static func promQLMetricNames(_ expression: String) -> [String] {
        let keywords: Set<String> = [
            "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
            // aggregations, whose grouping may come before the parenthesis: `sum by (x) (…)`
            "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
        ]
        var names: [String] = []
        var braces = 0, parensAfterGrouping = 0, inString = false, token = ""
        var previousWord = ""
        let characters = Array(expression) + [" "]
        for (index, character) in characters.enumerated() {
            if inString {
                if character == "\"" { inString = false }
                continue
            }
            if character.isLetter || character.isNumber || character == "_" || character == ":" {
                token.append(character)
                continue
            }
            if !token.isEmpty {
                let next = characters[index...].first { $0 != " " }
                let isFunction = next == "("
                let isName = token.first!.isLetter || token.first == "_"
                if isName, braces == 0, parensAfterGrouping == 0, !isFunction, !keywords.contains(token) {
                    names.append(token)
                }
                previousWord = token
                token = ""
            }
            switch character {
            case "\"": inString = true
            case "{": braces += 1
            case "}": braces -= 1
            case "(" where ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(previousWord): parensAfterGrouping += 1
            case ")" where parensAfterGrouping > 0: parensAfterGrouping -= 1
            case "[": braces += 1 // a range: `[5m]`
            case "]": braces -= 1
            default: break
            }
            if character != " " { previousWord = character == "(" ? previousWord : "" }
        }
        return names
    }

    /// The sample names of a Prometheus text exposition.
    static func metricNames(_ text: String) -> Set<String> {
        Set(
            text.split(separator: "\n").compactMap { line -> String? in
                guard !line.hasPrefix("#"), let end = line.firstIndex(where: { $0 == "{" || $0 == " " }) else { return nil }
                return String(line[..<end])
            })
    }

    /// Polls CONDITION until it holds or SECONDS pass (generous: the machine is shared).
    static func eventually(seconds: Int, _ condition: () async throws -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    static func get(_ url: String) async -> String? {
        try? await TestStack.run("/usr/bin/curl", ["-fsS", "--max-time", "10", url])
    }

    static func call(_ method: String, _ url: String, key: String, body: String? = nil) async throws -> String {
        var arguments = ["-sS", "--max-time", "30", "-X", method, "-H", "Authorization: Bearer \(key)", url]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        return try await TestStack.run("/usr/bin/curl", arguments)
    }

    /// `data.certificates[0]` of an answer.
    static func certificate(_ answer: String) -> JSONValue? {
        (try? JSONValue.parse(answer))?["data"]?["certificates"]?.arrayValue.first
    }

    static func uuid(_ answer: String) -> String {
        guard let uuid = certificate(answer)?["uuid"]?.stringValue else {
            Issue.record("no certificate in \(answer)")
            return "-"
        }
        return uuid
    }
}

@Suite struct PromQLNamesTests {
    @Test func namesAreTakenFromExpressionsWithoutLabelsFunctionsOrStrings() {
        #expect(
            ObservabilityTests.promQLMetricNames(
                #"histogram_quantile(0.95, sum by (le, kind) (rate(certfleet_job_duration_seconds_bucket{kind=~"a|b"}[5m])))"#)
                == ["certfleet_job_duration_seconds_bucket"])
        #expect(
            ObservabilityTests.promQLMetricNames(
                "(min by (name) (a_seconds) - time() < 21 * 86400) unless on (name, project) (max by (name) (b_seconds) > time())")
                == ["a_seconds", "b_seconds"])
        #expect(ObservabilityTests.promQLMetricNames(#"absent(up{job="certfleet-worker"} == 1)"#) == ["up"])
        #expect(ObservabilityTests.promQLMetricNames("max(x) > 0 or sum(increase(y_total[15m])) > 0") == ["x", "y_total"])
    }
}
