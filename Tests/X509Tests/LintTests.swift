import Foundation
import Testing

@testable import X509

@Suite struct LintTests {
    let chain = StandardChain.shared

    @Test func aGoodBundleHasNoFindings() throws {
        let report = try CertificateBundle.parse(pem: chain.bundle).lint(LintOptions(usage: .server, hostnames: ["a.leaf.example.com"]))
        #expect(report.findings == [])
        #expect(!report.hasErrors)
    }

    @Test func shapeProblemsAreReported() throws {
        let codes = try CertificateBundle.parse(pem: chain.root + chain.leaf + chain.intermediate + chain.intermediate + chain.leafKey).lint().codes
        #expect(codes.contains("root_included"))
        #expect(codes.contains("wrong_order"))
        #expect(codes.contains("duplicate_certificate"))
        let alone = try CertificateBundle.parse(pem: chain.leaf + chain.leafKey).lint()
        #expect(alone.codes == ["missing_intermediate"])
        #expect(alone.findings[0].chainIndex == 0 && alone.findings[0].severity == .warning)
    }

    @Test func keyProblemsAreErrors() throws {
        let other = try PrivateKey.generate(.ecP256).pkcs8PEM()
        #expect(try CertificateBundle.parse(pem: chain.leaf + chain.intermediate + other).lint().codes == ["key_mismatch"])
        #expect(try CertificateBundle.parse(pem: chain.leaf + chain.intermediate).lint().codes == ["key_missing"])
        #expect(try CertificateBundle.parse(pem: chain.leaf + chain.intermediate).lint(LintOptions(requireKey: false)).codes == [])
    }

    @Test func datesAreJudgedAtTheGivenInstant() throws {
        let bundle = try CertificateBundle.parse(pem: chain.bundle)
        let validity = bundle.leaf.info.validity
        #expect(bundle.lint(LintOptions(now: validity.until.addingTimeInterval(-86_400))).codes == ["expires_soon"])
        #expect(bundle.lint(LintOptions(now: validity.until.addingTimeInterval(86_400))).codes == ["expired"])
        let early = bundle.lint(LintOptions(now: validity.since.addingTimeInterval(-60)))
        #expect(Set(early.codes) == ["not_yet_valid"])
        #expect(early.findings.first?.chainIndex == 0)
    }

    @Test func weakKeysSHA1NamesAndUsageAreChecked() throws {
        let w = OpenSSLWorkspace()
        try w.makeRoot("ca", subject: "/CN=Lint CA")
        try w.issue("int", subject: "/CN=Lint Intermediate", issuer: "ca", extensions: OpenSSLWorkspace.caExtensions)
        try w.issue(
            "weak", key: "rsa:1024", subject: "/CN=weak.example.com", issuer: "int",
            extensions: OpenSSLWorkspace.leafExtensions(sans: "DNS:weak.example.com", eku: "serverAuth"), digest: "sha1")
        let weak = try CertificateBundle.parse(pem: w.read("weak.crt") + w.read("int.crt") + w.read("weak.key"))
        let report = weak.lint(LintOptions(usage: .client, hostnames: ["other.example.com"]))
        #expect(Set(report.codes) == ["weak_key", "sha1_signature", "eku_mismatch", "hostname_mismatch"])
        #expect(report.findings.allSatisfy { $0.severity == .error && $0.chainIndex == 0 })
        #expect(weak.lint(LintOptions(usage: .server)).codes == ["weak_key", "sha1_signature"])

        try w.issue(
            "nosan", subject: "/CN=nosan.example.com", issuer: "int",
            extensions: ["basicConstraints=critical,CA:FALSE", "extendedKeyUsage=serverAuth"])
        let noSAN = try CertificateBundle.parse(pem: w.read("nosan.crt") + w.read("int.crt") + w.read("nosan.key"))
        #expect(noSAN.lint().codes == ["no_subject_alt_names"])

        try w.issue(
            "cn", subject: "/CN=elsewhere.example.com", issuer: "int",
            extensions: OpenSSLWorkspace.leafExtensions(sans: "DNS:here.example.com,DNS:f*o.example.com"))
        let cn = try CertificateBundle.parse(pem: w.read("cn.crt") + w.read("int.crt") + w.read("cn.key"))
        #expect(Set(cn.lint().codes) == ["common_name_not_in_sans", "invalid_san"])
    }

    @Test func parseFailuresBecomeOneErrorFinding() {
        let report = CertificateBundle.lint(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n")
        #expect(report.codes == ["pem_invalid"])
        #expect(report.hasErrors)
    }

    @Test func findingsEncodeWithSnakeCaseKeys() throws {
        let finding = LintFinding(severity: .warning, code: "root_included", message: "m", chainIndex: 2)
        let json = String(decoding: try JSONEncoder().encode(finding), as: UTF8.self)
        #expect(json.contains("\"chain_index\":2") && json.contains("\"severity\":\"warning\""))
    }
}
