import COpenSSL

/// Hashes, HMAC and randomness from OpenSSL.
public enum Digest {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        hash(Array(bytes), FetchedDigest.sha256.pointer, 32)
    }

    /// SHA-384 of `bytes` (48 bytes).
    public static func sha384<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        hash(Array(bytes), FetchedDigest.sha384.pointer, 48)
    }

    /// HMAC-SHA256 (RFC 2104), as ACME External Account Binding uses with `HS256`.
    public static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        hmac(EVP_sha256(), 32, key: key, data: data)
    }

    /// HMAC-SHA512 (RFC 2104), as TSIG's `hmac-sha512` uses it (RFC 8945).
    public static func hmacSHA512(key: [UInt8], data: [UInt8]) -> [UInt8] {
        hmac(EVP_sha512(), 64, key: key, data: data)
    }

    private static func hmac(_ md: OpaquePointer?, _ size: Int, key: [UInt8], data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var length: UInt32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                out.withUnsafeMutableBufferPointer { o in
                    // An empty key is legal HMAC; OpenSSL wants a non-NULL pointer for it.
                    HMAC(
                        md, k.baseAddress ?? UnsafePointer(o.baseAddress!), Int32(k.count),
                        d.baseAddress ?? UnsafePointer(o.baseAddress!), d.count, o.baseAddress, &length) != nil
                }
            }
        }
        precondition(ok && Int(length) == size, "HMAC failed: \(OpenSSL.drainErrors())")
        return out
    }

    /// Lower-case hex of `bytes`.
    public static func hex<C: Collection>(_ bytes: C, uppercase: Bool = false, separator: String = "") -> String
    where C.Element == UInt8 {
        let digits = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
        var out = ""
        out.reserveCapacity(bytes.count * (2 + separator.count))
        for (i, byte) in bytes.enumerated() {
            if i > 0 { out += separator }
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte >> 4)]))
            out.unicodeScalars.append(Unicode.Scalar(digits[Int(byte & 0xF)]))
        }
        return out
    }

    private static func hash(_ bytes: [UInt8], _ md: OpaquePointer?, _ size: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBufferPointer { b in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(b.baseAddress, b.count, o.baseAddress, &length, md, nil) == 1
            }
        }
        // Hashing cannot fail short of memory exhaustion; failing loudly beats a wrong digest.
        precondition(ok && Int(length) == size, "digest failed: \(OpenSSL.drainErrors())")
        return out
    }
}

/// A digest implementation fetched once: `EVP_sha256()` makes OpenSSL 3 look
/// the implementation up again on every use, a visible cost per signature.
final class FetchedDigest: @unchecked Sendable {
    // Sendable: a fetched EVP_MD is immutable and reference-counted by OpenSSL.
    let pointer: OpaquePointer

    private init(_ name: String) {
        guard let md = EVP_MD_fetch(nil, name, nil) else { preconditionFailure("OpenSSL has no \(name)") }
        pointer = md
    }

    static let sha256 = FetchedDigest("SHA256")
    static let sha384 = FetchedDigest("SHA384")
}

/// Cryptographically secure random bytes (OpenSSL's DRBG, seeded from the OS).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0)
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) == 1 }
        // Without randomness no key, nonce or token is safe; stopping is the only honest answer.
        precondition(ok, "RAND_bytes failed: \(OpenSSL.drainErrors())")
        return out
    }
}

/// base64url without padding (RFC 4648 section 5), as JOSE and ACME use it.
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes without `=` padding.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        Base64.encode(Array(bytes), alphabet: alphabet, pad: false)
    }

    /// Decodes unpadded base64url; nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        Base64.decode(text.utf8, urlSafe: true)
    }
}
