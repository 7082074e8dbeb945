import DNS
import Foundation

/// The non-secret settings of a DNS provider (stored as JSON, snake_case keys), by kind:
/// `rfc2136` (primary, zone, tsig_key_name, tsig_algorithm, ttl), `exec` (command, mode),
/// `httpreq` (endpoint, mode, username), `acme-dns` (server_url); and for all kinds the
/// propagation check and CNAME delegation.
public struct DNSProviderSettings: Codable, Sendable, Hashable {
    public static let kinds = ["rfc2136", "exec", "httpreq", "acme-dns"]

    public struct Propagation: Codable, Sendable, Hashable {
        /// Where the zone's NS set is looked up (`host:port`); default: the rfc2136 primary.
        public var resolver: String?
        /// The port the zone's nameservers are asked on (53).
        public var nameserverPort: Int?
        /// Ask these (`host:port`) instead of the zone's NS set.
        public var nameservers: [String]?
        /// Recursive resolvers that must see the value too (split horizon).
        public var recursiveResolvers: [String]?
        public var timeoutSeconds: Int?
        /// false: skip the check (the CA is asked at once).
        public var enabled: Bool?

        enum CodingKeys: String, CodingKey {
            case resolver, nameservers, enabled
            case nameserverPort = "nameserver_port", recursiveResolvers = "recursive_resolvers", timeoutSeconds = "timeout_seconds"
        }
    }

    public var primary: String?
    public var zone: String?
    public var tsigKeyName: String?
    public var tsigAlgorithm: String?
    public var ttl: Int?
    public var command: String?
    /// `default` or `raw` (lego's RAW mode) for exec and httpreq.
    public var mode: String?
    public var endpoint: String?
    public var username: String?
    public var serverURL: String?
    /// Per provider call (DNS exchange, hook run, HTTP request).
    public var timeoutSeconds: Int?
    /// Follow a CNAME at `_acme-challenge.<name>` and write at its target (default true).
    public var cnameDelegation: Bool?
    public var propagation: Propagation?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case primary, zone, ttl, command, mode, endpoint, username, propagation
        case tsigKeyName = "tsig_key_name", tsigAlgorithm = "tsig_algorithm", serverURL = "server_url"
        case timeoutSeconds = "timeout_seconds", cnameDelegation = "cname_delegation"
    }

    public static func decode(_ json: String) throws -> DNSProviderSettings {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .useDefaultKeys
        return try decoder.decode(DNSProviderSettings.self, from: Data(json.utf8))
    }

    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// What is wrong with these settings for KIND (empty when usable), for the API's 422.
    public func problems(kind: String, secret: DNSProviderSecret, execDirectory: String?, httpreqPrefixes: [String]) -> [String] {
        var problems: [String] = []
        switch kind {
        case "rfc2136":
            if primary.flatMap(DNSServer.init) == nil && propagation?.resolver.flatMap(DNSServer.init) == nil {
                problems.append("rfc2136 needs 'primary' (host:port of the primary) or 'propagation.resolver' to find it by SOA")
            }
            if let zone, (try? DNSName(zone)) == nil { problems.append("'zone' is not a DNS name") }
            if secret.tsigSecret != nil {
                if tsigKeyName.flatMap({ try? DNSName($0) }) == nil { problems.append("'tsig_key_name' is required with a TSIG secret") }
                if TSIGKey.Algorithm(rawValue: tsigAlgorithm ?? "hmac-sha256") == nil {
                    problems.append("'tsig_algorithm' must be hmac-sha256 or hmac-sha512")
                }
                if let text = secret.tsigSecret, Data(base64Encoded: text) == nil { problems.append("'tsig_secret' must be base64") }
            }
        case "exec":
            guard let command, command.hasPrefix("/") else { problems.append("exec needs 'command', an absolute path"); break }
            // Tenants must not run arbitrary programs on the worker: only the operator's hook directory.
            guard let execDirectory, !execDirectory.isEmpty else {
                problems.append("exec hooks are disabled on this server (set CERTFLEET_DNS_EXEC_DIR to the directory of allowed hook scripts)")
                break
            }
            let directory = execDirectory.hasSuffix("/") ? execDirectory : execDirectory + "/"
            let resolved = URL(fileURLWithPath: command).standardizedFileURL.resolvingSymlinksInPath().path
            if !resolved.hasPrefix(directory) { problems.append("'command' must be a script inside \(directory)") }
        case "httpreq":
            guard let endpoint, let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                problems.append("httpreq needs 'endpoint', an http(s) URL")
                break
            }
            // The worker calls this URL: only endpoints the operator allowed (no SSRF into the network).
            if !httpreqPrefixes.contains(where: { endpoint.hasPrefix($0) }) {
                problems.append("'endpoint' is not allowed on this server (CERTFLEET_DNS_HTTPREQ_ALLOWED lists the allowed URL prefixes)")
            }
        case "acme-dns":
            guard let serverURL, let url = URL(string: serverURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                problems.append("acme-dns needs 'server_url', an http(s) URL")
                break
            }
            if !httpreqPrefixes.contains(where: { serverURL.hasPrefix($0) }) {
                problems.append("'server_url' is not allowed on this server (CERTFLEET_DNS_HTTPREQ_ALLOWED lists the allowed URL prefixes)")
            }
        default:
            problems.append("'kind' must be one of \(Self.kinds.joined(separator: ", "))")
        }
        if let mode, !["default", "raw"].contains(mode) { problems.append("'mode' must be default or raw") }
        if let timeoutSeconds, !(1...600).contains(timeoutSeconds) { problems.append("'timeout_seconds' must be 1–600") }
        for server in [propagation?.resolver].compactMap({ $0 }) + (propagation?.nameservers ?? []) + (propagation?.recursiveResolvers ?? [])
        where DNSServer(server) == nil {
            problems.append("'\(server)' is not host:port")
        }
        return problems
    }

    var callTimeout: Duration { .seconds(timeoutSeconds ?? 10) }

    /// The provider for KIND with SECRET.
    public func provider(kind: String, secret: DNSProviderSecret) throws -> any DNS01Provider {
        switch kind {
        case "rfc2136":
            var key: TSIGKey? = nil
            if let text = secret.tsigSecret {
                guard let name = tsigKeyName, let algorithm = TSIGKey.Algorithm(rawValue: tsigAlgorithm ?? "hmac-sha256"),
                    let made = TSIGKey(name: name, algorithm: algorithm, base64Secret: text)
                else {
                    throw DNS01Failure(code: "dns_provider_config", message: "the provider's TSIG key is unusable")
                }
                key = made
            }
            return RFC2136Provider(
                primary: primary.flatMap(DNSServer.init), key: key, zone: zone.flatMap { try? DNSName($0) },
                resolver: propagation?.resolver.flatMap(DNSServer.init), ttl: UInt32(ttl ?? 60), timeout: callTimeout)
        case "exec":
            return ExecHookProvider(
                command: command ?? "", raw: mode == "raw", timeout: .seconds(timeoutSeconds ?? 60),
                environment: secret.env ?? [:])
        case "httpreq":
            return HTTPRequestProvider(
                endpoint: endpoint ?? "", raw: mode == "raw", username: username, password: secret.password,
                timeout: .seconds(timeoutSeconds ?? 30))
        case "acme-dns":
            guard let credentials = secret.acmeDNS else {
                throw DNS01Failure(code: "dns_provider_config", message: "the acme-dns provider has no registration")
            }
            return ACMEDNSProvider(serverURL: serverURL ?? "", credentials: credentials, timeout: .seconds(timeoutSeconds ?? 30))
        default:
            throw DNS01Failure(code: "dns_provider_config", message: "unknown provider kind \(kind)")
        }
    }

    /// The solver: PROVIDER, CNAME delegation and the authoritative propagation check.
    /// DEFAULTRESOLVER is the server's resolver (CERTFLEET_DNS_RESOLVER) when the provider names none.
    public func solver(provider: any DNS01Provider, defaultResolver: DNSServer?, trace: DNS01Solver.TraceSink?) -> DNS01Solver {
        var solver = DNS01Solver(provider: provider, resolver: nil)
        let resolver = propagation?.resolver.flatMap(DNSServer.init) ?? primary.flatMap(DNSServer.init) ?? defaultResolver
        if cnameDelegation ?? true { solver.delegationResolver = resolver }
        if propagation?.enabled ?? true, let resolver {
            solver.propagation = DNSPropagationCheck(
                resolver: resolver, nameserverPort: propagation?.nameserverPort ?? 53,
                nameservers: propagation?.nameservers.map { $0.compactMap(DNSServer.init) },
                recursiveResolvers: (propagation?.recursiveResolvers ?? []).compactMap(DNSServer.init), timeout: callTimeout)
        }
        solver.trace = trace
        return solver
    }

    /// How long the propagation check may take.
    public var propagationTimeout: Duration { .seconds(propagation?.timeoutSeconds ?? 120) }
}

/// The secret half of a provider's settings (sealed at rest, never returned by the API).
public struct DNSProviderSecret: Codable, Sendable, Hashable {
    /// rfc2136: the TSIG key, base64.
    public var tsigSecret: String?
    /// httpreq: the basic-auth password.
    public var password: String?
    /// exec: environment for the hook (its credentials).
    public var env: [String: String]?
    /// acme-dns: the registration.
    public var acmeDNS: ACMEDNSCredentials?

    public init(tsigSecret: String? = nil, password: String? = nil, env: [String: String]? = nil, acmeDNS: ACMEDNSCredentials? = nil) {
        self.tsigSecret = tsigSecret
        self.password = password
        self.env = env
        self.acmeDNS = acmeDNS
    }

    enum CodingKeys: String, CodingKey {
        case password, env
        case tsigSecret = "tsig_secret", acmeDNS = "acme_dns"
    }

    public var isEmpty: Bool { tsigSecret == nil && password == nil && env == nil && acmeDNS == nil }

    public func sealedBytes() throws -> [UInt8] { Array(try JSONEncoder().encode(self)) }

    public static func opened(_ bytes: [UInt8]?) throws -> DNSProviderSecret {
        guard let bytes else { return DNSProviderSecret() }
        return try JSONDecoder().decode(DNSProviderSecret.self, from: Data(bytes))
    }
}
