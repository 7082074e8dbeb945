import DNS

/// Why a dns-01 provider or the propagation check failed: a stable code and a message a
/// person can act on (the server's or hook's answer), never a secret.
public struct DNS01Failure: Error, Sendable, Hashable, CustomStringConvertible {
    /// `dns_tsig_badkey`, `dns_refused`, `dns_timeout`, `dns_hook_exit`, `dns_propagation_timeout` …
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: DNSError) {
        self.init(code: error.code, message: error.description)
    }

    public var description: String { message.hasPrefix(code) ? message : "\(code): \(message)" }
}
