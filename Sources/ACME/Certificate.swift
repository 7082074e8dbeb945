import X509

/// A downloaded certificate chain (RFC 8555 section 7.4.2).
public struct ACMECertificateChain: Sendable, Hashable {
    /// The URL it was downloaded from.
    public var url: String
    /// `application/pem-certificate-chain`: leaf first, then the issuers.
    public var pem: String
    /// Other chains to the same leaf the CA offers (`Link: rel="alternate"`).
    public var alternateURLs: [String]

    /// The parsed certificates, leaf first.
    public func certificates() throws(ACMEError) -> [Certificate] {
        do { return try CertificateBundle.parse(pem: pem, limits: .clientCA).chain } catch { throw .crypto(error.description) }
    }
}

extension ACMEClient {
    /// Downloads the chain at `url` (POST-as-GET).
    public func downloadCertificate(url: String) async throws(ACMEError) -> ACMECertificateChain {
        let reply = try await post(url, .certificate, payload: nil, accept: "application/pem-certificate-chain")
        let pem = String(decoding: reply.body, as: UTF8.self)
        guard pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw .unexpectedResponse(status: reply.status, url: url, reason: "the certificate response holds no PEM certificate")
        }
        return ACMECertificateChain(url: url, pem: pem, alternateURLs: reply.links(rel: "alternate"))
    }

    /// The default chain followed by every alternate chain.
    public func downloadAllChains(url: String) async throws(ACMEError) -> [ACMECertificateChain] {
        let first = try await downloadCertificate(url: url)
        var chains = [first]
        for alternate in first.alternateURLs {
            chains.append(try await downloadCertificate(url: alternate))
        }
        return chains
    }
}
