import Foundation
import Testing

@testable import X509

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite struct AESGCMTests {
    @Test func sealOpenRoundTripWithAssociatedData() throws {
        let key = AESGCM.generateKey()
        let aad = Array("certificate 7b2e…/version 3".utf8)
        for size in [0, 1, 15, 16, 17, 4096] {
            let plaintext = SecureRandom.bytes(size)
            let sealed = try AESGCM.seal(plaintext, key: key, associatedData: aad)
            #expect(sealed.count == size + 28)
            #expect(try AESGCM.open(sealed, key: key, associatedData: aad) == plaintext)
        }
    }

    @Test func wrongKeyAADOrTamperingIsDecryptFailed() throws {
        let key = AESGCM.generateKey()
        let sealed = try AESGCM.seal(Array("private key bytes".utf8), key: key, associatedData: [1])
        #expect(x509Error { _ = try AESGCM.open(sealed, key: AESGCM.generateKey(), associatedData: [1]) } == .decryptFailed)
        #expect(x509Error { _ = try AESGCM.open(sealed, key: key, associatedData: [2]) } == .decryptFailed)
        var flipped = sealed
        flipped[14] ^= 1
        #expect(x509Error { _ = try AESGCM.open(flipped, key: key, associatedData: [1]) } == .decryptFailed)
        #expect(x509Error { _ = try AESGCM.open(Array(sealed.prefix(20)), key: key, associatedData: [1]) } == .decryptFailed)
        #expect(x509Error { _ = try AESGCM.seal([1], key: [1, 2, 3]) }?.code == "invalid_argument")
    }

    @Test func knownAnswerFromTheGCMSpecification() throws {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13 and 14.
        let key = [UInt8](repeating: 0, count: 32), nonce = [UInt8](repeating: 0, count: 12)
        #expect(try AESGCM.seal([], key: key, nonce: nonce, associatedData: []) == nonce + hex("530f8afbc74536b9a963b4f1c4cb738b"))
        #expect(
            try AESGCM.seal([UInt8](repeating: 0, count: 16), key: key, nonce: nonce, associatedData: [])
                == nonce + hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"))
    }
}

@Suite struct DigestTests {
    @Test func sha256AndHMACMatchKnownAnswersAndOpenSSL() throws {
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // RFC 4231 test case 2.
        #expect(
            Digest.hex(Digest.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let w = OpenSSLWorkspace()
        let key = SecureRandom.bytes(32), data = SecureRandom.bytes(100)
        try w.write("data", bytes: data)
        let out = try w.openssl(["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(Digest.hex(key))", "-r", w.path("data")])
        #expect(out.hasPrefix(Digest.hex(Digest.hmacSHA256(key: key, data: data))))
    }

    @Test func base64URLRoundTripsWithoutPadding() {
        for size in 0..<40 {
            let bytes = SecureRandom.bytes(size)
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("a") == nil)
        #expect(Base64URL.decode("ab=") == nil)
        #expect(Base64URL.decode("a+b/") == nil)
    }

    @Test func randomBytesDiffer() {
        #expect(SecureRandom.bytes(32).count == 32)
        #expect(SecureRandom.bytes(16) != SecureRandom.bytes(16))
    }

    @Test func opensslFailuresAreCryptoFailure() {
        #expect(x509Error { _ = try JWS.rawECDSA([0x30, 0x01, 0x00], width: 32) }?.code == "crypto_failure")
    }
}
