import COpenSSL

/// AES-256-GCM with associated data, for private keys at rest
/// (AAD = certificate id + version, so a ciphertext cannot be moved to
/// another row or version without failing to open).
///
/// The sealed form is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`, with
/// a fresh random nonce per seal.
public enum AESGCM {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16

    /// A new random 256-bit key.
    public static func generateKey() -> [UInt8] { SecureRandom.bytes(keySize) }

    /// Encrypts and authenticates `plaintext` and authenticates `associatedData`.
    public static func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8] = []) throws(X509Error) -> [UInt8] {
        try seal(plaintext, key: key, nonce: SecureRandom.bytes(nonceSize), associatedData: associatedData)
    }

    /// Seal with a caller-chosen nonce; only for known-answer tests (reusing
    /// a nonce under one key destroys GCM's security).
    static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]) throws(X509Error) -> [UInt8] {
        guard key.count == keySize else { throw .invalidArgument("an AES-256-GCM key is \(keySize) bytes, not \(key.count)") }
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        var out = nonce + [UInt8](repeating: 0, count: plaintext.count + tagSize)
        let ok = out.withUnsafeMutableBufferPointer { o -> Bool in
            var length: Int32 = 0
            let body = o.baseAddress! + nonceSize
            guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1,
                update(context, associatedData, into: nil, &length, encrypt: true),
                update(context, plaintext, into: body, &length, encrypt: true),
                EVP_EncryptFinal_ex(context, body + Int(length), &length) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), body + plaintext.count) == 1
            else { return false }
            return true
        }
        guard ok else { throw OpenSSL.failure("AES-256-GCM encryption") }
        return out
    }

    /// Verifies and decrypts what ``seal(_:key:associatedData:)`` produced.
    /// Any mismatch — key, associated data, a flipped bit — is ``X509Error/decryptFailed``.
    public static func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8] = []) throws(X509Error) -> [UInt8] {
        guard key.count == keySize else { throw .invalidArgument("an AES-256-GCM key is \(keySize) bytes, not \(key.count)") }
        guard sealed.count >= nonceSize + tagSize else { throw .decryptFailed }
        guard let context = EVP_CIPHER_CTX_new() else { throw OpenSSL.failure("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        let nonce = Array(sealed.prefix(nonceSize))
        let ciphertext = Array(sealed[nonceSize..<(sealed.count - tagSize)])
        var tag = Array(sealed.suffix(tagSize))
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
        let ok = plaintext.withUnsafeMutableBufferPointer { p -> Bool in
            var length: Int32 = 0
            var scratch: UInt8 = 0
            let target = p.baseAddress ?? withUnsafeMutablePointer(to: &scratch) { $0 }
            guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, key, nonce) == 1,
                update(context, associatedData, into: nil, &length, encrypt: false),
                update(context, ciphertext, into: target, &length, encrypt: false),
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), &tag) == 1
            else { return false }
            return EVP_DecryptFinal_ex(context, target + Int(length), &length) == 1
        }
        guard ok else {
            _ = OpenSSL.drainErrors()
            throw .decryptFailed
        }
        return plaintext
    }

    /// Feeds `input` (AAD when `output` is nil). Empty input is skipped:
    /// OpenSSL treats a NULL data pointer specially.
    private static func update(
        _ context: OpaquePointer, _ input: [UInt8], into output: UnsafeMutablePointer<UInt8>?,
        _ length: inout Int32, encrypt: Bool
    ) -> Bool {
        length = 0
        guard !input.isEmpty else { return true }
        return input.withUnsafeBufferPointer { i in
            encrypt
                ? EVP_EncryptUpdate(context, output, &length, i.baseAddress, Int32(i.count)) == 1
                : EVP_DecryptUpdate(context, output, &length, i.baseAddress, Int32(i.count)) == 1
        }
    }
}
