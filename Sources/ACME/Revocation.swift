import X509

/// CRL reason codes ACME accepts (RFC 5280 section 5.3.1).
public enum RevocationReason: Int, Codable, Sendable, CaseIterable {
    case unspecified = 0
    case keyCompromise = 1
    case affiliationChanged = 3
    case superseded = 4
    case cessationOfOperation = 5
}

extension ACMEClient {
    /// Revokes a certificate (RFC 8555 section 7.6), signed by the account
    /// (the default) or by the certificate's own key (`certificateKey`), which
    /// works without the issuing account.
    public func revoke(
        certificate: Certificate, reason: RevocationReason? = nil, certificateKey: PrivateKey? = nil
    ) async throws(ACMEError) {
        struct Revoke: Encodable { var certificate: String; var reason: Int? }
        let directory = try await directory()
        let payload = try Self.json(Revoke(certificate: Base64URL.encode(certificate.der), reason: reason?.rawValue))
        _ = try await post(directory.revokeCert, .revoke, payload: payload, signer: certificateKey.map { .jwk($0) } ?? .account)
    }
}
