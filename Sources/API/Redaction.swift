import Foundation

extension JSONValue {
    /// Member names whose values are never kept in a copy: private keys, API keys, secrets.
    static let secretMemberMarkers = ["key", "secret", "authorization", "password", "token", "hmac", "credential"]
    /// Text that marks a value as secret wherever it appears: a PEM private key, an API key.
    static let secretValueMarkers = ["PRIVATE KEY", "cf_"]

    /// This document with every credential-like member's value and every string holding a
    /// PEM private key or an API key replaced by "[redacted]" (for copies kept of untrusted input).
    func redacted() -> JSONValue {
        switch self {
        case .object(let members):
            return .object(
                members.map { name, value in
                    let lowered = name.lowercased()
                    if Self.secretMemberMarkers.contains(where: { lowered.contains($0) }) { return (name, .string("[redacted]")) }
                    return (name, value.redacted())
                })
        case .array(let items):
            return .array(items.map { $0.redacted() })
        case .string(let text):
            return .string(Self.secretValueMarkers.contains { text.contains($0) } ? "[redacted]" : text)
        case .raw:
            return resolvingRaw().redacted()
        case .null, .bool, .number:
            return self
        }
    }
}
