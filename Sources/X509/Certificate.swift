import COpenSSL
import COpenSSLShim
import Foundation

/// One X.509 certificate, parsed once; its details are plain Swift values.
public struct Certificate: Sendable, Hashable, CustomStringConvertible {
    let handle: X509Handle
    /// The DER encoding as uploaded.
    public let der: [UInt8]
    /// Parsed details (an entry of the API's `chain[]`).
    public let info: CertificateInfo
    /// The subject public key.
    public let publicKey: PublicKey

    /// Parses one DER certificate.
    public init(der: [UInt8]) throws(X509Error) {
        do {
            try self.init(der: der, block: 0)
        } catch .pemInvalid(_, let reason) {
            throw .invalidArgument("not a DER certificate: \(reason)")
        }
    }

    /// Parses the first `CERTIFICATE` block of PEM text.
    public init(pem: String) throws(X509Error) {
        let blocks = try PEM.blocks(in: Array(pem.utf8), limits: .default)
        guard let block = blocks.first(where: { $0.label == "CERTIFICATE" }), let der = block.der else {
            throw .noCertificate
        }
        try self.init(der: der, block: block.index)
    }

    /// Parses DER found in PEM block `block` (for the error's index).
    init(der: [UInt8], block: Int) throws(X509Error) {
        let pointer: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let x509 = d2i_X509(nil, &cursor, buffer.count) else { return nil }
            // Trailing bytes would let two uploads with different bytes claim one identity.
            if cursor != buffer.baseAddress.map({ $0 + buffer.count }) { X509_free(x509); return nil }
            return x509
        }
        guard let pointer else {
            _ = OpenSSL.drainErrors()
            throw .pemInvalid(block: block, reason: "the CERTIFICATE block is not a valid DER X.509 certificate")
        }
        let handle = X509Handle(pointer)
        // Malformed extensions (duplicate, undecodable basicConstraints …) make
        // every verifier reject the certificate; reject it at upload instead.
        guard X509_get_extension_flags(pointer) & UInt32(EXFLAG_INVALID) == 0 else {
            _ = OpenSSL.drainErrors()
            throw .pemInvalid(block: block, reason: "the certificate's extensions are malformed")
        }
        guard let keyPointer = X509_get_pubkey(pointer) else {
            _ = OpenSSL.drainErrors()
            throw .pemInvalid(block: block, reason: "the certificate's public key cannot be decoded")
        }
        let key = PublicKey(handle: PKeyHandle(keyPointer), details: KeyDetails.of(keyPointer))
        guard let validity = Certificate.validity(pointer) else {
            _ = OpenSSL.drainErrors()
            throw .pemInvalid(block: block, reason: "the certificate's validity dates are malformed")
        }
        self.handle = handle
        self.der = der
        self.publicKey = key
        self.info = CertificateInfo(
            subject: Certificate.name(X509_get_subject_name(pointer), altNames: Certificate.altNames(pointer)),
            issuer: Certificate.name(X509_get_issuer_name(pointer), altNames: nil),
            validity: validity,
            serialNumber: Certificate.serial(pointer),
            fingerprintSHA256: Digest.hex(Digest.sha256(der), uppercase: true, separator: ":"),
            signatureAlgorithm: String(cString: OBJ_nid2ln(X509_get_signature_nid(pointer))),
            isCA: X509_get_extension_flags(pointer) & UInt32(EXFLAG_CA) != 0,
            keyUsage: Certificate.keyUsage(pointer),
            extendedKeyUsage: Certificate.extendedKeyUsage(pointer),
            publicKey: key.details)
        _ = OpenSSL.drainErrors()
    }

    /// PEM text of this certificate.
    public var pem: String { PEM.encode(label: "CERTIFICATE", der: der) }

    /// True when `issuer`'s subject is this certificate's issuer name.
    public func hasIssuerName(of issuer: Certificate) -> Bool {
        X509_NAME_cmp(X509_get_issuer_name(handle.pointer), X509_get_subject_name(issuer.handle.pointer)) == 0
    }

    /// True when this certificate's signature verifies with `issuer`'s public key.
    public func isSignatureValid(signedBy issuer: Certificate) -> Bool {
        let ok = X509_verify(handle.pointer, issuer.publicKey.handle.pointer) == 1
        if !ok { _ = OpenSSL.drainErrors() }
        return ok
    }

    /// Issuer name equals subject name and the certificate verifies with its own key.
    public var isSelfSigned: Bool { hasIssuerName(of: self) && isSignatureValid(signedBy: self) }

    /// DNS names and IP addresses of the subjectAltName extension.
    public var subjectAltNames: [String] { info.subject.altNames ?? [] }

    /// True when `hostname` matches one of the DNS SANs (or IP SANs for an IP
    /// literal) by the rules of ``Hostname``. The common name is not
    /// consulted, as browsers no longer do.
    public func matches(hostname: String) -> Bool {
        Hostname.match(hostname, against: subjectAltNames) != nil
    }

    public var description: String {
        "Certificate(\(info.subject.commonName ?? "no CN"), serial \(info.serialNumber))"
    }

    public static func == (a: Certificate, b: Certificate) -> Bool { a.der == b.der }
    public func hash(into hasher: inout Hasher) { hasher.combine(der) }

    // MARK: - Field extraction

    private static func validity(_ x509: OpaquePointer) -> Validity? {
        func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date? {
            guard let time else { return nil }
            var parts = tm()
            guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
            return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
        }
        guard let since = date(X509_get0_notBefore(x509)), let until = date(X509_get0_notAfter(x509)) else { return nil }
        return Validity(since: since, until: until)
    }

    private static func name(_ name: OpaquePointer?, altNames: [String]?) -> NameInfo {
        func field(_ nid: Int32) -> String? {
            guard let name else { return nil }
            let index = X509_NAME_get_index_by_NID(name, nid, -1)
            guard index >= 0, let entry = X509_NAME_get_entry(name, index),
                let data = X509_NAME_ENTRY_get_data(entry)
            else { return nil }
            var utf8: UnsafeMutablePointer<UInt8>? = nil
            let length = ASN1_STRING_to_UTF8(&utf8, data)
            guard length >= 0, let utf8 else { return nil }
            defer { cf_openssl_free(utf8) }
            return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
        }
        return NameInfo(
            commonName: field(NID_commonName),
            altNames: altNames,
            country: field(NID_countryName),
            stateOrProvince: field(NID_stateOrProvinceName),
            organization: field(NID_organizationName))
    }

    private static func altNames(_ x509: OpaquePointer) -> [String]? {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return nil }
        let names = OpaquePointer(raw)
        defer { cf_general_names_free(names) }
        var result: [String] = []
        for i in 0..<cf_sk_general_name_num(names) {
            guard let entry = cf_sk_general_name_value(names, i) else { continue }
            var type: Int32 = 0
            guard let value = GENERAL_NAME_get0_value(entry, &type) else { continue }
            let string = value.assumingMemoryBound(to: ASN1_STRING.self)
            let count = Int(ASN1_STRING_length(string))
            guard count >= 0, let data = ASN1_STRING_get0_data(string) else { continue }
            let bytes = Array(UnsafeBufferPointer(start: data, count: count))
            switch type {
            case GEN_DNS:
                result.append(String(decoding: bytes, as: UTF8.self))
            case GEN_IPADD:
                if let text = IPAddress.format(bytes) { result.append(text) }
            default:
                continue // email, URI, directory names: not used for TLS server identity
            }
        }
        return result
    }

    private static func serial(_ x509: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(x509) else { return "" }
        let count = Int(ASN1_STRING_length(serial))
        guard count > 0, let data = ASN1_STRING_get0_data(serial) else { return "00" }
        let hex = Digest.hex(UnsafeBufferPointer(start: data, count: count), uppercase: true)
        return ASN1_STRING_type(serial) == V_ASN1_NEG_INTEGER ? "-" + hex : hex
    }

    private static let keyUsageNames: [(UInt32, String)] = [
        (UInt32(KU_DIGITAL_SIGNATURE), "digitalSignature"),
        (UInt32(KU_NON_REPUDIATION), "nonRepudiation"),
        (UInt32(KU_KEY_ENCIPHERMENT), "keyEncipherment"),
        (UInt32(KU_DATA_ENCIPHERMENT), "dataEncipherment"),
        (UInt32(KU_KEY_AGREEMENT), "keyAgreement"),
        (UInt32(KU_KEY_CERT_SIGN), "keyCertSign"),
        (UInt32(KU_CRL_SIGN), "cRLSign"),
        (UInt32(KU_ENCIPHER_ONLY), "encipherOnly"),
        (UInt32(KU_DECIPHER_ONLY), "decipherOnly"),
    ]

    private static func keyUsage(_ x509: OpaquePointer) -> [String] {
        guard X509_get_extension_flags(x509) & UInt32(EXFLAG_KUSAGE) != 0 else { return [] }
        let bits = X509_get_key_usage(x509)
        return keyUsageNames.filter { bits & $0.0 != 0 }.map(\.1)
    }

    private static func extendedKeyUsage(_ x509: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(x509, NID_ext_key_usage, nil, nil) else { return [] }
        let usages = OpaquePointer(raw)
        defer { cf_extended_key_usage_free(usages) }
        var result: [String] = []
        for i in 0..<cf_sk_asn1_object_num(usages) {
            guard let object = cf_sk_asn1_object_value(usages, i) else { continue }
            let nid = OBJ_obj2nid(object)
            if nid != NID_undef, let short = OBJ_nid2sn(nid) {
                result.append(String(cString: short))
            } else {
                var buffer = [CChar](repeating: 0, count: 128)
                let n = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
                if n > 0 { result.append(String(decoding: buffer.prefix(Int(min(n, 127))).map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
            }
        }
        return result
    }
}

/// Text forms of IP addresses in subjectAltName.
public enum IPAddress {
    /// The canonical text of an IPv4 or IPv6 literal (`2001:DB8::0:1` → `2001:db8::1`); nil otherwise.
    public static func canonical(_ text: String) -> String? { parse(text).flatMap(format) }

    /// `192.0.2.1` or RFC 5952 IPv6 text; nil for other lengths.
    static func format(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
            return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        default:
            return nil
        }
    }

    /// Bytes of an IPv4 or IPv6 literal; nil when `text` is not one.
    static func parse(_ text: String) -> [UInt8]? {
        // inet_pton would cut a Swift string at a NUL; such text is no address.
        guard !text.utf8.contains(0) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
