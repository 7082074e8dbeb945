import COpenSSL
import Foundation

/// JOSE signature algorithms CertFleet signs with.
public enum JWSAlgorithm: String, Codable, Sendable, Hashable {
    case es256 = "ES256"
    case es384 = "ES384"
    case rs256 = "RS256"
    case edDSA = "EdDSA"
    case hs256 = "HS256"
}

/// A JWS in the flattened JSON serialization (RFC 7515 section 7.2.2), the
/// form ACME requests use.
public struct FlattenedJWS: Codable, Sendable, Hashable {
    /// base64url of the protected header JSON.
    public var protected: String
    /// base64url of the payload (empty for ACME POST-as-GET).
    public var payload: String
    /// base64url of the signature.
    public var signature: String

    public init(protected: String, payload: String, signature: String) {
        self.protected = protected
        self.payload = payload
        self.signature = signature
    }

    /// `protected.payload`, the bytes the signature covers.
    public var signingInput: [UInt8] { Array("\(protected).\(payload)".utf8) }
}

/// JWS signing for ACME (RFC 7515, RFC 8555 section 6.2).
public enum JWS {
    /// The algorithm for `key`: ES256 (P-256), ES384 (P-384), RS256 (RSA), EdDSA (Ed25519).
    public static func algorithm(for key: PrivateKey) throws(X509Error) -> JWSAlgorithm {
        switch (key.details.type, key.details.curve) {
        case (.rsa, _): .rs256
        case (.ec, "P-256"): .es256
        case (.ec, "P-384"): .es384
        case (.ed25519, _): .edDSA
        default: throw .unsupportedKey("\(key.details.summary) has no JWS algorithm CertFleet uses")
        }
    }

    /// The JOSE signature over `signingInput`: for ECDSA the fixed-width
    /// `r ‖ s` of RFC 7518 section 3.4, not OpenSSL's DER.
    public static func signature(signingInput: [UInt8], key: PrivateKey) throws(X509Error) -> [UInt8] {
        switch try algorithm(for: key) {
        case .es256: return try rawECDSA(key.signECDSA(signingInput, digest: .sha256), width: 32)
        case .es384: return try rawECDSA(key.signECDSA(signingInput, digest: .sha384), width: 48)
        case .rs256: return try key.sign(signingInput, digest: .sha256)
        case .edDSA: return try key.sign(signingInput, digest: nil)
        case .hs256: throw .invalidArgument("HS256 signs with a MAC key, not a private key")
        }
    }

    /// Signs `payload` under `protectedHeader` (JSON bytes).
    public static func sign(protectedHeader: [UInt8], payload: [UInt8], key: PrivateKey) throws(X509Error) -> FlattenedJWS {
        let protected = Base64URL.encode(protectedHeader)
        let encodedPayload = Base64URL.encode(payload)
        let signature = try signature(signingInput: Array("\(protected).\(encodedPayload)".utf8), key: key)
        return FlattenedJWS(protected: protected, payload: encodedPayload, signature: Base64URL.encode(signature))
    }

    /// An ACME request body. Pass `keyID` (the account URL) once the account
    /// exists; without it the header carries the public key as `jwk`
    /// (newAccount, revokeCert by certificate key). A nil `payload` is
    /// POST-as-GET (empty payload).
    public static func acme(
        payload: [UInt8]?, url: String, nonce: String, key: PrivateKey, keyID: String? = nil
    ) throws(X509Error) -> FlattenedJWS {
        let header = ProtectedHeader(
            alg: try algorithm(for: key).rawValue,
            jwk: keyID == nil ? try key.publicKey.jwk() : nil,
            kid: keyID, nonce: nonce, url: url)
        return try sign(protectedHeader: try header.json(), payload: payload ?? [], key: key)
    }

    /// The `externalAccountBinding` member of a newAccount request
    /// (RFC 8555 section 7.3.4): the account's JWK signed with HS256 under
    /// the CA-issued MAC key.
    public static func externalAccountBinding(
        accountKey: PublicKey, keyID: String, macKey: [UInt8], url: String
    ) throws(X509Error) -> FlattenedJWS {
        guard !macKey.isEmpty else { throw .invalidArgument("the EAB MAC key is empty") }
        let header = ProtectedHeader(alg: JWSAlgorithm.hs256.rawValue, jwk: nil, kid: keyID, nonce: nil, url: url)
        let payload: [UInt8]
        do {
            payload = Array(try ProtectedHeader.encoder.encode(try accountKey.jwk()))
        } catch let error as X509Error {
            throw error
        } catch {
            throw .invalidArgument("the account key cannot be encoded as JSON")
        }
        let protected = Base64URL.encode(try header.json())
        let encodedPayload = Base64URL.encode(payload)
        let mac = Digest.hmacSHA256(key: macKey, data: Array("\(protected).\(encodedPayload)".utf8))
        return FlattenedJWS(protected: protected, payload: encodedPayload, signature: Base64URL.encode(mac))
    }

    /// OpenSSL's DER `ECDSA-Sig-Value` → JOSE `r ‖ s`.
    static func rawECDSA(_ der: [UInt8], width: Int) throws(X509Error) -> [UInt8] {
        let result: [UInt8]? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let signature = d2i_ECDSA_SIG(nil, &cursor, buffer.count) else { return nil }
            defer { ECDSA_SIG_free(signature) }
            guard let r = ECDSA_SIG_get0_r(signature), let s = ECDSA_SIG_get0_s(signature) else { return nil }
            let rBytes = OpenSSL.bytes(of: r, width: width), sBytes = OpenSSL.bytes(of: s, width: width)
            guard rBytes.count == width, sBytes.count == width else { return nil }
            return rBytes + sBytes
        }
        guard let result else { throw OpenSSL.failure("ECDSA signature conversion") }
        return result
    }

    /// The protected header members ACME uses, encoded with sorted keys.
    struct ProtectedHeader: Encodable {
        var alg: String
        var jwk: JWK?
        var kid: String?
        var nonce: String?
        var url: String

        static var encoder: JSONEncoder {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return encoder
        }

        func json() throws(X509Error) -> [UInt8] {
            do { return Array(try Self.encoder.encode(self)) } catch {
                throw .invalidArgument("the JWS header cannot be encoded as JSON")
            }
        }
    }
}
