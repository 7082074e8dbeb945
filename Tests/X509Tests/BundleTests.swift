import Foundation
import Testing

@testable import X509

/// The typed error `body` throws, or nil.
func x509Error(_ body: () throws -> Void) -> X509Error? {
    do {
        try body()
        return nil
    } catch let error as X509Error {
        return error
    } catch {
        Issue.record("untyped error \(error)")
        return nil
    }
}

@Suite struct BundleTests {
    let chain = StandardChain.shared

    @Test func chainIsReorderedLeafFirstWithRootReported() throws {
        let bundle = try CertificateBundle.parse(pem: chain.root + chain.leafKey + chain.leaf + chain.intermediate)
        #expect(
            bundle.chain.map(\.info.subject.commonName) == [
                "leaf.example.com", "CertFleet Test Intermediate", "CertFleet Test Root",
            ])
        #expect(bundle.inputPositions == [1, 2, 0])
        #expect(bundle.wasReordered)
        #expect(bundle.rootIncluded)
        #expect(!bundle.isIncomplete)
        try bundle.validate()
        #expect(x509Error { try bundle.validate(requireOrder: true) } == .chainOrder)
        #expect(bundle.privateKey?.matches(bundle.leaf) == true)
    }

    @Test func inOrderChainWithoutRootIsCompleteAndNotReordered() throws {
        let bundle = try CertificateBundle.parse(pem: chain.bundle)
        #expect(!bundle.wasReordered && !bundle.rootIncluded && !bundle.isIncomplete)
        try bundle.validate(requireOrder: true)
    }

    @Test func leafAloneIsIncomplete() throws {
        let bundle = try CertificateBundle.parse(pem: chain.leaf + chain.leafKey)
        #expect(bundle.isIncomplete)
        #expect(bundle.details().incomplete)
    }

    @Test func duplicatesAreDroppedAndRemembered() throws {
        let bundle = try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + chain.intermediate)
        #expect(bundle.chain.count == 2)
        #expect(bundle.duplicatePositions == [2])
    }

    @Test func crlfAndSurroundingTextAreAccepted() throws {
        let text = "subject=CN = leaf\n" + chain.bundle.replacingOccurrences(of: "\n", with: "\r\n") + "trailing words\n"
        #expect(try CertificateBundle.parse(pem: text).chain.count == 2)
    }

    @Test func separateChainKeyAndClientCAInputs() throws {
        let bundle = try CertificateBundle.parse(chain: chain.leaf + chain.intermediate, key: chain.leafKey, clientCA: chain.root)
        try bundle.validate()
        #expect(bundle.clientCA.count == 1)
        #expect(!bundle.lint().codes.contains("client_ca_not_ca"))
        let wrongCA = try CertificateBundle.parse(chain: chain.leaf + chain.intermediate, key: chain.leafKey, clientCA: chain.leaf)
        #expect(wrongCA.lint().codes.contains("client_ca_not_ca"))
        #expect(x509Error { _ = try CertificateBundle.parse(chain: chain.leaf, key: "") } == .keyMissing)
    }

    // MARK: - Key formats

    @Test func keysInPKCS1SEC1PKCS8AndWithECParametersAreRead() throws {
        let w = chain.workspace
        try w.openssl(["rsa", "-in", w.path("leaf.key"), "-traditional", "-out", w.path("pkcs1.key")])
        let pkcs1 = try w.read("pkcs1.key")
        #expect(pkcs1.contains("BEGIN RSA PRIVATE KEY"))
        try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + pkcs1).validate()

        let e = OpenSSLWorkspace()
        try e.openssl(["ecparam", "-name", "prime256v1", "-genkey", "-out", e.path("sec1.key")])
        let sec1 = try e.read("sec1.key")
        #expect(sec1.contains("BEGIN EC PARAMETERS") && sec1.contains("BEGIN EC PRIVATE KEY"))
        let key = try PrivateKey(pem: sec1)
        #expect(key.details.summary == "ECDSA (P-256)")
        try e.openssl(["pkcs8", "-topk8", "-nocrypt", "-in", e.path("sec1.key"), "-out", e.path("p8.key")])
        #expect(try PrivateKey(pem: e.read("p8.key")).publicKey == key.publicKey)
    }

    @Test func encryptedKeysNeedTheirPassphrase() throws {
        let w = chain.workspace
        try w.openssl([
            "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", w.path("leaf.key"), "-passout", "pass:s3cret",
            "-out", w.path("enc-p8.key"),
        ])
        try w.openssl([
            "rsa", "-in", w.path("leaf.key"), "-traditional", "-aes256", "-passout", "pass:s3cret", "-out", w.path("enc-legacy.key"),
        ])
        for file in ["enc-p8.key", "enc-legacy.key"] {
            let pem = chain.leaf + chain.intermediate + (try w.read(file))
            #expect(x509Error { _ = try CertificateBundle.parse(pem: pem) } == .keyEncrypted(passphraseSupplied: false))
            let wrong = x509Error { _ = try CertificateBundle.parse(pem: pem, passphrase: "wrong") }
            #expect(wrong == .keyEncrypted(passphraseSupplied: true))
            #expect(wrong?.code == "key_encrypted")
            try CertificateBundle.parse(pem: pem, passphrase: "s3cret").validate()
        }
    }

    // MARK: - Every error code

    @Test func pemProblemsNameTheBlock() throws {
        let leafLines = chain.leaf.split(separator: "\n", omittingEmptySubsequences: false)
        let truncated = chain.intermediate + leafLines.prefix(5).joined(separator: "\n")
        #expect(x509Error { _ = try CertificateBundle.parse(pem: truncated) }?.code == "pem_invalid")
        if case .pemInvalid(let block, let reason)? = x509Error({ _ = try CertificateBundle.parse(pem: truncated) }) {
            #expect(block == 1)
            #expect(reason.contains("truncated"))
        } else {
            Issue.record("expected pem_invalid")
        }

        var lines = leafLines
        lines[3] = "!!!!" + lines[3].dropFirst(4)
        let badBase64 = chain.intermediate + lines.joined(separator: "\n")
        #expect(
            x509Error { _ = try CertificateBundle.parse(pem: badBase64) }
                == .pemInvalid(block: 1, reason: "the body has characters that are not base64"))

        let notDER = chain.intermediate + PEM.encode(label: "CERTIFICATE", der: Array("hello, world".utf8))
        #expect(
            x509Error { _ = try CertificateBundle.parse(pem: notDER) }
                == .pemInvalid(block: 1, reason: "the CERTIFICATE block is not a valid DER X.509 certificate"))

        let mismatched = chain.leaf.replacingOccurrences(of: "END CERTIFICATE", with: "END PRIVATE KEY")
        #expect(x509Error { _ = try CertificateBundle.parse(pem: mismatched) }?.code == "pem_invalid")

        let der = try Certificate(pem: chain.leaf).der
        #expect(x509Error { _ = try CertificateBundle.parse(bytes: der) }?.code == "pem_invalid")

        let publicKey = try PrivateKey(pem: chain.leafKey).publicKey.pem
        #expect(
            x509Error { _ = try CertificateBundle.parse(pem: chain.leaf + publicKey) }
                == .pemInvalid(
                    block: 1, reason: "unexpected PUBLIC KEY block; only CERTIFICATE and private key blocks are accepted"))
    }

    @Test func noCertificateKeyMissingAndKeyMismatch() throws {
        #expect(x509Error { _ = try CertificateBundle.parse(pem: chain.leafKey) } == .noCertificate)
        #expect(x509Error { _ = try CertificateBundle.parse(pem: "") } == .noCertificate)
        let noKey = try CertificateBundle.parse(pem: chain.leaf + chain.intermediate)
        #expect(x509Error { try noKey.validate() } == .keyMissing)
        try noKey.validate(requireKey: false)
        let other = try PrivateKey.generate(.rsa2048).pkcs8PEM()
        let mismatched = try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + other)
        #expect(x509Error { try mismatched.validate() } == .keyMismatch)
    }

    @Test func unrelatedOrForgedCertificatesBreakTheChain() throws {
        let other = OpenSSLWorkspace()
        try other.makeRoot("other", subject: "/CN=Unrelated Root")
        let unrelated = try other.read("other.crt")
        #expect(x509Error { _ = try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + unrelated) }?.code == "chain_broken")
        if case .chainBroken(let index, _)? = x509Error({ _ = try CertificateBundle.parse(pem: chain.leaf + unrelated + chain.intermediate) }) {
            #expect(index == 1)
        } else {
            Issue.record("expected chain_broken")
        }

        // Same issuer name, different key: the signature cannot verify.
        try other.makeRoot("fake", subject: "/C=DE/O=CertFleet Test/CN=CertFleet Test Intermediate")
        let forgedIssuer = try other.read("fake.crt")
        let error = x509Error { _ = try CertificateBundle.parse(pem: chain.leaf + forgedIssuer) }
        guard case .chainBroken(let index, let reason)? = error else {
            Issue.record("expected chain_broken, got \(String(describing: error))")
            return
        }
        #expect(index == 0)
        #expect(reason.contains("signature"))
    }

    @Test func datesAreCheckedAtTheGivenInstant() throws {
        let bundle = try CertificateBundle.parse(pem: chain.bundle)
        let validity = bundle.leaf.info.validity
        let early = validity.since.addingTimeInterval(-86_400)
        let late = validity.until.addingTimeInterval(86_400)
        #expect(x509Error { try bundle.validate(at: early) } == .notYetValid(index: 0, since: validity.since))
        #expect(x509Error { try bundle.validate(at: late) } == .expired(index: 0, until: validity.until))
        #expect(x509Error { try bundle.validate(at: late) }?.code == "expired")
        #expect(x509Error { try bundle.validate(at: early) }?.code == "not_yet_valid")
    }

    @Test func unsupportedKeysAreNamed() throws {
        let w = OpenSSLWorkspace()
        try w.generateKey("ed448.key", "ed448")
        let error = x509Error { _ = try CertificateBundle.parse(pem: chain.leaf + (try w.read("ed448.key"))) }
        #expect(error?.code == "unsupported_key")
        #expect(error?.message.contains("ED448") == true)
    }

    @Test func capsOnCertificatesBlocksAndBytes() throws {
        let many = String(repeating: chain.intermediate, count: 17)
        #expect(x509Error { _ = try CertificateBundle.parse(pem: many) } == .tooManyCertificates(count: 17, limit: 16))
        let huge = String(repeating: "A", count: 300_000)
        #expect(x509Error { _ = try CertificateBundle.parse(pem: huge) }?.code == "too_large")
        let blocks = String(repeating: chain.leafKey, count: 40)
        #expect(x509Error { _ = try CertificateBundle.parse(pem: blocks) }?.code == "too_large")
    }

    @Test func everyErrorHasAnActionableMessageWithoutSecrets() throws {
        let key = try PrivateKey.generate(.ecP256)
        let pem = key.pkcs8PEM()
        let errors: [X509Error] = [
            .pemInvalid(block: 2, reason: "x"), .noCertificate, .keyMissing, .keyMismatch,
            .keyEncrypted(passphraseSupplied: true), .chainBroken(index: 1, reason: "y"), .chainOrder,
            .notYetValid(index: 0, since: Date()), .expired(index: 0, until: Date()), .unsupportedKey("DSA"),
            .tooManyCertificates(count: 20, limit: 16), .tooLarge(what: "input", size: 2, limit: 1),
            .decryptFailed, .invalidArgument("z"), .cryptoFailure("w"),
        ]
        #expect(Set(errors.map(\.code)).count == errors.count)
        for error in errors {
            #expect(error.message.count > 15 && error.message.hasSuffix("."))
            #expect(error.description.hasPrefix(error.code + ": "))
        }
        // A key's description never shows its material.
        #expect(!"\(key)".contains(String(pem.dropFirst(28).prefix(20))))
        #expect("\(key)" == "PrivateKey(ECDSA (P-256))")
    }
}
