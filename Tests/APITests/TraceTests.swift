import AMQP
import API
import Foundation
import Postgres
import ServiceTestSupport
import Store
import TestSupport
import Testing

/// One issuance is one trace: real `certfleet api` and `worker` processes export their spans
/// over OTLP/HTTP (`CERTFLEET_OTEL_ENDPOINT`) to a real receiver (deploy/local/otlp-receiver,
/// on PyPI's `opentelemetry-proto`), and the request's `traceparent` is the root of a chain
/// HTTP accept → job message → job → each ACME step against Pebble → commit → event message.
@Suite struct TraceTests {
    @Test(.timeLimit(.minutes(5))) func oneIssuanceIsOneTraceFromTheRequestToTheEvent() async throws {
        try await ACMEIssuanceTests.World.with("traces") { world in
            let env = world.env
            let receiver = try await OTLPReceiver.start(in: env.directory)
            defer { receiver.stop() }
            // Short export batches: the spans arrive while the test waits, not only at shutdown.
            let tracing = world.workerEnvironment.merging(["CERTFLEET_OTEL_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"]) {
                $1
            }
            let port = TestStack.freePort()
            try env.services.start(
                ["api", "--port", String(port), "--acme-http-port", String(world.pebble.httpPort), "--write-rate", "0", "--read-rate", "0"],
                log: env.directory.appendingPathComponent("api.log"), environment: tracing)
            try env.services.start(["worker"], log: env.directory.appendingPathComponent("worker.log"), environment: tracing)
            let api = HTTPCaller(base: "http://127.0.0.1:\(port)", key: world.key)
            try await api.waitUntilReady(env)

            // The caller's own trace: the API's span must continue it.
            let traceID = OTLPReceiver.randomHex(bytes: 16), callerSpan = OTLPReceiver.randomHex(bytes: 8)
            let name = ACMEIssuanceTests.domain("traced")
            let accepted = try await api.call(
                "POST", "/v1/certificates", body: #"{"domains":["\#(name)"],"challenge":"http-01"}"#,
                headers: ["traceparent": "00-\(traceID)-\(callerSpan)-01", "tracestate": "certfleet-test=1"])
            #expect(accepted.status == 202, "\(accepted.body)")
            let uuid = try #require(accepted.first?["uuid"]?.stringValue)
            try await api.waitFor(env, "certificate \(uuid) valid") {
                try await api.call("GET", "/v1/certificates/\(uuid)").body.contains(#""state":"valid""#)
            }
            // A malformed traceparent is ignored (a trace of its own), never a refused request.
            #expect(try await api.call("GET", "/v1/certificates/\(uuid)", headers: ["traceparent": "00-not-a-trace-01"]).status == 200)

            // Each process exports on its own schedule, a span when it ends: wait for the API's spans
            // and the worker's job span (it ends after everything under it).
            let trace = try await receiver.waitForTrace(traceID, env) { spans in
                spans.contains { $0.name == "job issue" } && spans.contains { $0.name == "publish certificate.issued" }
                    && spans.contains { $0.parentSpanID == callerSpan }
            }
            let tree = trace.tree()
            print("one issuance's trace (\(trace.spans.count) spans):\n\(tree)")
            try? tree.write(to: TestStack.root.appendingPathComponent(".stack/trace-tree.txt"), atomically: true, encoding: .utf8)

            // HTTP accept, under the caller's span.
            let accept = try #require(trace.spans.first { $0.parentSpanID == callerSpan }, "no span continues the caller's traceparent")
            #expect(accept.name == "POST /v1/certificates" && accept.kind == "server" && accept.service == "certfleet-api")
            // → the job message, published after the accept's commit.
            let publishJob = try #require(trace.children(of: accept).first { $0.name == "publish issue" })
            #expect(publishJob.kind == "producer")
            // → the worker's job, which claims, runs and commits.
            let job = try #require(trace.children(of: publishJob).first { $0.name == "job issue" })
            #expect(job.kind == "consumer" && job.service == "certfleet-worker")
            let steps = trace.children(of: job).map(\.name)
            #expect(steps.starts(with: ["job.claim", "job.run issue", "job.commit"]), "\(steps)")
            // → each ACME step, in order, inside the run.
            let run = try #require(trace.children(of: job).first { $0.name == "job.run issue" })
            let acme = trace.children(of: run).map(\.name).filter { $0.hasPrefix("acme.") }
            #expect(
                acme == [
                    "acme.new_order", "acme.present_challenges", "acme.accept_challenges", "acme.await_authorizations", "acme.finalize",
                    "acme.await_certificate", "acme.download_certificate",
                ], "\(acme)")
            // → the commit, whose event message continues the trace.
            let commit = try #require(trace.children(of: job).first { $0.name == "job.commit" })
            let event = try #require(trace.children(of: commit).first { $0.name == "publish certificate.issued" })
            #expect(event.kind == "producer")

            // The AMQP door: a request message's traceparent header is the parent of the same chain.
            let intakeTrace = OTLPReceiver.randomHex(bytes: 16), publisherSpan = OTLPReceiver.randomHex(bytes: 8)
            let upload = JSONValue.object([
                ("type", .string("upload")), ("chain", .string(APIFixtures.shared.chain)), ("pkey", .string(APIFixtures.shared.key)),
            ]).serialized()
            try await env.amqp.publish(
                AMQPMessage(
                    upload,
                    properties: AMQPProperties(
                        contentType: "application/json",
                        headers: ["authorization": .string("Bearer \(world.key)"), "traceparent": .string("00-\(intakeTrace)-\(publisherSpan)-01")],
                        messageID: "traced-upload")),
                exchange: env.topology.requestsExchange, routingKey: "certificates")
            let uploaded = try await receiver.waitForTrace(intakeTrace, env) { spans in
                spans.contains { $0.name == "job validate" } && spans.contains { $0.name.hasPrefix("publish certificate.") }
                    && spans.contains { $0.parentSpanID == publisherSpan }
            }
            print("an AMQP upload's trace:\n\(uploaded.tree())")
            let intake = try #require(uploaded.spans.first { $0.parentSpanID == publisherSpan })
            #expect(intake.name == "request intake" && intake.kind == "consumer" && intake.service == "certfleet-api")
            let publishValidate = try #require(uploaded.children(of: intake).first { $0.name == "publish validate" })
            let validate = try #require(uploaded.children(of: publishValidate).first { $0.name == "job validate" })
            let validateCommit = try #require(uploaded.children(of: validate).first { $0.name == "job.commit" })
            #expect(uploaded.children(of: validateCommit).contains { $0.name.hasPrefix("publish certificate.") })

            // A job message without trace context (written by an untraced process, like rows from
            // before traces) is handled as before and starts a trace of its own.
            let untraced = try await world.env.application().test(.router) { client in
                try await client.call(.post, "/v1/certificates", key: world.key, body: APIFixtures.shared.body(name: "untraced"))
            }
            let untracedID = try #require(untraced.first?["uuid"]?.stringValue, "\(untraced.text)")
            try await api.waitFor(env, "certificate \(untracedID) valid") {
                try await api.call("GET", "/v1/certificates/\(untracedID)").body.contains(#""state":"valid""#)
            }
            let root = try await receiver.waitForSpan(env) {
                $0.name == "job validate" && $0.attributes["certfleet.certificate_id"]?.stringValue == untracedID
            }
            #expect(root.parentSpanID == nil, "a job without trace context has no parent")

            // The worker's log lines of the job carry the trace's id; no log holds the API key.
            let workerLog = try String(contentsOf: env.directory.appendingPathComponent("worker.log"), encoding: .utf8)
            #expect(workerLog.components(separatedBy: "\n").contains { $0.contains("job committed") && $0.contains("trace_id=\(traceID)") })
            for log in ["api.log", "worker.log"] {
                #expect(try !String(contentsOf: env.directory.appendingPathComponent(log), encoding: .utf8).contains(world.key))
            }
        }
    }
}

extension TraceTests {
    /// Tracing is never in the data path: with the collector unreachable, requests and jobs
    /// work as before.
    @Test(.timeLimit(.minutes(3))) func anUnreachableCollectorChangesNothingButTheLog() async throws {
        try await APIEnvironment.with { env in
            let nobody = "http://127.0.0.1:\(TestStack.freePort())"
            let tracing = ["CERTFLEET_OTEL_ENDPOINT": nobody, "OTEL_BSP_SCHEDULE_DELAY": "200"]
            let port = TestStack.freePort()
            try env.services.start(["api", "--port", String(port)], log: env.directory.appendingPathComponent("api.log"), environment: tracing)
            try env.services.start(["worker"], log: env.directory.appendingPathComponent("worker.log"), environment: tracing)
            let api = HTTPCaller(base: "http://127.0.0.1:\(port)", key: try await env.key(["certificates:read", "certificates:write"]))
            try await api.waitUntilReady(env)
            let accepted = try await api.call(
                "POST", "/v1/certificates", body: APIFixtures.shared.body(name: "collector-down"),
                headers: ["traceparent": "00-\(OTLPReceiver.randomHex(bytes: 16))-\(OTLPReceiver.randomHex(bytes: 8))-01"])
            #expect(accepted.status == 202, "\(accepted.body)")
            let uuid = try #require(accepted.first?["uuid"]?.stringValue)
            try await api.waitFor(env, "certificate \(uuid) valid") {
                try await api.call("GET", "/v1/certificates/\(uuid)").body.contains(#""state":"valid""#)
            }
            let running = env.services.processes.allSatisfy { $0.isRunning }
            #expect(running, "\(env.processStatus)")
        }
    }
}

extension TraceTests {
    /// A row the API committed but never published (it died in between) is published by the
    /// scheduler's relay in the trace stored with the row: relay → job, across three processes.
    @Test(.timeLimit(.minutes(3))) func theRelayPublishesARowInTheTraceStoredWithIt() async throws {
        try await APIEnvironment.with { env in
            let receiver = try await OTLPReceiver.start(in: env.directory)
            defer { receiver.stop() }
            let tracing = ["CERTFLEET_OTEL_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"]
            let fixture = APIFixtures.shared
            let job = try await Submissions(db: env.db, sealer: env.sealer).upload(
                UploadRequest(
                    projectID: env.project, name: "relayed", commonName: "api.example.com", sans: ["api.example.com"],
                    chainPEM: fixture.chain, privateKeyPEM: fixture.key, actor: "test"))
            let outboxID = try #require(job.outbox?.id)
            // The context the API's request span would have stored with the row.
            let traceID = OTLPReceiver.randomHex(bytes: 16), requestSpan = OTLPReceiver.randomHex(bytes: 8)
            try await env.db.query(
                "UPDATE outbox SET headers = jsonb_build_object('traceparent', \("00-\(traceID)-\(requestSpan)-01")::text) WHERE id = \(outboxID)")
            try env.services.start(["worker"], log: env.directory.appendingPathComponent("worker.log"), environment: tracing)
            try env.services.start(["scheduler"], log: env.directory.appendingPathComponent("scheduler.log"), environment: tracing)

            // Each process exports on its own schedule: the worker's spans may arrive before the scheduler's.
            let trace = try await receiver.waitForTrace(traceID, env) { spans in
                spans.contains { $0.name == "job validate" } && spans.contains { $0.name == "job.commit" }
                    && spans.contains { $0.parentSpanID == requestSpan }
            }
            print("a relayed job's trace:\n\(trace.tree())")
            let relayed = try #require(trace.spans.first { $0.parentSpanID == requestSpan })
            #expect(relayed.name == "publish validate" && relayed.kind == "producer" && relayed.service == "certfleet-scheduler")
            let validate = try #require(trace.children(of: relayed).first)
            #expect(validate.name == "job validate" && validate.service == "certfleet-worker")
            #expect(trace.children(of: validate).map(\.name).starts(with: ["job.claim", "job.run validate", "job.commit"]))
        }
    }
}

/// deploy/local/otlp-receiver on a free port, appending the spans it receives to a file.
struct OTLPReceiver {
    let process: ChildProcess
    let port: Int
    let spansFile: URL

    var endpoint: String { "http://127.0.0.1:\(port)" }

    static func start(in directory: URL) async throws -> OTLPReceiver {
        let python = try await TestStack.toolsPython()
        let port = TestStack.freePort()
        let spans = directory.appendingPathComponent("spans.jsonl"), ready = directory.appendingPathComponent("receiver.ready")
        let process = try ChildProcess(
            python,
            [
                TestStack.root.appendingPathComponent("deploy/local/otlp-receiver").path, "--port", String(port), "--out", spans.path,
                "--ready", ready.path,
            ],
            output: directory.appendingPathComponent("receiver.log").path)
        let receiver = OTLPReceiver(process: process, port: port, spansFile: spans)
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: ready.path) {
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        guard FileManager.default.fileExists(atPath: ready.path) else {
            receiver.stop()
            let log = (try? String(contentsOf: directory.appendingPathComponent("receiver.log"), encoding: .utf8)) ?? ""
            throw ReceiverFailed(log: log)
        }
        return receiver
    }

    struct ReceiverFailed: Error { let log: String }

    func stop() {
        process.signal(SIGKILL)
        process.waitForExit()
    }

    /// Every span received so far.
    func spans() throws -> [ExportedSpan] {
        let text = (try? String(contentsOf: spansFile, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONDecoder().decode(ExportedSpan.self, from: Data($0.utf8)) }
    }

    /// The spans of TRACEID once COMPLETE says they are all there (exporters send in batches).
    func waitForTrace(_ traceID: String, _ env: APIEnvironment, complete: ([ExportedSpan]) -> Bool) async throws -> Trace {
        let deadline = ContinuousClock.now + .seconds(120)
        var spans: [ExportedSpan] = []
        while ContinuousClock.now < deadline {
            spans = try self.spans().filter { $0.traceID == traceID }
            if complete(spans) { return Trace(spans: spans) }
            try await Task.sleep(for: .milliseconds(300))
        }
        Issue.record("trace \(traceID) incomplete: \(spans.map(\.name)); processes: \(env.processStatus)")
        throw CancellationError()
    }

    /// The first span MATCHING, once it arrived.
    func waitForSpan(_ env: APIEnvironment, matching: (ExportedSpan) -> Bool) async throws -> ExportedSpan {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let span = try spans().first(where: matching) { return span }
            try await Task.sleep(for: .milliseconds(300))
        }
        Issue.record("no such span arrived; processes: \(env.processStatus)")
        throw CancellationError()
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 1...255)) }.joined()
    }
}

/// One span as the receiver writes it.
struct ExportedSpan: Decodable, Sendable {
    let traceID: String
    let spanID: String
    let parentSpanID: String?
    let name: String
    let kind: String
    let service: String?
    let start: UInt64
    let end: UInt64
    let attributes: [String: JSONValue]

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", spanID = "span_id", parentSpanID = "parent_span_id", name, kind, service, start, end, attributes
    }
}

/// The spans of one trace, as a tree.
struct Trace {
    let spans: [ExportedSpan]

    /// SPAN's children, earliest first.
    func children(of span: ExportedSpan) -> [ExportedSpan] {
        spans.filter { $0.parentSpanID == span.spanID }.sorted { $0.start < $1.start }
    }

    /// Indented, one span a line: name, process, kind and duration; roots are the spans whose
    /// parent is not in the trace (the caller's span).
    func tree() -> String {
        let ids = Set(spans.map(\.spanID))
        var lines: [String] = []
        func add(_ span: ExportedSpan, depth: Int) {
            let millis = Double(span.end &- span.start) / 1_000_000
            lines.append(
                String(repeating: "  ", count: depth) + "\(span.name)  [\(span.service ?? "?"), \(span.kind)] \(String(format: "%.1f", millis)) ms")
            for child in children(of: span) { add(child, depth: depth + 1) }
        }
        for root in spans.filter({ $0.parentSpanID.map { !ids.contains($0) } ?? true }).sorted(by: { $0.start < $1.start }) {
            add(root, depth: 0)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The real API process over HTTP (curl), with the test's key.
struct HTTPCaller {
    let base: String
    let key: String

    struct Reply {
        let status: Int
        let body: String
        /// `data.certificates[0]` of the success envelope.
        var first: JSONValue? { Answer(status: .init(code: status), headers: [:], text: body).first }
    }

    func call(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) async throws -> Reply {
        var arguments = ["-s", "-X", method, "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(key)"]
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let output = try await TestStack.run("/usr/bin/curl", arguments + [base + path])
        let status = output.split(separator: "\n").last.flatMap { Int($0) } ?? 0
        return Reply(status: status, body: String(output.dropLast(String(status).count + 1)))
    }

    func waitUntilReady(_ env: APIEnvironment) async throws {
        try await waitFor(env, "the API at \(base)") { (try? await call("GET", "/readyz").status) == 200 }
    }

    func waitFor(_ env: APIEnvironment, _ what: String, _ done: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await done() { return }
            try await Task.sleep(for: .milliseconds(300))
        }
        Issue.record("waited in vain for \(what); processes: \(env.processStatus)")
        throw CancellationError()
    }
}
