import COpenSSL
import COpenSSLShim

/// A PKCS#10 certificate signing request, as ACME's finalize step takes it.
public struct CertificateSigningRequest: Sendable, Hashable {
    /// DER (ACME sends it base64url-encoded).
    public let der: [UInt8]

    /// PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    public var pem: String { PEM.encode(label: "CERTIFICATE REQUEST", der: der) }

    /// At most this many SANs; CAs cap far lower (Let's Encrypt: 100).
    public static let maxSubjectAltNames = 100

    /// Builds and signs a CSR. `subjectAltNames` are DNS names (wildcards
    /// allowed; U-labels are converted to A-labels) or IP addresses; ACME
    /// takes the identifiers from them. `commonName` (≤ 64 characters) is
    /// optional, as RFC 8555 allows; ACME clients usually pass the first SAN.
    public static func make(
        commonName: String?, subjectAltNames: [String], key: PrivateKey
    ) throws(X509Error) -> CertificateSigningRequest {
        guard !subjectAltNames.isEmpty else { throw .invalidArgument("a CSR needs at least one subject alternative name") }
        guard subjectAltNames.count <= maxSubjectAltNames else {
            throw .invalidArgument("a CSR takes at most \(maxSubjectAltNames) subject alternative names")
        }
        if let commonName, commonName.isEmpty || commonName.utf8.count > 64 {
            throw .invalidArgument("the common name must have 1 to 64 characters")
        }
        var values: [[UInt8]] = []
        var kinds: [Int32] = []
        for name in subjectAltNames {
            if let address = IPAddress.parse(name) {
                values.append(address)
                kinds.append(1)
            } else if let normalized = Hostname.normalizePattern(name) {
                values.append(Array(normalized.utf8))
                kinds.append(0)
            } else {
                throw .invalidArgument("\"\(name.prefix(80))\" is neither a DNS name nor an IP address")
            }
        }

        guard let request = X509_REQ_new() else { throw OpenSSL.failure("X509_REQ_new") }
        defer { X509_REQ_free(request) }
        guard X509_REQ_set_version(request, 0) == 1, X509_REQ_set_pubkey(request, key.handle.pointer) == 1 else {
            throw OpenSSL.failure("CSR version/public key")
        }
        if let commonName {
            guard let subject = X509_REQ_get_subject_name(request),
                X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, commonName, -1, -1, 0) == 1
            else { throw OpenSSL.failure("CSR subject") }
        }
        let added = try addSubjectAltNames(request, values: values, kinds: kinds)
        guard added else { throw OpenSSL.failure("CSR subjectAltName") }
        // Ed25519 signs the message itself: no separate digest.
        let digest: OpaquePointer? = key.details.type == .ed25519 ? nil : EVP_sha256()
        guard X509_REQ_sign(request, key.handle.pointer, digest) > 0 else { throw OpenSSL.failure("CSR signature") }
        guard let der = OpenSSL.der({ i2d_X509_REQ(request, $0) }) else { throw OpenSSL.failure("CSR encoding") }
        return CertificateSigningRequest(der: der)
    }

    private static func addSubjectAltNames(_ request: OpaquePointer, values: [[UInt8]], kinds: [Int32]) throws(X509Error) -> Bool {
        // Copy every value into one buffer so the C side gets stable pointers.
        let flat = values.flatMap { $0 }
        var offsets: [Int] = []
        var total = 0
        for value in values {
            offsets.append(total)
            total += value.count
        }
        let lengths = values.map(\.count)
        return flat.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                let pointers: [UnsafePointer<CChar>?] = offsets.map { chars.baseAddress! + $0 }
                return cf_req_add_subject_alt_names(request, pointers, lengths, kinds, values.count) == 1
            }
        }
    }
}
