/// The directory resource (RFC 8555 section 7.1.1): where every other resource lives.
public struct ACMEDirectory: Codable, Sendable, Hashable {
    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    public var newAuthz: String?
    public var revokeCert: String
    public var keyChange: String
    /// ARI (RFC 9773); nil when the CA does not offer it (Pebble 2.4.0 does not).
    public var renewalInfo: String?
    public var meta: Meta?

    public struct Meta: Codable, Sendable, Hashable {
        public var termsOfService: String?
        public var website: String?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
        /// Certificate profiles the CA offers, by name (draft-ietf-acme-profiles; Let's Encrypt:
        /// `classic`, `tlsserver`, `shortlived`).
        public var profiles: [String: String]?
    }

    /// True when the CA requires External Account Binding for new accounts.
    public var requiresExternalAccountBinding: Bool { meta?.externalAccountRequired ?? false }
}

extension ACMEClient {
    /// The directory, fetched once per client and cached.
    public func directory() async throws(ACMEError) -> ACMEDirectory {
        if let cached = state.withLock({ $0.directory }) { return cached }
        let reply = try await transport.send(.GET, configuration.directoryURL, action: .directory)
        try reply.requireSuccess()
        let directory = try reply.decode(ACMEDirectory.self)
        state.withLock { $0.directory = directory }
        return directory
    }
}
