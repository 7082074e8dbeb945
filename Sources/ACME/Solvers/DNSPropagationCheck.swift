import DNS
import Foundation

/// What one server answered for the challenge record at one moment.
public struct PropagationObservation: Codable, Sendable, Hashable {
    /// `host:port` asked.
    public var server: String
    /// `authoritative` (a nameserver of the zone, asked without recursion) or `recursive`.
    public var role: String
    public var values: [String]
    /// The DNS error code when the server did not answer usably.
    public var error: String?
    public var visible: Bool
    public var at: Date
}

/// Decides whether a TXT value is visible everywhere that matters: at every authoritative
/// nameserver of the zone (found through `resolver`, asked directly, not through a cache)
/// and at each configured recursive resolver (split-horizon setups).
public struct DNSPropagationCheck: Sendable {
    /// Where the zone's NS set and the nameservers' addresses are looked up.
    public var resolver: DNSServer
    /// The port authoritative nameservers are asked on (53; tests run them on others).
    public var nameserverPort: Int
    /// Ask these instead of the zone's NS set (e.g. hidden primaries).
    public var nameservers: [DNSServer]?
    public var recursiveResolvers: [DNSServer]
    public var client: DNSClient

    public init(
        resolver: DNSServer, nameserverPort: Int = 53, nameservers: [DNSServer]? = nil, recursiveResolvers: [DNSServer] = [],
        timeout: Duration = .seconds(3)
    ) {
        self.resolver = resolver
        self.nameserverPort = nameserverPort
        self.nameservers = nameservers
        self.recursiveResolvers = recursiveResolvers
        self.client = DNSClient(timeout: timeout)
    }

    /// The authoritative servers of the zone holding NAME.
    public func authoritativeServers(for name: DNSName) async throws(DNSError) -> [DNSServer] {
        if let nameservers { return nameservers }
        let zone = try await client.zone(of: name, resolver: resolver).zone
        var servers: [DNSServer] = []
        for host in try await client.nameservers(of: zone, resolver: resolver) {
            for address in try await client.addresses(of: host, resolver: resolver) {
                let server = DNSServer(host: address, port: nameserverPort)
                if !servers.contains(server) { servers.append(server) }
            }
        }
        guard !servers.isEmpty else { throw .noZone("\(zone) (no nameserver with an address)") }
        return servers
    }

    /// One round: what every server answers now.
    public func observe(_ name: DNSName, value: String) async -> [PropagationObservation] {
        let authoritative: [DNSServer]
        do { authoritative = try await authoritativeServers(for: name) } catch {
            return [PropagationObservation(server: resolver.description, role: "resolver", values: [], error: error.code, visible: false, at: Date())]
        }
        let targets = authoritative.map { ($0, false) } + recursiveResolvers.map { ($0, true) }
        return await withTaskGroup(of: (Int, PropagationObservation).self) { group in
            for (index, (server, recursive)) in targets.enumerated() {
                group.addTask {
                    let role = recursive ? "recursive" : "authoritative"
                    do throws(DNSError) {
                        let values = try await client.txt(name, server: server, recursive: recursive)
                        return (
                            index,
                            PropagationObservation(
                                server: server.description, role: role, values: values, error: nil,
                                visible: values.contains(value), at: Date())
                        )
                    } catch {
                        return (
                            index,
                            PropagationObservation(
                                server: server.description, role: role, values: [], error: error.code,
                                visible: false, at: Date())
                        )
                    }
                }
            }
            var results: [(Int, PropagationObservation)] = []
            for await result in group { results.append(result) }
            return results.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }
}
