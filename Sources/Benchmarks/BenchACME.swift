import ACME
import ArgumentParser
import CertFleetOptions
import Foundation
import X509

/// `certfleet bench acme`: certificates per minute issued by the ACME client
/// (concurrency 1 and 8) next to `lego` (sequential, and 4 processes in
/// parallel), all against the same Pebble in one run, http-01 throughout.
/// Target: our concurrency-8 rate >= 1.5 x the 4-process lego rate.
struct BenchACME: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "acme", abstract: "Benchmark the ACME client against lego on Pebble.")

    @Option(help: "ACME directory (env CERTFLEET_ACME_DIRECTORY_URL).")
    var directoryURL: String?

    @Option(help: "CA file to trust for the ACME server (env CERTFLEET_ACME_CA_FILE).")
    var caFile: String?

    @Option(help: "Port the CA validates http-01 on (env CERTFLEET_ACME_HTTP_PORT).")
    var httpPort: Int?

    @Option(help: "Certificates per measurement of our client.")
    var certificates: Int = 40

    @Option(help: "Certificates lego issues, sequentially and across 4 processes.")
    var legoCertificates: Int = 20

    func run() async throws {
        let directory = directoryURL ?? Environment.string("CERTFLEET_ACME_DIRECTORY_URL") ?? "https://127.0.0.1:14000/dir"
        let ca = caFile ?? Environment.string("CERTFLEET_ACME_CA_FILE") ?? ".stack/pebble/tls/ca.pem"
        let port = httpPort ?? Environment.int("CERTFLEET_ACME_HTTP_PORT") ?? 5002
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("certfleet-bench-acme-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        print("ACME benchmark against \(directory), http-01 on port \(port), EC P-256 certificate keys")

        // Our client, then lego: only one of them may listen on the http-01 port at a time.
        let store = InMemoryHTTP01TokenStore()
        let responder = try await HTTP01Responder.start(port: port, store: store)
        let ours1 = try await ourRate(directory: directory, ca: ca, store: store, count: max(certificates / 2, 1), concurrency: 1)
        print(String(format: "certfleet ACME, concurrency 1: %6.1f certificates/min", ours1))
        let ours8 = try await ourRate(directory: directory, ca: ca, store: store, count: certificates, concurrency: 8)
        print(String(format: "certfleet ACME, concurrency 8: %6.1f certificates/min", ours8))
        await responder.stop()

        let legoSequential = try LegoBaseline.rate(directory: directory, ca: ca, port: port, work: work, processes: 1, certificates: legoCertificates)
        print(
            String(format: "lego, %d sequential:          %6.1f certificates/min (its own listener on :%d)", legoCertificates, legoSequential, port))
        let legoParallel = try await LegoBaseline.parallelRate(directory: directory, ca: ca, port: port, work: work, certificates: legoCertificates)
        print(String(format: "lego, 4 processes:             %6.1f certificates/min (--http.webroot)", legoParallel))

        print(String(format: "ratio concurrency 1 / lego sequential:  %.2f", ours1 / legoSequential))
        let ratio = ours8 / legoParallel
        print(String(format: "ratio concurrency 8 / lego 4 processes: %.2f (target >= 1.5: %@)", ratio, ratio >= 1.5 ? "met" : "NOT met"))
    }

    /// Certificates per minute for `count` issuances, `concurrency` at a time, one account.
    private func ourRate(directory: String, ca: String, store: InMemoryHTTP01TokenStore, count: Int, concurrency: Int) async throws -> Double {
        let client = try ACMEClient(
            configuration: ACMEConfiguration(directoryURL: directory, trustedCAFile: ca), accountKey: try PrivateKey.generate(.ecP256))
        defer { Task { await client.shutdown() } }
        try await client.register(contact: [], agreeToTermsOfService: true)
        let driver = IssuanceDriver(client: client, solvers: [HTTP01Solver(store: store)])
        let tag = UUID().uuidString.prefix(6).lowercased()
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let name = "bench-\(tag)-c\(concurrency)-\(next).certfleet-test.com"
                next += 1
                group.addTask {
                    let request = IssuanceRequest(identifiers: [name], certificateKey: try PrivateKey.generate(.ecP256))
                    // The worker persists each checkpoint in Postgres; this measures the ACME side alone.
                    _ = try await driver.run(request) { _ in }
                }
            }
            while next < min(concurrency, count) { add() }
            while try await group.next() != nil {
                if next < count { add() }
            }
        }
        return Double(count) / seconds(clock.now - start) * 60
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The `lego` baseline of the ACME benchmarks (bench acme, bench issue), http-01 on PORT.
enum LegoBaseline {
    /// Four lego processes at once. They cannot share the port: lego writes tokens into
    /// a webroot and our responder serves that directory (the file read is negligible).
    static func parallelRate(directory: String, ca: String, port: Int, work: URL, certificates: Int) async throws -> Double {
        let webroot = work.appendingPathComponent("webroot")
        try FileManager.default.createDirectory(
            at: webroot.appendingPathComponent(".well-known/acme-challenge"), withIntermediateDirectories: true)
        let fileResponder = try await HTTP01Responder.start(port: port, store: WebrootTokenStore(root: webroot))
        do {
            let rate = try rate(directory: directory, ca: ca, port: port, work: work, processes: 4, certificates: certificates, webroot: webroot)
            await fileResponder.stop()
            return rate
        } catch {
            await fileResponder.stop()
            throw error
        }
    }

    /// Certificates per minute of CERTIFICATES issued by PROCESSES lego processes
    /// (each running its share one after another, as a cron job would).
    static func rate(directory: String, ca: String, port: Int, work: URL, processes: Int, certificates: Int, webroot: URL? = nil) throws -> Double {
        let tag = UUID().uuidString.prefix(6).lowercased()
        let perProcess = certificates / processes
        var script = ""
        for process in 0..<processes {
            let path = work.appendingPathComponent("lego-\(processes)-\(process)").path
            var loop = "for i in $(seq 1 \(perProcess)); do lego --server '\(directory)' --accept-tos --email bench@certfleet-test.com"
            loop += " --path '\(path)' --key-type ec256 --domains bench-\(tag)-p\(processes)-\(process)-$i.certfleet-test.com --http"
            loop += webroot.map { " --http.webroot '\($0.path)'" } ?? " --http.port :\(port)"
            loop += " run >>'\(path).log' 2>&1 || exit 1; done"
            script += "(\(loop)) &\n"
        }
        script += "for job in $(jobs -p); do wait $job || exit 1; done\n"
        let start = Date()
        do {
            try runTool("bash", ["-c", script], environment: ["LEGO_CA_CERTIFICATES": ca])
        } catch {
            let logs = (0..<processes).compactMap {
                try? String(contentsOfFile: work.appendingPathComponent("lego-\(processes)-\($0).log").path, encoding: .utf8)
            }
            throw BenchFailure("lego failed: \(error)\n\(logs.joined(separator: "\n").suffix(2000))")
        }
        return Double(perProcess * processes) / Date().timeIntervalSince(start) * 60
    }
}

/// Serves the tokens lego writes with `--http.webroot`.
private struct WebrootTokenStore: HTTP01TokenStore {
    let root: URL

    func store(token: String, keyAuthorization: String) async throws {}

    func keyAuthorization(forToken token: String) async throws -> String? {
        // Tokens are base64url; anything else could walk out of the webroot.
        guard !token.isEmpty, token.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        let file = root.appendingPathComponent(".well-known/acme-challenge/\(token)")
        return try? String(contentsOf: file, encoding: .utf8)
    }

    func remove(token: String) async throws {}
}
