import Foundation
import TestSupport
import Testing

/// The servers deliveries reach in a test: a private nginx (files + `nginx -s reload`) and a
/// private HAProxy (runtime API), both started through deploy/local/ctl on free ports, and
/// a webhook receiver (Tests/Fixtures/delivery/webhook_receiver.py) that checks signatures.
struct DeliveryEdge: Sendable {
    let directory: URL
    let environment: [String: String]
    /// The files target's directory; nginx reads `<filesRoot>/<certificate name>/`.
    let filesRoot: String
    let nginxPort: Int
    let haproxyPort: Int

    var nginxReload: String {
        let conf = directory.appendingPathComponent("nginx/nginx.conf").path
        return "/usr/sbin/nginx -c \(conf) -e \(directory.appendingPathComponent("nginx/error.log").path) -s reload"
    }
    var haproxySocket: String { directory.appendingPathComponent("haproxy/admin.sock").path }
    var haproxyCertificate: String { directory.appendingPathComponent("haproxy/site.pem").path }

    /// Starts nginx serving `<filesRoot>/CERTIFICATENAME` and HAProxy, each with a placeholder certificate.
    static func start(_ name: String, certificateName: String) async throws -> DeliveryEdge {
        let directory = TestStack.privateStackDirectory(name)
        let filesRoot = directory.appendingPathComponent("files").path
        let nginxPort = TestStack.freePort(), haproxyPort = TestStack.freePort()
        let environment = [
            "CERTFLEET_STACK_DIR": directory.path, "CERTFLEET_NGINX_PORT": String(nginxPort),
            "CERTFLEET_NGINX_CERT_DIR": "\(filesRoot)/\(certificateName)", "CERTFLEET_HAPROXY_PORT": String(haproxyPort),
            // Named, not defaulted: `deploy/local/test` exports the shared stack's values.
            "CERTFLEET_HAPROXY_CERT": directory.appendingPathComponent("haproxy/site.pem").path,
        ]
        _ = try await TestStack.ctl(["start", "nginx", "haproxy"], environment: environment)
        return DeliveryEdge(directory: directory, environment: environment, filesRoot: filesRoot, nginxPort: nginxPort, haproxyPort: haproxyPort)
    }

    func stop() async {
        _ = try? await TestStack.ctl(["stop", "nginx", "haproxy"], environment: environment)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The serial of the certificate a TLS handshake with 127.0.0.1:PORT gets, upper-case hex.
    static func servedSerial(port: Int) throws -> String {
        let output = try TestStack.runWaiting(
            "/bin/sh",
            [
                "-c",
                "/usr/bin/openssl s_client -connect 127.0.0.1:\(port) -servername site.example </dev/null 2>/dev/null"
                    + " | /usr/bin/openssl x509 -noout -serial",
            ])
        return normalized(output.replacingOccurrences(of: "serial=", with: ""))
    }

    static func normalized(_ serial: String) -> String {
        var hex = serial.uppercased().filter { $0.isHexDigit }
        while hex.hasPrefix("0") && hex.count > 1 { hex.removeFirst() }
        return hex
    }

    /// Polls until PORT serves SERIAL (nginx applies a reload asynchronously); the last serial seen.
    static func waitForSerial(_ serial: String, port: Int, seconds: Int = 20) async throws -> String {
        let wanted = normalized(serial)
        var last = ""
        for _ in 0..<(seconds * 5) {
            last = (try? servedSerial(port: port)) ?? ""
            if last == wanted { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }
}

/// The webhook receiver process and its log (one JSON object per request).
struct WebhookReceiver: Sendable {
    let port: Int
    let secret: String
    let log: String
    let process: ChildProcess

    var url: String { "http://127.0.0.1:\(port)/hook" }

    static func start(in directory: URL, failFirst: Int = 0, gone: Bool = false) async throws -> WebhookReceiver {
        let port = TestStack.freePort(), secret = "whsec-\(UUID().uuidString)"
        let log = directory.appendingPathComponent("webhook-\(port).jsonl").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let script = TestStack.root.appendingPathComponent("Tests/Fixtures/delivery/webhook_receiver.py").path
        var arguments = [script, String(port), secret, log, "--fail-first", String(failFirst)]
        if gone { arguments.append("--gone") }
        let process = try ChildProcess("/usr/bin/python3", arguments, output: directory.appendingPathComponent("webhook-\(port).out").path)
        for _ in 0..<100 where !TestStack.isListening(port: port) { try await Task.sleep(for: .milliseconds(100)) }
        return WebhookReceiver(port: port, secret: secret, log: log, process: process)
    }

    struct Entry: Decodable {
        let id: String?
        let type: String?
        let version: Int?
        let serial: String?
        let valid: Bool
        let status: Int
        let duplicate: Bool
        let content_type: String?
        let has_key: Bool
    }

    var entries: [Entry] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Entry.self, from: Data($0.utf8)) }
    }

    func stop() {
        process.signal(SIGTERM)
        process.waitForExit()
    }
}
