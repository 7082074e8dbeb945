import Foundation
import Testing

@testable import X509

@Suite struct KeyTests {
    @Test(arguments: KeySpec.allCases)
    func generatedKeysRoundTripThroughPKCS8AndOpenSSLAgrees(spec: KeySpec) throws {
        let key = try PrivateKey.generate(spec)
        let expected: [KeySpec: String] = [
            .rsa2048: "RSA (2048 bits)", .rsa3072: "RSA (3072 bits)", .rsa4096: "RSA (4096 bits)",
            .ecP256: "ECDSA (P-256)", .ecP384: "ECDSA (P-384)", .ed25519: "Ed25519",
        ]
        #expect(key.details.summary == expected[spec])
        let pem = key.pkcs8PEM()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        let reread = try PrivateKey(pem: pem)
        #expect(reread.publicKey == key.publicKey)
        #expect(try PrivateKey(der: key.pkcs8DER()).publicKey == key.publicKey)

        // OpenSSL reads our PKCS#8 and derives the same public key.
        let w = OpenSSLWorkspace()
        try w.write("key.pem", pem)
        let publicPEM = try w.openssl(["pkey", "-in", w.path("key.pem"), "-pubout"])
        #expect(publicPEM == key.publicKey.pem)
        #expect(try PublicKey(pem: publicPEM) == key.publicKey)

        // Encrypted export: OpenSSL opens it with the passphrase, we need it too.
        let encrypted = try key.pkcs8PEM(passphrase: "correct horse")
        #expect(encrypted.contains("BEGIN ENCRYPTED PRIVATE KEY"))
        try w.write("enc.pem", encrypted)
        let opened = try w.openssl(["pkey", "-in", w.path("enc.pem"), "-passin", "pass:correct horse", "-pubout"])
        #expect(opened == key.publicKey.pem)
        #expect(x509Error { _ = try PrivateKey(pem: encrypted) } == .keyEncrypted(passphraseSupplied: false))
        #expect(try PrivateKey(pem: encrypted, passphrase: "correct horse").publicKey == key.publicKey)
    }

    @Test func keysAreDistinct() throws {
        #expect(try PrivateKey.generate(.ecP256).publicKey != PrivateKey.generate(.ecP256).publicKey)
    }

    @Test func malformedKeyInputsAreTypedErrors() {
        #expect(x509Error { _ = try PrivateKey(der: [0x30, 0x03, 0x02, 0x01, 0x01]) }?.code == "invalid_argument")
        #expect(x509Error { _ = try PrivateKey(pem: "no key here") }?.code == "pem_invalid")
        #expect(x509Error { _ = try PrivateKey(pem: "") } == .keyMissing)
        #expect(x509Error { _ = try PrivateKey(pem: PEM.encode(label: "PRIVATE KEY", der: [1, 2, 3])) }?.code == "pem_invalid")
    }
}

@Suite struct CSRTests {
    @Test(arguments: [KeySpec.rsa2048, .ecP256, .ecP384, .ed25519])
    func csrCarriesCommonNameAndSANsAndVerifies(spec: KeySpec) throws {
        let key = try PrivateKey.generate(spec)
        let csr = try CertificateSigningRequest.make(
            commonName: "shop.example.com",
            subjectAltNames: ["shop.example.com", "*.Shop.Example.com", "bücher.example.com", "192.0.2.7", "2001:db8::7"],
            key: key)
        let w = OpenSSLWorkspace()
        try w.write("csr.pem", csr.pem)
        try w.write("csr.der", bytes: csr.der)
        let text = try w.openssl(["req", "-in", w.path("csr.pem"), "-noout", "-verify", "-text"])
        #expect(text.contains("CN = shop.example.com") || text.contains("CN=shop.example.com"))
        #expect(
            text.contains(
                "DNS:shop.example.com, DNS:*.shop.example.com, DNS:xn--bcher-kva.example.com, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:7"))
        let fromDER = try w.openssl(["req", "-inform", "DER", "-in", w.path("csr.der"), "-outform", "PEM"])
        #expect(fromDER == csr.pem)
        let publicPEM = try w.openssl(["req", "-in", w.path("csr.pem"), "-noout", "-pubkey"])
        #expect(publicPEM == key.publicKey.pem)
    }

    @Test func csrWithoutCommonNameAndBadInputs() throws {
        let key = try PrivateKey.generate(.ecP256)
        let csr = try CertificateSigningRequest.make(commonName: nil, subjectAltNames: ["a.example.com"], key: key)
        #expect(!csr.der.isEmpty)
        #expect(x509Error { _ = try CertificateSigningRequest.make(commonName: nil, subjectAltNames: [], key: key) }?.code == "invalid_argument")
        #expect(
            x509Error { _ = try CertificateSigningRequest.make(commonName: "x", subjectAltNames: ["bad name!"], key: key) }?.code
                == "invalid_argument")
        #expect(
            x509Error { _ = try CertificateSigningRequest.make(commonName: String(repeating: "a", count: 65), subjectAltNames: ["a.com"], key: key) }?
                .code == "invalid_argument")
    }
}
