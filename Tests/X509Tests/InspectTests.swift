import CertFleetCore
import Foundation
import Testing

@testable import X509

/// `openssl x509 -noout …` output as key → value.
private func opensslFields(_ w: OpenSSLWorkspace, _ file: String) throws -> [String: String] {
    let out = try w.openssl([
        "x509", "-in", w.path(file), "-noout", "-subject", "-issuer", "-dates", "-serial", "-fingerprint", "-sha256",
    ])
    var fields: [String: String] = [:]
    for line in out.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        fields[String(line[..<eq]).lowercased()] = String(line[line.index(after: eq)...])
    }
    return fields
}

/// `C = US, ST = California, O = Leaf Org, CN = x` → ["C": "US", …].
private func parseName(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for part in text.components(separatedBy: ", ") {
        let pair = part.components(separatedBy: " = ")
        if pair.count == 2 { result[pair[0]] = pair[1] }
    }
    return result
}

@Suite struct InspectTests {
    let chain = StandardChain.shared

    @Test func everyChainFieldEqualsWhatOpenSSLPrints() throws {
        let bundle = try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + chain.root + chain.leafKey)
        let details = bundle.details()
        #expect(details.chain.count == 3)
        let w = chain.workspace
        for (info, file) in zip(details.chain, ["leaf.crt", "int.crt", "root.crt"]) {
            let fields = try opensslFields(w, file)
            let subject = parseName(fields["subject"] ?? "")
            let issuer = parseName(fields["issuer"] ?? "")
            #expect(info.subject.commonName == subject["CN"])
            #expect(info.subject.organization == subject["O"])
            #expect(info.subject.country == subject["C"])
            #expect(info.subject.stateOrProvince == subject["ST"])
            #expect(info.issuer.commonName == issuer["CN"])
            #expect(info.issuer.organization == issuer["O"])
            #expect(info.issuer.country == issuer["C"])
            #expect(info.issuer.stateOrProvince == issuer["ST"])
            #expect(Timestamp.openSSLStyle(info.validity.since) == fields["notbefore"])
            #expect(Timestamp.openSSLStyle(info.validity.until) == fields["notafter"])
            #expect(info.serialNumber == fields["serial"])
            #expect(info.fingerprintSHA256 == fields["sha256 fingerprint"])

            let text = try w.openssl(["x509", "-in", w.path(file), "-noout", "-text"])
            #expect(text.contains("Signature Algorithm: \(info.signatureAlgorithm)"))
            #expect(text.contains("CA:TRUE") == info.isCA)
            #expect(text.contains("Public-Key: (\(info.publicKey.bits) bit)"))
        }
    }

    @Test func leafExtensionsEqualWhatOpenSSLPrints() throws {
        let info = try Certificate(pem: chain.leaf).info
        let w = chain.workspace
        let sanText = try w.openssl(["x509", "-in", w.path("leaf.crt"), "-noout", "-ext", "subjectAltName"])
        let printed = sanText.split(separator: "\n").dropFirst().joined().split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let expected: [String] = printed.map { entry in
            if entry.hasPrefix("DNS:") { return String(entry.dropFirst(4)) }
            // OpenSSL prints IPv6 uncompressed; compare through the bytes.
            let address = String(entry.dropFirst("IP Address:".count))
            return IPAddress.format(IPAddress.parse(address)!)!
        }
        #expect(info.subject.altNames == expected)
        #expect(info.subject.altNames == ["leaf.example.com", "*.leaf.example.com", "192.0.2.10", "2001:db8::1"])

        let usage = try w.openssl(["x509", "-in", w.path("leaf.crt"), "-noout", "-ext", "keyUsage,extendedKeyUsage"])
        let display = [
            "digitalSignature": "Digital Signature", "keyEncipherment": "Key Encipherment",
            "serverAuth": "TLS Web Server Authentication", "clientAuth": "TLS Web Client Authentication",
        ]
        #expect(info.keyUsage == ["digitalSignature", "keyEncipherment"])
        #expect(info.extendedKeyUsage == ["serverAuth", "clientAuth"])
        #expect(usage.contains((info.keyUsage.map { display[$0]! }).joined(separator: ", ")))
        #expect(usage.contains((info.extendedKeyUsage.map { display[$0]! }).joined(separator: ", ")))
        #expect(!info.isCA)
    }

    @Test func detailsEncodeWithSnakeCaseKeysAndRFC3339Dates() throws {
        let details = try CertificateBundle.parse(pem: chain.bundle).details()
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(details)) as! [String: Any]
        #expect(json["key"] as? String == "RSA (2048 bits)")
        #expect(Set(json.keys) == ["key", "key_details", "chain", "root_included", "incomplete"])
        let keyDetails = json["key_details"] as! [String: Any]
        #expect(keyDetails["type"] as? String == "RSA" && keyDetails["bits"] as? Int == 2048)
        let leaf = (json["chain"] as! [[String: Any]])[0]
        #expect(
            Set(leaf.keys) == [
                "subject", "issuer", "validity", "serial_number", "fingerprint_sha256", "signature_algorithm",
                "is_ca", "key_usage", "extended_key_usage", "public_key",
            ])
        let subject = leaf["subject"] as! [String: Any]
        #expect(Set(subject.keys) == ["common_name", "alt_names", "country", "state_or_province", "organization"])
        let validity = leaf["validity"] as! [String: String]
        let since = try #require(validity["since"])
        #expect(since.hasSuffix("Z") && since.count == 20)
        #expect(RFC3339.parse(since) == details.chain[0].validity.since)

        // Round trip, whatever the decoder's date strategy.
        let decoded = try JSONDecoder().decode(CertificateDetails.self, from: JSONEncoder().encode(details))
        #expect(decoded == details)
    }

    @Test(arguments: [
        ("rsa:2048", "RSA (2048 bits)"), ("rsa:3072", "RSA (3072 bits)"), ("ec:P-256", "ECDSA (P-256)"),
        ("ec:P-384", "ECDSA (P-384)"), ("ed25519", "Ed25519"),
    ])
    func keyDescriptionsReadAsNGINXUnitShowsThem(spec: String, summary: String) throws {
        let w = OpenSSLWorkspace()
        try w.makeRoot("ca", subject: "/CN=Key Test CA")
        try w.issue(
            "leaf", key: spec, subject: "/CN=k.example.com", issuer: "ca",
            extensions: OpenSSLWorkspace.leafExtensions(sans: "DNS:k.example.com"))
        let bundle = try CertificateBundle.parse(pem: try w.read("leaf.crt") + w.read("ca.crt") + w.read("leaf.key"))
        try bundle.validate()
        #expect(bundle.details().key == summary)
        #expect(bundle.leaf.info.publicKey.summary == summary)
    }

    @Test func openSSLStyleDatesPadTheDayWithASpace() {
        let date = Date(timeIntervalSince1970: 1_662_580_000) // 2022-09-07T19:46:40Z
        #expect(Timestamp.openSSLStyle(date) == "Sep  7 19:46:40 2022 GMT")
        #expect(RFC3339.format(date) == "2022-09-07T19:46:40Z")
    }
}
