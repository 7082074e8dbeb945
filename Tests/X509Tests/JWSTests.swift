import Foundation
import Testing

@testable import X509

/// JOSE `r ‖ s` → DER `ECDSA-Sig-Value`, written here independently of the
/// module so OpenSSL can check the signature.
private func derSignature(_ raw: [UInt8]) -> [UInt8] {
    func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var value = Array(bytes.drop { $0 == 0 })
        if value.isEmpty || value[0] >= 0x80 { value.insert(0, at: 0) }
        return [0x02, UInt8(value.count)] + value
    }
    let half = raw.count / 2
    let body = integer(raw[..<half]) + integer(raw[half...])
    return [0x30, UInt8(body.count)] + body
}

private func decodeJSON(_ base64url: String) throws -> [String: Any] {
    let bytes = try #require(Base64URL.decode(base64url))
    return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
}

@Suite struct JWSTests {
    @Test(arguments: [(KeySpec.ecP256, "ES256", 64), (.ecP384, "ES384", 96), (.rsa2048, "RS256", 256), (.ed25519, "EdDSA", 64)])
    func signaturesVerifyWithTheOpenSSLCLI(spec: KeySpec, alg: String, size: Int) throws {
        let key = try PrivateKey.generate(spec)
        #expect(try JWS.algorithm(for: key).rawValue == alg)
        let jws = try JWS.acme(
            payload: Array(#"{"termsOfServiceAgreed":true}"#.utf8),
            url: "https://ca.example/acme/new-account", nonce: "n0nce", key: key)
        let signature = try #require(Base64URL.decode(jws.signature))
        #expect(signature.count == size)

        let w = OpenSSLWorkspace()
        try w.write("input", bytes: jws.signingInput)
        try w.write("pub.pem", key.publicKey.pem)
        switch spec {
        case .ecP256, .ecP384:
            try w.write("sig", bytes: derSignature(signature))
            let out = try w.openssl([
                "dgst", spec == .ecP256 ? "-sha256" : "-sha384", "-verify", w.path("pub.pem"),
                "-signature", w.path("sig"), w.path("input"),
            ])
            #expect(out.contains("Verified OK"))
        case .ed25519:
            try w.write("sig", bytes: signature)
            let out = try w.openssl([
                "pkeyutl", "-verify", "-pubin", "-inkey", w.path("pub.pem"), "-rawin",
                "-in", w.path("input"), "-sigfile", w.path("sig"),
            ])
            #expect(out.contains("Signature Verified Successfully"))
        default:
            try w.write("sig", bytes: signature)
            let out = try w.openssl(["dgst", "-sha256", "-verify", w.path("pub.pem"), "-signature", w.path("sig"), w.path("input")])
            #expect(out.contains("Verified OK"))
        }

        // A changed payload must not verify.
        if spec == .ecP256 {
            try w.write("input", bytes: jws.signingInput + [0x20])
            #expect(throws: (any Error).self) {
                try w.openssl(["dgst", "-sha256", "-verify", w.path("pub.pem"), "-signature", w.path("sig"), w.path("input")])
            }
        }
    }

    @Test func acmeHeaderCarriesJWKBeforeTheAccountExistsAndKidAfter() throws {
        let key = try PrivateKey.generate(.ecP256)
        let first = try JWS.acme(payload: nil, url: "https://ca.example/new-acct", nonce: "abc", key: key)
        let header = try decodeJSON(first.protected)
        #expect(header["alg"] as? String == "ES256")
        #expect(header["nonce"] as? String == "abc")
        #expect(header["url"] as? String == "https://ca.example/new-acct")
        #expect(header["kid"] == nil)
        let jwk = try #require(header["jwk"] as? [String: String])
        #expect(jwk["kty"] == "EC" && jwk["crv"] == "P-256")
        #expect(first.payload == "")

        let later = try JWS.acme(payload: nil, url: "https://ca.example/order/1", nonce: "def", key: key, keyID: "https://ca.example/acct/9")
        let laterHeader = try decodeJSON(later.protected)
        #expect(laterHeader["kid"] as? String == "https://ca.example/acct/9")
        #expect(laterHeader["jwk"] == nil)
    }

    @Test func jwkCoordinatesEqualOpenSSLsPublicKey() throws {
        let w = OpenSSLWorkspace()
        for spec in [KeySpec.ecP256, .ecP384] {
            let key = try PrivateKey.generate(spec)
            try w.write("pub.pem", key.publicKey.pem)
            try w.openssl(["pkey", "-pubin", "-in", w.path("pub.pem"), "-outform", "DER", "-out", w.path("pub.der")])
            let der = try w.readBytes("pub.der")
            let width = spec == .ecP256 ? 32 : 48
            let point = der.suffix(2 * width + 1)
            #expect(point.first == 0x04)
            let jwk = try key.publicKey.jwk()
            #expect(Base64URL.decode(jwk.x!) == Array(point.dropFirst().prefix(width)))
            #expect(Base64URL.decode(jwk.y!) == Array(point.suffix(width)))
        }
        let rsa = try PrivateKey.generate(.rsa2048)
        try w.write("rsa.pem", rsa.publicKey.pem)
        let modulus = try w.openssl(["rsa", "-pubin", "-in", w.path("rsa.pem"), "-noout", "-modulus"])
        let jwk = try rsa.publicKey.jwk()
        #expect(modulus.trimmingCharacters(in: .whitespacesAndNewlines) == "Modulus=" + Digest.hex(Base64URL.decode(jwk.n!)!, uppercase: true))
        #expect(jwk.e == "AQAB")
        let ed = try PrivateKey.generate(.ed25519).publicKey.jwk()
        #expect(ed.kty == "OKP" && ed.crv == "Ed25519" && Base64URL.decode(ed.x!)?.count == 32)
    }

    @Test func thumbprintMatchesRFC7638Example() {
        // RFC 7638 section 3.1.
        let jwk = JWK(
            kty: "RSA",
            n:
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
                + "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
                + "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
                + "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            e: "AQAB")
        #expect(jwk.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func externalAccountBindingIsAnHS256MACOverTheAccountKey() throws {
        let account = try PrivateKey.generate(.ecP256)
        let macKey = SecureRandom.bytes(32)
        let eab = try JWS.externalAccountBinding(
            accountKey: account.publicKey, keyID: "kid-1", macKey: macKey,
            url: "https://ca.example/new-acct")
        let header = try decodeJSON(eab.protected)
        #expect(header["alg"] as? String == "HS256" && header["kid"] as? String == "kid-1")
        #expect(header["nonce"] == nil)
        let payload = try JSONDecoder().decode(JWK.self, from: Data(Base64URL.decode(eab.payload)!))
        #expect(payload == (try account.publicKey.jwk()))
        let w = OpenSSLWorkspace()
        try w.write("input", bytes: eab.signingInput)
        let out = try w.openssl(["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(Digest.hex(macKey))", "-r", w.path("input")])
        #expect(out.hasPrefix(Digest.hex(Base64URL.decode(eab.signature)!)))
    }
}
