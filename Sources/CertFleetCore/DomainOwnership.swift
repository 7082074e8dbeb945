import Foundation

/// Which project may issue for a name: the project holding the most specific verified
/// zone that contains it (as cert-manager's approver-policy and ACM's domain validation
/// decide who may ask). A project owning `example.com` cannot issue for
/// `shop.example.com` once another project verified `shop.example.com`.
public enum DomainOwnership {
    /// Whether issuance is limited to a project's verified zones (`CERTFLEET_DOMAIN_POLICY`).
    public enum Policy: String, Sendable {
        case enforce
        case off
    }

    /// NAME (a lower-case host name, or `*.` + one) and every parent domain, most specific first:
    /// `*.a.example.com` → `a.example.com`, `example.com`, `com`.
    public static func zones(containing name: String) -> [String] {
        if isIPAddress(name) { return [name] } // an address is its own zone (claimed by the system key)
        var host = Substring(name.hasPrefix("*.") ? String(name.dropFirst(2)) : name)
        if host.hasSuffix(".") { host = host.dropLast() }
        var zones: [String] = []
        while !host.isEmpty {
            zones.append(String(host))
            guard let dot = host.firstIndex(of: ".") else { break }
            host = host[host.index(after: dot)...]
        }
        return zones
    }

    /// The names among NAMES that PROJECT may not issue for, given every verified zone and
    /// its owner. A name no verified zone contains belongs to nobody.
    public static func namesNotOwned(_ names: [String], by project: UUID, verified: [String: UUID]) -> [String] {
        names.filter { name in
            zones(containing: name).first { verified[$0] != nil }.flatMap { verified[$0] } != project
        }
    }

    /// Whether NAME is written like an IPv4 or IPv6 address rather than a host name.
    public static func isIPAddress(_ name: String) -> Bool {
        name.contains(":") || (!name.isEmpty && name.allSatisfy { $0.isNumber || $0 == "." } && name.split(separator: ".").count == 4)
    }

    /// The TXT record that proves control of ZONE: `_certfleet-challenge.<zone>`.
    public static func challengeName(zone: String) -> String { "_certfleet-challenge.\(zone)" }
}
