import Foundation

/// One broker address, parsed from `amqp://user:pass@host:port/vhost` or `amqps://…`.
///
/// As in other AMQP clients, the vhost is the path with one leading slash removed
/// and percent-decoded: `amqp://h/` and `amqp://h` mean vhost `/`, `amqp://h/%2f` too,
/// `amqp://h/jobs` means `jobs`.
public struct AMQPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var tls: Bool
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String

    public init(
        tls: Bool = false, host: String, port: Int? = nil, user: String = "guest",
        password: String = "guest", vhost: String = "/"
    ) {
        self.tls = tls
        self.host = host
        self.port = port ?? (tls ? 5671 : 5672)
        self.user = user
        self.password = password
        self.vhost = vhost
    }

    /// Parses one URL; throws `AMQPError.invalidURL`.
    public init(url: String) throws {
        let trimmed = url.trimmingCharacters(in: .whitespaces)
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased() else {
            throw AMQPError.invalidURL("not a URL")
        }
        guard scheme == "amqp" || scheme == "amqps" else {
            throw AMQPError.invalidURL("scheme must be amqp or amqps, not \(scheme)")
        }
        guard let host = components.host, !host.isEmpty else { throw AMQPError.invalidURL("missing host") }
        var vhost = components.percentEncodedPath
        if vhost.hasPrefix("/") { vhost.removeFirst() }
        vhost = vhost.removingPercentEncoding ?? vhost
        self.init(
            tls: scheme == "amqps",
            host: host,
            port: components.port,
            user: components.user?.removingPercentEncoding ?? components.user ?? "guest",
            password: components.password?.removingPercentEncoding ?? components.password ?? "guest",
            vhost: vhost.isEmpty ? "/" : vhost)
    }

    /// The address without the password, safe for logs.
    public var description: String {
        "\(tls ? "amqps" : "amqp")://\(user)@\(host):\(port)/\(vhost == "/" ? "" : vhost)"
    }
}

/// TLS settings for `amqps://` endpoints (rabbitmq-c's OpenSSL socket).
public struct AMQPTLSConfiguration: Sendable, Hashable {
    /// PEM file with the CA certificates that may sign the broker's certificate.
    public var caFile: String?
    /// Client certificate and key (PEM) for brokers that require mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    public var verifyPeer: Bool
    public var verifyHostname: Bool

    public init(
        caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
        verifyPeer: Bool = true, verifyHostname: Bool = true
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verifyPeer = verifyPeer
        self.verifyHostname = verifyHostname
    }
}

/// Everything one `AMQPConnection` needs.
public struct AMQPConfiguration: Sendable {
    /// Tried in order on the first connect; a reconnect starts at the next one,
    /// so a cluster's nodes can be listed for failover.
    public var endpoints: [AMQPEndpoint]
    /// Shown as the connection name in the management UI and `rabbitmqctl list_connections`.
    public var connectionName: String
    /// Heartbeat interval proposed to the broker; 0 disables heartbeats.
    public var heartbeatSeconds: Int
    public var tls: AMQPTLSConfiguration
    public var connectTimeout: Duration
    /// Upper bound for any synchronous AMQP method (declare, consume, …), so a
    /// half-dead broker cannot hang the connection's thread forever.
    public var rpcTimeout: Duration
    /// Maximum unconfirmed publishes in flight; further publishes wait in the
    /// connection until confirms free space.
    public var publishWindow: Int
    public var reconnect: ReconnectPolicy
    /// How long `close()` waits for outstanding publisher confirms.
    public var shutdownTimeout: Duration

    public init(
        endpoints: [AMQPEndpoint], connectionName: String = "certfleet",
        heartbeatSeconds: Int = 30, tls: AMQPTLSConfiguration = .init(),
        connectTimeout: Duration = .seconds(10), rpcTimeout: Duration = .seconds(30),
        publishWindow: Int = 1000, reconnect: ReconnectPolicy = .init(),
        shutdownTimeout: Duration = .seconds(5)
    ) {
        self.endpoints = endpoints
        self.connectionName = connectionName
        self.heartbeatSeconds = heartbeatSeconds
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.publishWindow = max(1, publishWindow)
        self.reconnect = reconnect
        self.shutdownTimeout = shutdownTimeout
    }

    /// Parses `CERTFLEET_AMQP_URL`-style text: one URL or a comma-separated list.
    public init(urls: String, connectionName: String = "certfleet", tls: AMQPTLSConfiguration = .init()) throws {
        let endpoints = try urls.split(separator: ",").map { try AMQPEndpoint(url: String($0)) }
        guard !endpoints.isEmpty else { throw AMQPError.invalidURL("no URL given") }
        self.init(endpoints: endpoints, connectionName: connectionName, tls: tls)
    }
}
