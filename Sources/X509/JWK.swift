import COpenSSL

/// A public JSON Web Key (RFC 7517) as ACME puts it in the `jwk` header.
/// Members that do not apply to the key type are nil and omitted from JSON.
public struct JWK: Codable, Sendable, Hashable {
    /// `RSA`, `EC` or `OKP`.
    public var kty: String
    /// `P-256`, `P-384`, `P-521` (EC) or `Ed25519` (OKP).
    public var crv: String?
    public var x: String?
    public var y: String?
    public var n: String?
    public var e: String?

    public init(kty: String, crv: String? = nil, x: String? = nil, y: String? = nil, n: String? = nil, e: String? = nil) {
        self.kty = kty
        self.crv = crv
        self.x = x
        self.y = y
        self.n = n
        self.e = e
    }

    /// The RFC 7638 input: required members only, in lexicographic order, no whitespace.
    public var canonicalJSON: String {
        func member(_ name: String, _ value: String?) -> String { "\"\(name)\":\"\(value ?? "")\"" }
        switch kty {
        case "RSA": return "{\(member("e", e)),\(member("kty", kty)),\(member("n", n))}"
        case "EC": return "{\(member("crv", crv)),\(member("kty", kty)),\(member("x", x)),\(member("y", y))}"
        default: return "{\(member("crv", crv)),\(member("kty", kty)),\(member("x", x))}"
        }
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(canonical JSON)). ACME uses
    /// it in key authorizations (`token.thumbprint`).
    public var thumbprint: String { Base64URL.encode(Digest.sha256(Array(canonicalJSON.utf8))) }
}

extension PublicKey {
    /// The key as a JWK.
    public func jwk() throws(X509Error) -> JWK {
        let key = handle.pointer
        switch details.type {
        case .rsa:
            return JWK(
                kty: "RSA", n: Base64URL.encode(try Self.parameter(key, "n")), e: Base64URL.encode(try Self.parameter(key, "e")))
        case .ec:
            guard let curve = details.curve else { throw .unsupportedKey(details.summary) }
            // Coordinates are fixed-width (RFC 7518 section 6.2.1.2): pad to the field size.
            let width = (details.bits + 7) / 8
            return JWK(
                kty: "EC", crv: curve,
                x: Base64URL.encode(try Self.parameter(key, "qx", width: width)),
                y: Base64URL.encode(try Self.parameter(key, "qy", width: width)))
        case .ed25519:
            var raw = [UInt8](repeating: 0, count: 32)
            var length = raw.count
            guard EVP_PKEY_get_raw_public_key(key, &raw, &length) == 1, length == 32 else {
                throw OpenSSL.failure("Ed25519 public key")
            }
            return JWK(kty: "OKP", crv: "Ed25519", x: Base64URL.encode(raw))
        case .other:
            throw .unsupportedKey(details.summary)
        }
    }

    private static func parameter(_ key: OpaquePointer, _ name: String, width: Int? = nil) throws(X509Error) -> [UInt8] {
        var bn: OpaquePointer? = nil
        guard EVP_PKEY_get_bn_param(key, name, &bn) == 1, let bn else { throw OpenSSL.failure("key parameter \(name)") }
        defer { BN_free(bn) }
        return OpenSSL.bytes(of: bn, width: width)
    }
}
