import Foundation
import X509

/// Encrypts private keys at rest with AES-256-GCM under a master key that never
/// comes from the database (a file or an environment variable).
///
/// The associated data binds a sealed key to its certificate id and version, so a
/// sealed blob copied to another row does not open. Several master keys may be
/// loaded (rotation): new seals use `currentKeyID`, old ones open with their own id.
public struct KeySealer: Sendable {
    public let currentKeyID: String
    private let keys: [String: [UInt8]]

    /// Loads the master key from `CERTFLEET_MASTER_KEY_FILE` (a file holding 32 bytes, raw
    /// or base64) or `CERTFLEET_MASTER_KEY` (base64), plus older keys from
    /// `CERTFLEET_MASTER_KEY_PREVIOUS_FILES` (comma-separated) for rotation.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> KeySealer {
        var material: [[UInt8]] = []
        if let path = environment["CERTFLEET_MASTER_KEY_FILE"], !path.isEmpty {
            material.append(try readKeyFile(path))
        } else if let text = environment["CERTFLEET_MASTER_KEY"], !text.isEmpty {
            guard let key = decodeKey(Array(text.utf8)) else { throw KeySealerError.badMasterKey("CERTFLEET_MASTER_KEY") }
            material.append(key)
        } else {
            throw KeySealerError.noMasterKey
        }
        for path in (environment["CERTFLEET_MASTER_KEY_PREVIOUS_FILES"] ?? "").split(separator: ",") {
            material.append(try readKeyFile(String(path)))
        }
        return KeySealer(keys: material)
    }

    /// A sealer over raw 32-byte keys; the first is current.
    public init(keys: [[UInt8]]) {
        precondition(!keys.isEmpty && keys.allSatisfy { $0.count == AESGCM.keySize })
        var table: [String: [UInt8]] = [:]
        for key in keys { table[Self.keyID(key)] = key }
        self.keys = table
        self.currentKeyID = Self.keyID(keys[0])
    }

    /// A key's public identifier: the first 16 hex digits of SHA-256 of the key. Safe to store.
    public static func keyID(_ key: [UInt8]) -> String {
        Digest.hex(Digest.sha256(key).prefix(8))
    }

    /// Seals PLAINTEXT for certificate ID at VERSION (or any other owner, via `context`).
    public func seal(_ plaintext: [UInt8], context: String) throws -> (sealed: [UInt8], keyID: String) {
        (try AESGCM.seal(plaintext, key: keys[currentKeyID]!, associatedData: Array(context.utf8)), currentKeyID)
    }

    /// Opens what `seal` produced with the same context.
    public func open(_ sealed: [UInt8], keyID: String, context: String) throws -> [UInt8] {
        guard let key = keys[keyID] else { throw KeySealerError.unknownMasterKey(keyID) }
        return try AESGCM.open(sealed, key: key, associatedData: Array(context.utf8))
    }

    /// An HMAC-SHA-256 of DATA under a key derived from the current master key for PURPOSE
    /// (API cursors): tokens the API hands out that a client must not be able to alter.
    public func authenticate(_ data: [UInt8], purpose: String) -> [UInt8] {
        Self.mac(data, purpose: purpose, key: keys[currentKeyID]!)
    }

    /// Whether TAG is `authenticate(DATA, PURPOSE)` under any loaded master key (a rotation
    /// keeps tokens made under the previous key valid).
    public func verify(_ tag: [UInt8], for data: [UInt8], purpose: String) -> Bool {
        keys.values.contains { key in
            let expected = Self.mac(data, purpose: purpose, key: key).prefix(tag.count)
            return tag.count >= 16 && zip(expected, tag).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
        }
    }

    private static func mac(_ data: [UInt8], purpose: String, key: [UInt8]) -> [UInt8] {
        Digest.hmacSHA256(key: Digest.hmacSHA256(key: key, data: Array("certfleet:mac:\(purpose)".utf8)), data: data)
    }

    /// The associated data of a certificate version's private key.
    public static func certificateKeyContext(certificate: UUID, version: Int) -> String {
        "certfleet:certificate-key:\(certificate.uuidString.lowercased()):\(version)"
    }

    /// The associated data of an ACME account key.
    public static func acmeAccountKeyContext(account: UUID) -> String {
        "certfleet:acme-account-key:\(account.uuidString.lowercased())"
    }

    /// The associated data of a DNS provider's secrets (TSIG key, hook password, acme-dns credentials).
    public static func dnsProviderSecretContext(provider: UUID) -> String {
        "certfleet:dns-provider-secret:\(provider.uuidString.lowercased())"
    }

    private static func readKeyFile(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw KeySealerError.unreadable(path) }
        guard let key = decodeKey([UInt8](data)) else { throw KeySealerError.badMasterKey(path) }
        return key
    }

    /// Accepts 32 raw bytes or their base64 text (surrounding whitespace ignored).
    private static func decodeKey(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes.count == AESGCM.keySize { return bytes }
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = Data(base64Encoded: text), data.count == AESGCM.keySize else { return nil }
        return [UInt8](data)
    }
}

public enum KeySealerError: Error, CustomStringConvertible, Equatable {
    case noMasterKey
    case badMasterKey(String)
    case unreadable(String)
    case unknownMasterKey(String)

    public var description: String {
        switch self {
        case .noMasterKey: return "no master key: set CERTFLEET_MASTER_KEY_FILE (a file with 32 random bytes or their base64) or CERTFLEET_MASTER_KEY"
        case .badMasterKey(let source): return "the master key in \(source) is not 32 bytes (raw or base64)"
        case .unreadable(let path): return "cannot read the master key file \(path)"
        case .unknownMasterKey(let id):
            return "a key was sealed with master key \(id), which is not loaded (add it to CERTFLEET_MASTER_KEY_PREVIOUS_FILES)"
        }
    }
}
