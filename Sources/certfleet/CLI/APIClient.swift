import API
import ArgumentParser
import AsyncHTTPClient
import CertFleetOptions
import Foundation
import NIOCore
import NIOHTTP1

/// What the CLI's exit status means (documented in README.md, "CLI").
enum CLIExit {
    /// The API refused the request (4xx): not found, bad input, missing scope, conflict.
    static let refused = ExitCode(2)
    /// The job (or the certificate it works on) ended in failure.
    static let jobFailed = ExitCode(3)
    /// `--wait` gave up before the job finished.
    static let timedOut = ExitCode(4)
    /// The API could not be reached, or answered 5xx.
    static let unavailable = ExitCode(5)
}

/// A failure the CLI reports on standard error before exiting with its code.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    let exit: ExitCode
    var description: String { message }
}

/// The options every API-talking subcommand shares.
struct APIClientOptions: ParsableArguments {
    @Option(name: .customLong("api-url"), help: "The API's base URL (env CERTFLEET_API_URL; default http://127.0.0.1:8080).")
    var url: String?

    @Flag(help: "Print the API's JSON instead of a table (for scripts).")
    var json = false

    var client: APIClient {
        get throws {
            guard let key = Environment.string("CERTFLEET_API_KEY") else {
                throw CLIError(message: "set CERTFLEET_API_KEY to an API key (cf_…)", exit: ExitCode(1))
            }
            return APIClient(base: url ?? Environment.string("CERTFLEET_API_URL") ?? "http://127.0.0.1:8080", key: key)
        }
    }
}

/// The HTTP API, through AsyncHTTPClient's shared client.
struct APIClient {
    let base: String
    let key: String

    /// One client for the process; a refused connection fails at once (AsyncHTTPClient would
    /// otherwise retry it until the request's deadline), so an API that is down is exit 5 now.
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    struct Answer {
        let status: Int
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSONValue { (try? JSONValue.parse(text)) ?? .null }
    }

    /// Sends the request; a 4xx or 5xx becomes a `CLIError` carrying the API's message.
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, json body: JSONValue? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: base.trimmingSuffix("/") + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "User-Agent", value: "certfleet-cli")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body.serialized()))
        }
        let answer: Answer
        do {
            let response = try await Self.http.execute(request, timeout: .seconds(60))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            answer = Answer(status: Int(response.status.code), body: Array(bytes.readableBytesView))
        } catch {
            throw CLIError(message: "cannot reach the API at \(base): \(error)", exit: CLIExit.unavailable)
        }
        guard answer.status < 400 else {
            let message = answer.json["message"]?.text ?? answer.text
            let code = answer.json["error"]?["code"]?.text.map { " (\($0))" } ?? ""
            throw CLIError(
                message: "\(method.rawValue) \(path): \(answer.status)\(code): \(message)",
                exit: answer.status >= 500 ? CLIExit.unavailable : CLIExit.refused)
        }
        return answer
    }

    /// `data.certificates[0]` of a Unikraft-shaped answer.
    func certificate(_ reference: String) async throws -> JSONValue {
        try await call(.GET, "/v1/certificates/\(reference.pathEscaped)").json["data"]?["certificates"]?.items.first ?? .null
    }

    /// Polls the job until it is terminal or TIMEOUT passes; prints a progress line on standard error.
    func waitForJob(_ id: String, timeout: Duration, quiet: Bool = false) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while true {
            let job = try await call(.GET, "/v1/jobs/\(id.pathEscaped)").json["data"]?["jobs"]?.items.first ?? .null
            let state = job["state"]?.text ?? "unknown"
            let line = "job \(id): \(job["kind"]?.text ?? "") \(state), attempt \(job["attempt"]?.number ?? 0)"
            if line != last && !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            last = line
            switch state {
            case "succeeded": return job
            case "failed", "cancelled":
                let error = job["error"]
                throw CLIError(
                    message: "job \(id) \(state): \(error?["code"]?.text ?? "") \(error?["message"]?.text ?? "")",
                    exit: CLIExit.jobFailed)
            default:
                guard ContinuousClock.now < deadline else {
                    throw CLIError(message: "job \(id) still \(state) after \(timeout)", exit: CLIExit.timedOut)
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }
}

extension JSONValue {
    /// The string, when this is one.
    var text: String? { if case .string(let s) = self { return s }; return nil }
    var number: Int? { if case .number(let n) = self { return Int(n) }; return nil }
    var items: [JSONValue] { if case .array(let a) = self { return a }; return [] }
    /// A cell of a table: strings as they are, anything else as JSON.
    var cell: String {
        switch self {
        case .string(let s): return s
        case .null: return "-"
        default: return serialized()
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }

    /// Escaped for one path segment.
    var pathEscaped: String {
        addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? self
    }
}

/// Output: a table for people, the API's JSON for scripts.
enum Output {
    static func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(headers))
        rows.forEach { print(line($0)) }
    }

    /// `key  value` lines, in order.
    static func fields(_ pairs: [(String, String)]) {
        let width = pairs.map(\.0.count).max() ?? 0
        for (key, value) in pairs { print(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value) }
    }

    static func json(_ value: JSONValue) { print(value.serialized()) }
}

/// Runs BODY, turning a `CLIError` into its message on standard error and its exit code.
func runCLI(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("certfleet: \(error.message)\n".utf8))
        throw error.exit
    }
}
