import Foundation
import TestSupport

/// Throwaway PKI material made by the OpenSSL CLI, so tests compare the X509
/// module against an independent implementation instead of pasted blobs.
final class OpenSSLWorkspace: @unchecked Sendable {
    // @unchecked: every method only reads `directory`, and files are written
    // under names unique to their caller.
    let directory: URL

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("x509-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }

    func readBytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    func write(_ name: String, _ text: String) throws { try text.write(toFile: path(name), atomically: true, encoding: .utf8) }

    func write(_ name: String, bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path(name))) }

    /// Runs `openssl ARGS` and returns its standard output.
    @discardableResult
    func openssl(_ arguments: [String]) throws -> String { try TestStack.runWaiting("/usr/bin/openssl", arguments) }

    /// `openssl genpkey` for "rsa:BITS", "ec:CURVE", "ed25519", "ed448".
    func generateKey(_ name: String, _ spec: String) throws {
        let parts = spec.split(separator: ":").map(String.init)
        var arguments = ["genpkey", "-out", path(name)]
        switch parts[0] {
        case "rsa": arguments += ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(parts[1])"]
        case "ec": arguments += ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:\(parts[1])"]
        case "ed25519": arguments += ["-algorithm", "ED25519"]
        case "ed448": arguments += ["-algorithm", "ED448"]
        default: fatalError("unknown key spec \(spec)")
        }
        try openssl(arguments)
    }

    /// A self-signed CA certificate `name.crt` with key `name.key`.
    func makeRoot(_ name: String, key spec: String = "ec:P-256", subject: String, days: Int = 3650) throws {
        try generateKey("\(name).key", spec)
        try openssl([
            "req", "-x509", "-new", "-key", path("\(name).key"), "-subj", subject, "-days", "\(days)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", path("\(name).crt"),
        ])
    }

    /// A certificate `name.crt` (key `name.key`) issued by `issuer`.
    func issue(
        _ name: String, key spec: String = "ec:P-256", subject: String, issuer: String, days: Int = 90,
        extensions: [String], digest: String = "sha256"
    ) throws {
        try generateKey("\(name).key", spec)
        try openssl(["req", "-new", "-key", path("\(name).key"), "-subj", subject, "-out", path("\(name).csr")])
        try write("\(name).ext", "[v3]\n" + extensions.joined(separator: "\n") + "\n")
        let serial = "0x" + (0..<16).map { _ in String(format: "%02X", UInt8.random(in: 0...255)) }.joined()
        try openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(issuer).crt"), "-CAkey", path("\(issuer).key"),
            "-set_serial", serial, "-days", "\(days)", "-\(digest)", "-extfile", path("\(name).ext"),
            "-extensions", "v3", "-out", path("\(name).crt"),
        ])
    }

    static let caExtensions = ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,keyCertSign,cRLSign"]

    static func leafExtensions(
        sans: String = "DNS:leaf.example.com,DNS:*.leaf.example.com,IP:192.0.2.10,IP:2001:db8::1",
        eku: String = "serverAuth,clientAuth"
    ) -> [String] {
        [
            "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=\(eku)", "subjectAltName=\(sans)",
        ]
    }
}

/// One root → intermediate → leaf chain shared by the tests that only read it.
struct StandardChain: Sendable {
    let workspace: OpenSSLWorkspace
    let root: String
    let intermediate: String
    let leaf: String
    let leafKey: String

    static let shared: StandardChain = {
        do { return try make(leafKey: "rsa:2048") } catch { fatalError("fixture: \(error)") }
    }()

    static func make(leafKey: String) throws -> StandardChain {
        let w = OpenSSLWorkspace()
        try w.makeRoot("root", subject: "/C=DE/ST=Berlin/O=CertFleet Test/CN=CertFleet Test Root")
        try w.issue(
            "int", subject: "/C=DE/O=CertFleet Test/CN=CertFleet Test Intermediate", issuer: "root",
            days: 1000, extensions: OpenSSLWorkspace.caExtensions)
        try w.issue(
            "leaf", key: leafKey, subject: "/C=US/ST=California/O=Leaf Org/CN=leaf.example.com",
            issuer: "int", extensions: OpenSSLWorkspace.leafExtensions())
        return StandardChain(
            workspace: w, root: try w.read("root.crt"), intermediate: try w.read("int.crt"),
            leaf: try w.read("leaf.crt"), leafKey: try w.read("leaf.key"))
    }

    /// leaf + intermediate + key, the usual upload.
    var bundle: String { leaf + intermediate + leafKey }
}
