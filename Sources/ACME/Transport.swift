import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One HTTP response, body collected.
struct HTTPReply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var url: String

    func header(_ name: String) -> String? { headers.first(name: name) }

    /// `Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
    var retryAfterSeconds: Double? {
        guard let value = header("Retry-After")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let seconds = Double(value) { return max(0, seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return max(0, date.timeIntervalSinceNow)
    }

    /// The targets of `Link` headers with `rel="REL"` (RFC 8288), e.g. `alternate`, `up`, `index`.
    func links(rel: String) -> [String] {
        var result: [String] = []
        for value in headers["Link"] {
            // One header may hold several comma-separated links.
            for link in value.split(separator: ",") {
                let parts = link.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let target = parts.first, target.hasPrefix("<"), target.hasSuffix(">") else { continue }
                let matches = parts.dropFirst().contains { parameter in
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    return pair.count == 2 && pair[0].lowercased() == "rel"
                        && pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) == rel
                }
                if matches { result.append(String(target.dropFirst().dropLast())) }
            }
        }
        return result
    }

    /// The problem document in an error response, with `Retry-After` attached.
    var problem: ACMEProblem? {
        guard status >= 400, let problem = try? JSONDecoder().decode(ACMEProblem.self, from: Data(body)) else { return nil }
        var result = problem
        result.status = problem.status ?? status
        result.retryAfterSeconds = retryAfterSeconds
        return result
    }

    func decode<T: Decodable>(_ type: T.Type) throws(ACMEError) -> T {
        do { return try JSONDecoder().decode(type, from: Data(body)) } catch {
            throw .unexpectedResponse(status: status, url: url, reason: "cannot decode \(T.self): \(error)")
        }
    }

    /// Throws the problem document (or a generic error) unless the status is 2xx.
    func requireSuccess() throws(ACMEError) {
        guard (200..<300).contains(status) else {
            if let problem { throw .problem(problem) }
            throw .unexpectedResponse(status: status, url: url, reason: String(decoding: body.prefix(200), as: UTF8.self))
        }
    }
}

/// A thin layer over AsyncHTTPClient: GET, HEAD and JOSE POSTs with a deadline,
/// trusting an extra CA when configured (Pebble's self-made one).
final class HTTPTransport: Sendable {
    let client: HTTPClient
    let timeout: TimeAmount
    let userAgent: String
    let metrics: ACMERequestMetrics
    /// Responses larger than this are refused (a certificate chain is a few KB).
    static let maxBody = 1 << 20

    init(trustedCAFile: String?, timeout: Duration, userAgent: String, metrics: ACMERequestMetrics) throws(ACMEError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trustedCAFile {
            // Additional, not instead of, the system roots: the same client works for
            // a public CA too. The file is read once, here.
            do {
                tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(trustedCAFile))]
            } catch {
                throw .network("cannot read the trusted CA file \(trustedCAFile): \(error)")
            }
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)))
        configuration.httpVersion = .automatic
        // Concurrency 8 issuances must not queue behind each other's polls.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        self.userAgent = userAgent
        self.metrics = metrics
    }

    func shutdown() async {
        try? await client.shutdown()
    }

    func send(
        _ method: HTTPMethod, _ url: String, action: ACMEAction, body: [UInt8]? = nil, contentType: String? = nil, accept: String? = nil
    )
        async throws(ACMEError) -> HTTPReply
    {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: userAgent)
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let accept { request.headers.add(name: "Accept", value: accept) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let started = ContinuousClock.now
        var status: Int?
        defer { metrics.record(action, method: method.rawValue, status: status, duration: ContinuousClock.now - started) }
        do {
            let response = try await client.execute(request, timeout: timeout)
            status = Int(response.status.code)
            let buffer = try await response.body.collect(upTo: Self.maxBody)
            return HTTPReply(status: Int(response.status.code), headers: response.headers, body: Array(buffer.readableBytesView), url: url)
        } catch let error as ACMEError {
            throw error
        } catch {
            throw .network("\(method) \(url): \(error)")
        }
    }
}
