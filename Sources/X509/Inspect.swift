import CertFleetCore
import Foundation

/// A subject or issuer name, with the fields NGINX Unit shows.
public struct NameInfo: Codable, Sendable, Hashable {
    public var commonName: String?
    /// DNS names and IP addresses from subjectAltName (subject only).
    public var altNames: [String]?
    public var country: String?
    public var stateOrProvince: String?
    public var organization: String?

    public init(
        commonName: String? = nil, altNames: [String]? = nil, country: String? = nil,
        stateOrProvince: String? = nil, organization: String? = nil
    ) {
        self.commonName = commonName
        self.altNames = altNames
        self.country = country
        self.stateOrProvince = stateOrProvince
        self.organization = organization
    }

    enum CodingKeys: String, CodingKey {
        case commonName = "common_name"
        case altNames = "alt_names"
        case country
        case stateOrProvince = "state_or_province"
        case organization
    }
}

/// notBefore / notAfter. Encoded as RFC 3339 strings whatever the encoder's
/// date strategy, so the API's JSON does not depend on who encodes it; the
/// `Date` values stay available for other formats (NGINX Unit's
/// `Sep 18 19:46:19 2022 GMT` is ``Timestamp/openSSLStyle(_:)``).
public struct Validity: Codable, Sendable, Hashable {
    public var since: Date
    public var until: Date

    public init(since: Date, until: Date) {
        self.since = since
        self.until = until
    }

    /// True when `date` lies within [since, until].
    public func contains(_ date: Date) -> Bool { since <= date && date <= until }

    enum CodingKeys: String, CodingKey { case since, until }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func date(_ key: CodingKeys) throws -> Date {
            let text = try c.decode(String.self, forKey: key)
            guard let d = RFC3339.parse(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not an RFC 3339 date: \(text)")
            }
            return d
        }
        since = try date(.since)
        until = try date(.until)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(RFC3339.format(since), forKey: .since)
        try c.encode(RFC3339.format(until), forKey: .until)
    }
}

/// One certificate's parsed details: an entry of `chain[]` in the API.
public struct CertificateInfo: Codable, Sendable, Hashable {
    public var subject: NameInfo
    public var issuer: NameInfo
    public var validity: Validity
    /// Upper-case hex as `openssl x509 -serial` prints it (`-` prefix if negative).
    public var serialNumber: String
    /// SHA-256 of the DER, upper-case hex with `:` separators as
    /// `openssl x509 -fingerprint -sha256` prints it.
    public var fingerprintSHA256: String
    /// OpenSSL's long name, e.g. `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `ED25519`.
    public var signatureAlgorithm: String
    /// basicConstraints cA = TRUE.
    public var isCA: Bool
    /// RFC 5280 names (`digitalSignature`, `keyEncipherment`, `keyCertSign` …); empty when absent.
    public var keyUsage: [String]
    /// OpenSSL short names (`serverAuth`, `clientAuth` …) or dotted OIDs; empty when absent.
    public var extendedKeyUsage: [String]
    /// The certificate's public key.
    public var publicKey: KeyDetails

    enum CodingKeys: String, CodingKey {
        case subject, issuer, validity
        case serialNumber = "serial_number"
        case fingerprintSHA256 = "fingerprint_sha256"
        case signatureAlgorithm = "signature_algorithm"
        case isCA = "is_ca"
        case keyUsage = "key_usage"
        case extendedKeyUsage = "extended_key_usage"
        case publicKey = "public_key"
    }
}

/// The parsed details of a bundle (NGINX Unit's certificate object, extended):
/// served by the API and stored with each certificate version.
public struct CertificateDetails: Codable, Sendable, Hashable {
    /// `RSA (2048 bits)`, `ECDSA (P-256)`, `Ed25519`: the private key when one
    /// was uploaded, else the leaf's public key.
    public var key: String
    /// The same key, structured.
    public var keyDetails: KeyDetails
    /// Leaf first, then each issuer.
    public var chain: [CertificateInfo]
    /// The chain ends in a self-signed certificate (a root) that was uploaded.
    public var rootIncluded: Bool
    /// The chain is known to stop short of a trust anchor (see ``CertificateBundle/isIncomplete``).
    public var incomplete: Bool

    enum CodingKeys: String, CodingKey {
        case key
        case keyDetails = "key_details"
        case chain
        case rootIncluded = "root_included"
        case incomplete
    }
}

extension NameInfo {
    /// The first field (by its JSON name) that holds a NUL character.
    var fieldWithNUL: String? {
        let fields: [(String, [String])] = [
            ("common_name", commonName.map { [$0] } ?? []), ("alt_names", altNames ?? []), ("country", country.map { [$0] } ?? []),
            ("state_or_province", stateOrProvince.map { [$0] } ?? []), ("organization", organization.map { [$0] } ?? []),
        ]
        return fields.first { $0.1.contains { $0.utf8.contains(0) } }?.0
    }
}

extension CertificateInfo {
    /// `subject.<field>` or `issuer.<field>` of the first name field holding a NUL character.
    var fieldWithNUL: String? {
        subject.fieldWithNUL.map { "subject." + $0 } ?? issuer.fieldWithNUL.map { "issuer." + $0 }
    }
}
