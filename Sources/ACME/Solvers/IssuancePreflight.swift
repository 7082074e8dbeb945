import CertFleetCore
import DNS
import Foundation
import X509

/// Checks before any order, so a certificate that cannot be issued never spends the CA's
/// rate limits: the names resolve (the zone has NS; for http-01 an A/AAAA exists), CAA
/// permits the CA (RFC 8659 climbing, `issuewild` for wildcards), the DNS provider can
/// write the zone. A failure carries `preflight_nxdomain`, `preflight_caa` or `preflight_provider`.
public struct IssuancePreflight: Sendable {
    public struct Check: Codable, Sendable, Hashable {
        public var name: String
        /// `resolves`, `caa`, `provider`.
        public var check: String
        public var ok: Bool
        public var detail: String
    }

    /// The failing check's code and every check made.
    public struct Failed: Error, Sendable {
        public let code: String
        public let message: String
        public let checks: [Check]
    }

    public var client: DNSClient
    /// The CA's `caaIdentities` (its directory, else configured); empty: unknown.
    public var caaIdentities: [String]

    public init(caaIdentities: [String], timeout: Duration = .seconds(5)) {
        self.client = DNSClient(timeout: timeout)
        self.caaIdentities = caaIdentities
    }

    /// Runs every check for IDENTIFIERS; RESOLVER gives the resolver for a base name; PROVIDERCHECK
    /// (nil for http-01 names) tries the provider for a base name. Returns the checks, or throws `Failed`.
    public func run(
        identifiers: [String], dns01: (String) -> Bool, resolver: (String) -> DNSServer?,
        providerCheck: (String) async -> DNS01Failure?
    ) async throws(Failed) -> [Check] {
        var checks: [Check] = []
        var failure: (code: String, message: String)? = nil
        func record(_ name: String, _ check: String, _ problem: String?, code: String, ok detail: String) {
            checks.append(Check(name: name, check: check, ok: problem == nil, detail: problem ?? detail))
            if let problem, failure == nil { failure = (code, "\(name): \(problem)") }
        }
        var providersChecked: Set<String> = []
        for identifier in identifiers where IPAddress.canonical(identifier) == nil {
            let wildcard = identifier.hasPrefix("*.")
            let base = wildcard ? String(identifier.dropFirst(2)) : identifier
            guard let server = resolver(base), let owner = try? DNSName(base) else {
                record(identifier, "resolves", "no resolver is configured to check it", code: "preflight_nxdomain", ok: "")
                continue
            }
            record(
                identifier, "resolves", await resolves(owner, dns01: dns01(identifier), server: server), code: "preflight_nxdomain",
                ok: dns01(identifier) ? "the zone has nameservers" : "A/AAAA exists")
            let (caa, where_) = await caaDecision(owner, wildcard: wildcard, server: server)
            record(identifier, "caa", caa, code: "preflight_caa", ok: where_)
            if dns01(identifier), !providersChecked.contains(base) {
                providersChecked.insert(base)
                let problem = await providerCheck(base)
                record(identifier, "provider", problem.map(\.description), code: "preflight_provider", ok: "the provider can write the zone")
            }
        }
        if let failure { throw Failed(code: failure.code, message: failure.message, checks: checks) }
        return checks
    }

    func resolves(_ name: DNSName, dns01: Bool, server: DNSServer) async -> String? {
        do {
            if dns01 {
                let zone = try await client.zone(of: name, resolver: server).zone
                return try await client.nameservers(of: zone, resolver: server).isEmpty ? "the zone \(zone) has no NS records" : nil
            }
            let answer = try await client.query(name, .a, server: server)
            if answer.rcode == .nxDomain { return "\(name) does not exist (NXDOMAIN)" }
            if !answer.answers(.a).isEmpty { return nil }
            return try await client.query(name, .aaaa, server: server).answers(.aaaa).isEmpty ? "\(name) has no A or AAAA record" : nil
        } catch {
            return "\(error.description)"
        }
    }

    /// The decision and where it was taken: climbs from NAME until a CAA set is found.
    func caaDecision(_ name: DNSName, wildcard: Bool, server: DNSServer) async -> (String?, String) {
        var current: DNSName? = name
        while let candidate = current, candidate.labels.count >= 1 {
            let answer: DNS.DNSMessage
            do {
                answer = try await client.query(candidate, .caa, server: server)
            } catch {
                // REFUSED/NOTAUTH: outside what this resolver serves (an authoritative-only server): nothing more to find.
                if case .rcode(let rcode, _, _) = error, rcode == .refused || rcode == .notAuth { break }
                return ("the CAA lookup at \(candidate) failed: \(error.description)", "")
            }
            let records = answer.answers.compactMap { record -> CAAPolicy.Record? in
                guard record.name == candidate, case .caa(let caa) = record.data else { return nil }
                return CAAPolicy.Record(critical: caa.critical, tag: caa.tag, value: caa.value)
            }
            if !records.isEmpty {
                switch CAAPolicy.evaluate(records: records, identities: caaIdentities, wildcard: wildcard) {
                case .permitted: return (nil, "CAA at \(candidate) permits the CA")
                case .forbidden(let reason): return ("\(reason) (CAA at \(candidate))", "")
                }
            }
            current = candidate.parent
        }
        return (nil, "no CAA record up the tree")
    }
}
