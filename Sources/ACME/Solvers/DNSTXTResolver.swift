import DNS

/// Asks one DNS server for TXT records: the propagation check of dns-01 without DNS providers
/// (the manual mode waits on it). Pointed at the CA's resolver in tests (pebble-challtestsrv),
/// at a public or authoritative one in production. The wire format lives in the DNS module.
public struct DNSTXTResolver: Sendable {
    public let host: String
    public let port: Int
    public var timeout: Duration

    public init(host: String, port: Int = 53, timeout: Duration = .seconds(3)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// Parses `host:port` (`[v6]:port` for IPv6), port 53 when absent.
    public init?(server: String, timeout: Duration = .seconds(3)) {
        guard let parsed = DNSServer(server) else { return nil }
        self.init(host: parsed.host, port: parsed.port, timeout: timeout)
    }

    /// The TXT strings of `name` (each record's strings joined); empty for NXDOMAIN/no data.
    public func txtRecords(_ name: String) async throws -> [String] {
        do {
            return try await DNSClient(timeout: timeout).txt(try DNSName(name), server: DNSServer(host: host, port: port))
        } catch {
            if case .timeout = error { throw ACMEError.timedOut(what: "DNS answer from \(host):\(port)", retryAfterSeconds: nil) }
            throw error
        }
    }
}
