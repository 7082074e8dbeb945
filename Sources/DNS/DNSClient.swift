import Foundation

/// Queries and TSIG-signed updates over ``DNSTransport``, with the RCODE turned into a typed error.
public struct DNSClient: Sendable {
    public var transport: DNSTransport

    public init(timeout: Duration = .seconds(5)) {
        self.transport = DNSTransport(timeout: timeout)
    }

    /// Asks SERVER for NAME/TYPE. NXDOMAIN is an answer (check `rcode`); other errors throw.
    public func query(_ name: DNSName, _ type: DNSRecordType, server: DNSServer, recursive: Bool = true) async throws(DNSError) -> DNSMessage {
        let message = DNSMessage.query(name, type, recursive: recursive)
        let answer = try await transport.exchange(message.encoded(), id: message.id, server: server).message
        guard answer.rcode == .noError || answer.rcode == .nxDomain else {
            throw .rcode(answer.rcode, server: server.description, detail: "\(type) \(name)")
        }
        return answer
    }

    /// The TXT values at NAME (each record's strings joined), following no CNAME; empty when none.
    public func txt(_ name: DNSName, server: DNSServer, recursive: Bool = true) async throws(DNSError) -> [String] {
        let answer = try await query(name, .txt, server: server, recursive: recursive)
        return answer.answers.filter { $0.type == .txt && $0.name == name }.compactMap(\.data.text)
    }

    /// Sends UPDATE (RFC 2136) for ZONE signed with KEY (nil: unsigned) to SERVER and checks
    /// the answer: the response's TSIG must verify, the RCODE must be NOERROR.
    public func update(
        zone: DNSName, prerequisites: [DNSRecord] = [], updates: [DNSRecord], server: DNSServer,
        key: TSIGKey?
    ) async throws(DNSError) {
        var message = DNSMessage(id: .random(in: 0...UInt16.max))
        message.opcode = .update
        message.questions = [DNSQuestion(name: zone, type: .soa)]
        message.answers = prerequisites
        message.authority = updates
        let bytes: [UInt8], mac: [UInt8]
        if let key { (bytes, mac) = TSIG.sign(message, key: key) } else { (bytes, mac) = (message.encoded(), []) }
        let answer = try await transport.exchange(bytes, id: message.id, server: server)
        if let key {
            // A TSIG error (BADKEY/BADSIG/BADTIME) comes back as NOTAUTH with the reason in the TSIG record.
            if let tsig = answer.tsig, tsig.error != .noError { throw .tsigRejected(tsig.error, server: server.description) }
            if answer.message.rcode == .noError || answer.tsig != nil {
                try TSIG.verify(answer, requestMAC: mac, key: key, server: server.description)
            }
        }
        guard answer.message.rcode == .noError else {
            throw .rcode(answer.message.rcode, server: server.description, detail: "UPDATE of zone \(zone)")
        }
    }

    /// Adds one TXT value at NAME (other values of the name stay).
    public func addTXT(_ name: DNSName, value: String, ttl: UInt32 = 60, zone: DNSName, server: DNSServer, key: TSIGKey?) async throws(DNSError) {
        try await update(zone: zone, updates: [.txt(name, value, ttl: ttl)], server: server, key: key)
    }

    /// Deletes exactly the TXT value VALUE at NAME (RFC 2136 section 2.5.4: class NONE, TTL 0).
    public func deleteTXT(_ name: DNSName, value: String, zone: DNSName, server: DNSServer, key: TSIGKey?) async throws(DNSError) {
        var record = DNSRecord.txt(name, value, ttl: 0)
        record.rrClass = .none
        try await update(zone: zone, updates: [record], server: server, key: key)
    }

    /// The zone NAME belongs to and its SOA, found by asking RESOLVER for SOA at NAME and
    /// each parent (the authority section of a negative answer names the zone at once).
    public func zone(of name: DNSName, resolver: DNSServer) async throws(DNSError) -> (zone: DNSName, soa: DNSSOA) {
        var candidate: DNSName? = name
        while let current = candidate {
            let answer = try await query(current, .soa, server: resolver)
            for record in answer.answers + answer.authority {
                if record.type == .soa, case .soa(let soa) = record.data, current.isSubdomain(of: record.name) {
                    return (record.name, soa)
                }
            }
            candidate = current.parent
        }
        throw .noZone(name.description)
    }

    /// The NS names of ZONE as RESOLVER sees them.
    public func nameservers(of zone: DNSName, resolver: DNSServer) async throws(DNSError) -> [DNSName] {
        let answer = try await query(zone, .ns, server: resolver)
        return answer.answers.compactMap { if case .ns(let host) = $0.data, $0.name == zone { return host } else { return nil } }
    }

    /// IPv4 and IPv6 addresses of HOST (A then AAAA) as text.
    public func addresses(of host: DNSName, resolver: DNSServer) async throws(DNSError) -> [String] {
        var result: [String] = []
        for type in [DNSRecordType.a, .aaaa] {
            for record in try await query(host, type, server: resolver).answers {
                switch record.data {
                case .a(let bytes): result.append(bytes.map(String.init).joined(separator: "."))
                case .aaaa(let bytes):
                    result.append(
                        stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                            .joined(separator: ":"))
                default: continue
                }
            }
        }
        return result
    }

    /// Follows CNAMEs from NAME (at most 8 hops) and returns the final name; throws
    /// `cnameLoop` when a name comes back or the chain is too long.
    public func resolveCNAME(_ name: DNSName, resolver: DNSServer, maxHops: Int = 8) async throws(DNSError) -> DNSName {
        var chain = [name]
        var current = name
        while true {
            let answer = try await query(current, .cname, server: resolver)
            guard
                let target = answer.answers.lazy.compactMap({ record -> DNSName? in
                    if case .cname(let target) = record.data, record.name == current { return target } else { return nil }
                }).first
            else { return current }
            chain.append(target)
            guard !chain.dropLast().contains(target), chain.count <= maxHops + 1 else {
                throw .cnameLoop(chain.map(\.description).joined(separator: " → "))
            }
            current = target
        }
    }
}
