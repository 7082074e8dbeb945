import DNS

/// dns-01 records through RFC 2136 dynamic updates signed with TSIG (RFC 8945), as BIND,
/// Knot, PowerDNS and Windows DNS accept them. Adds and deletes exactly one TXT value.
public struct RFC2136Provider: DNS01Provider {
    /// The primary to send updates to; nil: the SOA's MNAME, resolved through `resolver`, on port 53.
    public var primary: DNSServer?
    /// nil: unsigned updates (only for servers that allow them by address).
    public var key: TSIGKey?
    /// The zone to update; nil: found by SOA lookup through `resolver`.
    public var zone: DNSName?
    /// Where SOA lookups go (the primary itself when nil).
    public var resolver: DNSServer?
    public var ttl: UInt32
    public var client: DNSClient

    public init(
        primary: DNSServer?, key: TSIGKey?, zone: DNSName? = nil, resolver: DNSServer? = nil, ttl: UInt32 = 60,
        timeout: Duration = .seconds(5)
    ) {
        self.primary = primary
        self.key = key
        self.zone = zone
        self.resolver = resolver
        self.ttl = ttl
        self.client = DNSClient(timeout: timeout)
    }

    public func createRecord(name: String, value: String) async throws {
        let (server, zone, owner) = try await target(name)
        do { try await client.addTXT(owner, value: value, ttl: ttl, zone: zone, server: server, key: key) } catch { throw DNS01Failure(error) }
    }

    public func deleteRecord(name: String, value: String) async throws {
        let (server, zone, owner) = try await target(name)
        do { try await client.deleteTXT(owner, value: value, zone: zone, server: server, key: key) } catch { throw DNS01Failure(error) }
    }

    /// A signed UPDATE whose only content is the prerequisite "the zone apex exists": the server
    /// checks the key and its authority for the zone and changes nothing.
    public func canWrite(name: String) async -> DNS01Failure? {
        do {
            let (server, zone, _) = try await target(name)
            let apexExists = DNSRecord(name: zone, type: .any, rrClass: .any, ttl: 0, data: .empty)
            try await client.update(zone: zone, prerequisites: [apexExists], updates: [], server: server, key: key)
            return nil
        } catch let failure as DNS01Failure {
            return failure
        } catch let error as DNSError {
            return DNS01Failure(error)
        } catch {
            return DNS01Failure(code: "dns_provider", message: "\(error)")
        }
    }

    /// The server, zone and owner name for NAME.
    func target(_ name: String) async throws(DNS01Failure) -> (DNSServer, DNSName, DNSName) {
        do {
            let owner = try DNSName(name)
            if let zone, let primary {
                guard owner.isSubdomain(of: zone) else {
                    throw DNS01Failure(code: "dns_zone_mismatch", message: "\(owner) is not in the provider's zone \(zone)")
                }
                return (primary, zone, owner)
            }
            guard let lookup = resolver ?? primary else {
                throw DNS01Failure(code: "dns_provider_config", message: "an rfc2136 provider needs a primary server or a resolver")
            }
            let found = try await client.zone(of: owner, resolver: lookup)
            if let primary { return (primary, zone ?? found.zone, owner) }
            guard let address = try await client.addresses(of: found.soa.primary, resolver: lookup).first else {
                throw DNS01Failure(code: "dns_no_primary", message: "the SOA primary \(found.soa.primary) of \(found.zone) has no address")
            }
            return (DNSServer(host: address), zone ?? found.zone, owner)
        } catch let error as DNSError {
            throw DNS01Failure(error)
        } catch let failure as DNS01Failure {
            throw failure
        } catch {
            throw DNS01Failure(code: "dns_provider", message: "\(error)")
        }
    }
}
