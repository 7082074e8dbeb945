/// Why a DNS exchange failed. `code` is stable (shown in job errors and the API);
/// `description` carries the server's answer. Never carries key material.
public enum DNSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No answer from SERVER within the timeout.
    case timeout(server: String)
    /// The connection failed (refused, unreachable).
    case unreachable(server: String, reason: String)
    /// The server answered with a non-zero RCODE.
    case rcode(DNSResponseCode, server: String, detail: String)
    /// The server rejected our TSIG (its TSIG error field: BADKEY, BADSIG, BADTIME …).
    case tsigRejected(DNSResponseCode, server: String)
    /// The response's TSIG is missing or does not verify: it may be forged.
    case tsigInvalid(server: String, reason: String)
    case malformed(String)
    case invalidName(String)
    /// A CNAME chain longer than allowed or coming back to itself.
    case cnameLoop(String)
    /// No zone (SOA) found for the name.
    case noZone(String)

    public var code: String {
        switch self {
        case .timeout: return "dns_timeout"
        case .unreachable: return "dns_unreachable"
        case .rcode(let rcode, _, _):
            switch rcode {
            case .notAuth: return "dns_notauth"
            case .refused: return "dns_refused"
            case .servFail: return "dns_servfail"
            case .nxDomain: return "dns_nxdomain"
            case .notZone: return "dns_notzone"
            default: return "dns_rcode_\(rcode.name.lowercased())"
            }
        case .tsigRejected(let rcode, _) where rcode == .badKey: return "dns_tsig_badkey"
        case .tsigRejected(let rcode, _) where rcode == .badTime: return "dns_tsig_badtime"
        case .tsigRejected: return "dns_tsig_badsig"
        case .tsigInvalid: return "dns_tsig_invalid"
        case .malformed: return "dns_malformed"
        case .invalidName: return "dns_invalid_name"
        case .cnameLoop: return "dns_cname_loop"
        case .noZone: return "dns_no_zone"
        }
    }

    public var description: String {
        switch self {
        case .timeout(let server): return "\(code): no answer from \(server) within the timeout"
        case .unreachable(let server, let reason): return "\(code): cannot reach \(server): \(reason)"
        case .rcode(let rcode, let server, let detail): return "\(code): \(server) answered \(rcode.name) to \(detail)"
        case .tsigRejected(let rcode, let server): return "\(code): \(server) rejected the TSIG signature (\(rcode.name))"
        case .tsigInvalid(let server, let reason): return "\(code): the answer from \(server) failed TSIG verification: \(reason)"
        case .malformed(let what): return "\(code): \(what)"
        case .invalidName(let name): return "\(code): invalid DNS name \(name)"
        case .cnameLoop(let chain): return "\(code): CNAME chain loops or is too long: \(chain)"
        case .noZone(let name): return "\(code): no zone (SOA) found for \(name)"
        }
    }
}
