// Leak-check harness for the X509 module: parses N mutated bundles (and
// exercises keys, CSR, JWS, AES-GCM) in a plain synchronous program, because
// valgrind 3.19 cannot run the Swift Testing binary (DWARF 5, dispatch_main).
// Built and run by leakcheck.sh.
import Foundation
import X509

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let arguments = CommandLine.arguments
let base = Array(try! Data(contentsOf: URL(fileURLWithPath: arguments[1])))
let iterations = arguments.count > 2 ? Int(arguments[2])! : 10_000
var rng = SplitMix64(state: 42)
var parsed = 0, failed = 0
for i in 0..<iterations {
    var bytes = base
    switch i % 4 {
    case 0: break // the intact bundle: the full success path, every 4th input
    case 1: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
    case 2: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
    default:
        let text = String(decoding: bytes, as: UTF8.self)
        var blocks = text.components(separatedBy: "-----BEGIN ").dropFirst().map { "-----BEGIN " + $0 }
        blocks.shuffle(using: &rng)
        if Bool.random(using: &rng) { blocks.removeLast() }
        bytes = Array(blocks.joined().utf8)
    }
    do {
        let bundle = try CertificateBundle.parse(bytes: bytes)
        _ = bundle.details()
        _ = bundle.lint(LintOptions(usage: .server, hostnames: ["x.example.com"]))
        try? bundle.validate()
        parsed += 1
    } catch {
        _ = error.message
        failed += 1
    }
}

// The rest of the API once each, including the encrypted-key and failure paths.
for spec in [KeySpec.rsa2048, .ecP256, .ecP384, .ed25519] {
    let key = try! PrivateKey.generate(spec)
    let pem = try! key.pkcs8PEM(passphrase: "pw")
    _ = try? PrivateKey(pem: pem)
    _ = try! PrivateKey(pem: pem, passphrase: "pw")
    _ = try! PrivateKey(der: key.pkcs8DER())
    _ = try! PublicKey(pem: key.publicKey.pem)
    _ = try! CertificateSigningRequest.make(commonName: "a.example.com", subjectAltNames: ["a.example.com", "192.0.2.1"], key: key).pem
    _ = try! JWS.acme(payload: [1, 2, 3], url: "https://ca/x", nonce: "n", key: key)
    _ = try! key.publicKey.jwk().thumbprint
}
let aesKey = AESGCM.generateKey()
let sealed = try! AESGCM.seal([1, 2, 3], key: aesKey, associatedData: [9])
_ = try! AESGCM.open(sealed, key: aesKey, associatedData: [9])
_ = try? AESGCM.open(sealed, key: aesKey, associatedData: [8])
print("leakcheck: \(iterations) bundles, \(parsed) parsed, \(failed) typed errors")
