import COpenSSL

/// What ACME renewal information (RFC 9773) needs from a certificate.
extension Certificate {
    /// The authority key identifier's `keyIdentifier` bytes, nil when absent.
    public var authorityKeyIdentifier: [UInt8]? {
        // The extension flags are cached at parse time, so this only reads.
        guard let octets = X509_get0_authority_key_id(handle.pointer) else { return nil }
        let count = Int(ASN1_STRING_length(octets))
        guard count > 0, let data = ASN1_STRING_get0_data(octets) else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: count))
    }

    /// The serial number as the content octets of its DER INTEGER (two's
    /// complement, a leading zero when the high bit is set), as ARI's
    /// certificate identifier encodes it.
    public var serialNumberDERContent: [UInt8] {
        guard let serial = X509_get0_serialNumber(handle.pointer) else { return [0] }
        let count = Int(ASN1_STRING_length(serial))
        guard count > 0, let data = ASN1_STRING_get0_data(serial) else { return [0] }
        var bytes = Array(UnsafeBufferPointer(start: data, count: count))
        while bytes.count > 1, bytes[0] == 0 { bytes.removeFirst() }
        if let first = bytes.first, first & 0x80 != 0 { bytes.insert(0, at: 0) }
        return bytes
    }
}
