import CertFleetCore
import Foundation

/// Every failure the X509 module reports: a closed set with stable string
/// codes (``code``) that the API and job records expose, and a message a
/// person can act on (``message``).
///
/// No case carries key material, passphrases or secret bytes, so
/// `description` is safe to log and to return to API callers.
public enum X509Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// PEM block `block` (0-based, counting every `-----BEGIN` line) is malformed.
    case pemInvalid(block: Int, reason: String)
    /// The input holds no certificate.
    case noCertificate
    /// A private key is required but none was supplied.
    case keyMissing
    /// The private key does not belong to the leaf certificate.
    case keyMismatch
    /// The private key is encrypted and no (or a wrong) passphrase was supplied.
    case keyEncrypted(passphraseSupplied: Bool)
    /// The certificates do not form one chain; `index` is the certificate's
    /// 0-based position in the input.
    case chainBroken(index: Int, reason: String)
    /// Strict validation only: the chain was not uploaded leaf first, each
    /// certificate followed by its issuer.
    case chainOrder
    /// Chain certificate `index` (0-based, leaf = 0) is not valid before `since`.
    case notYetValid(index: Int, since: Date)
    /// Chain certificate `index` (0-based, leaf = 0) expired at `until`.
    case expired(index: Int, until: Date)
    /// A key of an algorithm, size or curve CertFleet does not handle.
    case unsupportedKey(String)
    /// More certificates than the configured cap.
    case tooManyCertificates(count: Int, limit: Int)
    /// The input (or its number of PEM blocks) exceeds the configured cap.
    case tooLarge(what: String, size: Int, limit: Int)
    /// AES-GCM authentication failed: wrong key, wrong associated data, or
    /// tampered ciphertext.
    case decryptFailed
    /// An argument is malformed (key length, hostname, empty SAN list …).
    case invalidArgument(String)
    /// OpenSSL failed where it should not; carries OpenSSL's own error text.
    case cryptoFailure(String)
    /// A name field of certificate INDEX holds a NUL character (the null-prefix trick; no
    /// store can keep it as text). FIELD: `subject.common_name`, `subject.alt_names`, …
    case nulInName(index: Int, field: String)

    /// The stable machine-readable code.
    public var code: String {
        switch self {
        case .pemInvalid: "pem_invalid"
        case .noCertificate: "no_certificate"
        case .keyMissing: "key_missing"
        case .keyMismatch: "key_mismatch"
        case .keyEncrypted: "key_encrypted"
        case .chainBroken: "chain_broken"
        case .chainOrder: "chain_order"
        case .notYetValid: "not_yet_valid"
        case .expired: "expired"
        case .unsupportedKey: "unsupported_key"
        case .tooManyCertificates: "too_many_certificates"
        case .tooLarge: "too_large"
        case .decryptFailed: "decrypt_failed"
        case .invalidArgument: "invalid_argument"
        case .cryptoFailure: "crypto_failure"
        case .nulInName(_, let field): "nul_in_" + field.replacingOccurrences(of: ".", with: "_")
        }
    }

    /// A sentence saying what is wrong and what to do about it.
    public var message: String {
        switch self {
        case .pemInvalid(let block, let reason):
            "PEM block \(block + 1) (counting from 1) is invalid: \(reason). Upload the PEM text exactly as issued."
        case .noCertificate:
            "No certificate found. Upload PEM text with at least one -----BEGIN CERTIFICATE----- block."
        case .keyMissing:
            "No private key found. Add the leaf certificate's private key as a PEM block."
        case .keyMismatch:
            "The private key does not belong to the leaf certificate. Upload the key the certificate was issued for."
        case .keyEncrypted(let supplied):
            supplied
                ? "The private key could not be decrypted with the passphrase given. Check the passphrase."
                : "The private key is encrypted. Supply its passphrase or upload it unencrypted."
        case .chainBroken(let index, let reason):
            "Certificate \(index + 1) of the upload (counting from 1) does not fit the chain: \(reason). Upload only the leaf and its issuers."
        case .chainOrder:
            "The chain is out of order. Upload the leaf first, then each certificate's issuer."
        case .notYetValid(let index, let since):
            "Certificate \(index + 1) of the chain is not valid before \(RFC3339.format(since)). Check the system clock or wait."
        case .expired(let index, let until):
            "Certificate \(index + 1) of the chain expired at \(RFC3339.format(until)). Renew it and upload the new one."
        case .unsupportedKey(let what):
            "Unsupported key: \(what). Use RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519."
        case .tooManyCertificates(let count, let limit):
            "The upload holds \(count) certificates; at most \(limit) are accepted. Remove unrelated certificates."
        case .tooLarge(let what, let size, let limit):
            "The \(what) is \(size), above the limit of \(limit). Upload only the leaf, its chain and its key."
        case .decryptFailed:
            "Decryption failed: wrong key, wrong associated data or corrupted ciphertext."
        case .invalidArgument(let what):
            "Invalid argument: \(what)."
        case .cryptoFailure(let detail):
            "OpenSSL failed: \(detail)."
        case .nulInName(let index, let field):
            "Certificate \(index + 1) of the upload (counting from 1) has a NUL character in its \(field); such names are refused."
        }
    }

    public var description: String { "\(code): \(message)" }
}
