import COpenSSL
import COpenSSLShim

/// The algorithm family of a key.
public enum KeyType: String, Codable, Sendable, Hashable {
    case rsa = "RSA"
    case ec = "EC"
    case ed25519 = "Ed25519"
    /// Found in a certificate of the chain but not usable for CertFleet's own keys (DSA, Ed448 …).
    case other = "other"
}

/// What a key is, structured and as the text NGINX Unit shows
/// (`RSA (2048 bits)`, `ECDSA (P-256)`, `Ed25519`).
public struct KeyDetails: Codable, Sendable, Hashable {
    public var type: KeyType
    /// Key size in bits (the curve's field size for EC).
    public var bits: Int
    /// `P-256`, `P-384` or `P-521` for EC keys.
    public var curve: String?
    /// Human text: `RSA (2048 bits)`, `ECDSA (P-256)`, `Ed25519`.
    public var summary: String

    public init(type: KeyType, bits: Int, curve: String?, summary: String) {
        self.type = type
        self.bits = bits
        self.curve = curve
        self.summary = summary
    }

    /// True for the keys CertFleet can use for TLS and ACME.
    public var isSupported: Bool {
        switch type {
        case .rsa: bits >= 1024 && bits <= 16384
        case .ec: curve != nil
        case .ed25519: true
        case .other: false
        }
    }

    static func of(_ pkey: OpaquePointer) -> KeyDetails {
        let bits = Int(EVP_PKEY_get_bits(pkey))
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS:
            return KeyDetails(type: .rsa, bits: bits, curve: nil, summary: "RSA (\(bits) bits)")
        case EVP_PKEY_EC:
            var buffer = [CChar](repeating: 0, count: 64)
            var length = 0
            var group = "unknown"
            if EVP_PKEY_get_group_name(pkey, &buffer, buffer.count, &length) == 1 {
                group = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            let curve = ["prime256v1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"][group]
            return KeyDetails(type: .ec, bits: bits, curve: curve, summary: "ECDSA (\(curve ?? group))")
        case EVP_PKEY_ED25519:
            return KeyDetails(type: .ed25519, bits: bits, curve: nil, summary: "Ed25519")
        default:
            let name = EVP_PKEY_get0_type_name(pkey).map { String(cString: $0) } ?? "unknown"
            return KeyDetails(type: .other, bits: bits, curve: nil, summary: "\(name) (\(bits) bits)")
        }
    }
}

/// The keys CertFleet generates.
public enum KeySpec: String, Codable, Sendable, Hashable, CaseIterable {
    case rsa2048 = "rsa-2048"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"
    case ecP256 = "ec-p256"
    case ecP384 = "ec-p384"
    case ed25519 = "ed25519"
}

/// A private key. Its `description` names the algorithm only; key material
/// leaves this type only through the explicit export functions.
public struct PrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let handle: PKeyHandle
    /// Algorithm, size and curve.
    public let details: KeyDetails

    init(handle: PKeyHandle) {
        self.handle = handle
        self.details = KeyDetails.of(handle.pointer)
    }

    /// Generates a new key from OpenSSL's DRBG.
    public static func generate(_ spec: KeySpec) throws(X509Error) -> PrivateKey {
        let pointer: OpaquePointer? =
            switch spec {
            case .rsa2048: cf_keygen_rsa(2048)
            case .rsa3072: cf_keygen_rsa(3072)
            case .rsa4096: cf_keygen_rsa(4096)
            case .ecP256: cf_keygen_ec("P-256")
            case .ecP384: cf_keygen_ec("P-384")
            case .ed25519: cf_keygen_ed25519()
            }
        guard let pointer else { throw OpenSSL.failure("key generation (\(spec.rawValue))") }
        return PrivateKey(handle: PKeyHandle(pointer))
    }

    /// Reads the single private key in PEM text: PKCS#8 (`PRIVATE KEY`,
    /// `ENCRYPTED PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`).
    public init(pem: String, passphrase: String? = nil) throws(X509Error) {
        let blocks = try PEM.blocks(in: Array(pem.utf8), limits: .default)
        let keys = blocks.filter { PrivateKey.pemLabels.contains($0.label) }
        guard let block = keys.first else { throw .keyMissing }
        guard keys.count == 1 else { throw .pemInvalid(block: keys[1].index, reason: "more than one private key") }
        self = try PrivateKey.read(block, passphrase: passphrase)
    }

    /// Reads an unencrypted private key in DER (PKCS#8, or PKCS#1/SEC1).
    public init(der: [UInt8]) throws(X509Error) {
        let pointer: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let key = d2i_AutoPrivateKey(nil, &cursor, buffer.count) else { return nil }
            // Trailing bytes mean the input was not one key.
            if cursor != buffer.baseAddress.map({ $0 + buffer.count }) { EVP_PKEY_free(key); return nil }
            return key
        }
        guard let pointer else {
            _ = OpenSSL.drainErrors()
            throw .invalidArgument("the bytes are not a DER private key")
        }
        self.init(handle: PKeyHandle(pointer))
        guard details.isSupported else { throw .unsupportedKey(details.summary) }
    }

    /// PEM labels that hold a private key.
    static let pemLabels: Set<String> = ["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]

    /// Decodes one PEM block; never prompts for a passphrase.
    static func read(_ block: PEMBlock, passphrase: String?) throws(X509Error) -> PrivateKey {
        if let der = block.der, let pointer = decodeTyped(der, label: block.label) {
            let key = PrivateKey(handle: PKeyHandle(pointer))
            guard key.details.isSupported else { throw .unsupportedKey(key.details.summary) }
            return key
        }
        var asked: Int32 = 0
        let pointer = try OpenSSL.withReadBIO(block.text) { bio throws(X509Error) -> OpaquePointer? in
            if let passphrase {
                // The trailing NUL keeps the buffer non-empty, so its address exists even for "".
                let bytes = Array(passphrase.utf8) + [0]
                return bytes.withUnsafeBufferPointer { p in
                    p.withMemoryRebound(to: CChar.self) { cf_read_private_key(bio, $0.baseAddress, $0.count - 1, &asked) }
                }
            }
            return cf_read_private_key(bio, nil, 0, &asked)
        }
        guard let pointer else {
            _ = OpenSSL.drainErrors()
            if asked != 0 { throw .keyEncrypted(passphraseSupplied: passphrase != nil) }
            throw .pemInvalid(block: block.index, reason: "the \(block.label) block is not a readable private key")
        }
        let key = PrivateKey(handle: PKeyHandle(pointer))
        guard key.details.isSupported else { throw .unsupportedKey(key.details.summary) }
        return key
    }

    /// Fast path for unencrypted keys: OpenSSL 3.0 tries every decoder when
    /// the key type is unknown (about 0.5 ms for RSA); naming the type first
    /// (from the label, or the PKCS#8 algorithm) makes it about 4x faster.
    /// Nil sends the caller to the general reader, which also reports errors.
    private static func decodeTyped(_ der: [UInt8], label: String) -> OpaquePointer? {
        let type: Int32
        switch label {
        case "RSA PRIVATE KEY": type = EVP_PKEY_RSA
        case "EC PRIVATE KEY": type = EVP_PKEY_EC
        case "PRIVATE KEY":
            guard let nid = pkcs8AlgorithmNID(der) else { return nil }
            switch nid {
            case NID_rsaEncryption: type = EVP_PKEY_RSA
            case NID_X9_62_id_ecPublicKey: type = EVP_PKEY_EC
            case NID_ED25519: type = EVP_PKEY_ED25519
            default: return nil
            }
        default: return nil
        }
        let key: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            guard let key = d2i_PrivateKey(type, nil, &cursor, buffer.count) else { return nil }
            if cursor != buffer.baseAddress.map({ $0 + buffer.count }) { EVP_PKEY_free(key); return nil }
            return key
        }
        if key == nil { _ = OpenSSL.drainErrors() }
        return key
    }

    /// The algorithm NID of an unencrypted PKCS#8 PrivateKeyInfo.
    private static func pkcs8AlgorithmNID(_ der: [UInt8]) -> Int32? {
        der.withUnsafeBufferPointer { buffer -> Int32? in
            var cursor = buffer.baseAddress
            guard let info = d2i_PKCS8_PRIV_KEY_INFO(nil, &cursor, buffer.count) else {
                _ = OpenSSL.drainErrors()
                return nil
            }
            defer { PKCS8_PRIV_KEY_INFO_free(info) }
            var algorithm: UnsafePointer<X509_ALGOR>? = nil
            guard PKCS8_pkey_get0(nil, nil, nil, &algorithm, info) == 1, let algorithm else { return nil }
            var object: OpaquePointer? = nil
            X509_ALGOR_get0(&object, nil, nil, algorithm)
            return object.map { OBJ_obj2nid($0) }
        }
    }

    /// Unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    public func pkcs8PEM() -> String {
        PEM.encode(label: "PRIVATE KEY", der: pkcs8DER())
    }

    /// PKCS#8 PEM encrypted with AES-256-CBC under `passphrase` (PBES2, PBKDF2).
    public func pkcs8PEM(passphrase: String) throws(X509Error) -> String {
        let bytes = Array(passphrase.utf8)
        guard !bytes.isEmpty else { throw .invalidArgument("the passphrase is empty") }
        let out = OpenSSL.writeBIO { bio in
            bytes.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) {
                    PEM_write_bio_PKCS8PrivateKey(bio, handle.pointer, EVP_aes_256_cbc(), $0.baseAddress, Int32($0.count), nil, nil)
                }
            }
        }
        guard let out else { throw OpenSSL.failure("PKCS#8 encryption") }
        return String(decoding: out, as: UTF8.self)
    }

    /// Unencrypted PKCS#8 DER.
    public func pkcs8DER() -> [UInt8] {
        let out = OpenSSL.writeBIO { bio in i2d_PKCS8PrivateKey_bio(bio, handle.pointer, nil, nil, 0, nil, nil) }
        // Encoding a key we hold cannot fail short of memory exhaustion.
        guard let out else { preconditionFailure("PKCS#8 encoding failed: \(OpenSSL.drainErrors())") }
        return out
    }

    /// The matching public key.
    public var publicKey: PublicKey { PublicKey(handle: handle, details: details) }

    /// True when `certificate` carries this key's public half.
    public func matches(_ certificate: Certificate) -> Bool {
        EVP_PKEY_eq(handle.pointer, certificate.publicKey.handle.pointer) == 1
    }

    public var description: String { "PrivateKey(\(details.summary))" }
    public var debugDescription: String { description }

    /// ECDSA over `message` hashed with `digest`, DER-encoded. Hashing first and
    /// signing the digest skips the per-call digest fetch of EVP_DigestSignInit
    /// in OpenSSL 3.0 (about 15 % of an ES256 signature).
    func signECDSA(_ message: [UInt8], digest: DigestAlgorithm) throws(X509Error) -> [UInt8] {
        let hash = digest == .sha256 ? Digest.sha256(message) : Digest.sha384(message)
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, handle.pointer, nil) else {
            throw OpenSSL.failure("EVP_PKEY_CTX_new_from_pkey")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var length = 0
        guard EVP_PKEY_sign_init(context) == 1, EVP_PKEY_sign(context, nil, &length, hash, hash.count) == 1 else {
            throw OpenSSL.failure("EVP_PKEY_sign_init")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard signature.withUnsafeMutableBufferPointer({ EVP_PKEY_sign(context, $0.baseAddress, &length, hash, hash.count) }) == 1 else {
            throw OpenSSL.failure("EVP_PKEY_sign")
        }
        return Array(signature.prefix(length))
    }

    /// Signs `message` (hashing it with `digest`; nil for Ed25519, which hashes
    /// internally). ECDSA signatures come back DER-encoded, as OpenSSL makes them.
    func sign(_ message: [UInt8], digest: DigestAlgorithm?) throws(X509Error) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw OpenSSL.failure("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, digest?.md, nil, handle.pointer) == 1 else {
            throw OpenSSL.failure("EVP_DigestSignInit")
        }
        var length = 0
        let ok = message.withUnsafeBufferPointer { m -> [UInt8]? in
            guard EVP_DigestSign(context, nil, &length, m.baseAddress, m.count) == 1 else { return nil }
            var signature = [UInt8](repeating: 0, count: length)
            guard
                signature.withUnsafeMutableBufferPointer({
                    EVP_DigestSign(context, $0.baseAddress, &length, m.baseAddress, m.count)
                }) == 1
            else { return nil }
            return Array(signature.prefix(length))
        }
        guard let ok else { throw OpenSSL.failure("EVP_DigestSign") }
        return ok
    }
}

/// Hash functions used for signatures.
enum DigestAlgorithm {
    case sha256, sha384
    var md: OpaquePointer? { self == .sha256 ? FetchedDigest.sha256.pointer : FetchedDigest.sha384.pointer }
}

/// A public key (from a certificate, a CSR or a private key).
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    let handle: PKeyHandle
    /// Algorithm, size and curve.
    public let details: KeyDetails

    init(handle: PKeyHandle, details: KeyDetails) {
        self.handle = handle
        self.details = details
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo) block.
    public init(pem: String) throws(X509Error) {
        let blocks = try PEM.blocks(in: Array(pem.utf8), limits: .default)
        guard let block = blocks.first(where: { $0.label == "PUBLIC KEY" }), let der = block.der else {
            throw .invalidArgument("no PUBLIC KEY block")
        }
        try self.init(spkiDER: der)
    }

    /// Reads DER SubjectPublicKeyInfo.
    public init(spkiDER der: [UInt8]) throws(X509Error) {
        let pointer: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let pointer else {
            _ = OpenSSL.drainErrors()
            throw .invalidArgument("the bytes are not a DER SubjectPublicKeyInfo")
        }
        let handle = PKeyHandle(pointer)
        self.init(handle: handle, details: KeyDetails.of(pointer))
    }

    /// DER SubjectPublicKeyInfo.
    public var spkiDER: [UInt8] {
        guard let der = OpenSSL.der({ i2d_PUBKEY(handle.pointer, $0) }) else {
            preconditionFailure("SubjectPublicKeyInfo encoding failed: \(OpenSSL.drainErrors())")
        }
        return der
    }

    /// PEM SubjectPublicKeyInfo (`-----BEGIN PUBLIC KEY-----`).
    public var pem: String { PEM.encode(label: "PUBLIC KEY", der: spkiDER) }

    public var description: String { "PublicKey(\(details.summary))" }

    public static func == (a: PublicKey, b: PublicKey) -> Bool {
        a.handle === b.handle || EVP_PKEY_eq(a.handle.pointer, b.handle.pointer) == 1
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(spkiDER) }
}
