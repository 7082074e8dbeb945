import Foundation

/// A private BIND 9 or Knot instance (deploy/local/services/bind9.sh, knot.sh) serving
/// `zone` on its own loopback port with a TSIG key that may update it.
public struct PrivateAuthoritativeDNS: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case bind9, knot }

    public let kind: Kind
    public let environment: [String: String]
    public let directory: URL
    public let port: Int
    public let zone: String
    public let keyName: String
    public let algorithm: String
    /// Base64, as in named.conf / knot.conf.
    public let secret: String

    /// Starts KIND with EXTRA zone-file lines (CAA, CNAME records …).
    public static func start(
        _ kind: Kind, zone: String = "example.test", algorithm: String = "hmac-sha256",
        extraRecords: String = ""
    ) async throws -> PrivateAuthoritativeDNS {
        let directory = TestStack.privateStackDirectory(kind.rawValue)
        let port = TestStack.freePort()
        let prefix = kind == .bind9 ? "CERTFLEET_BIND9" : "CERTFLEET_KNOT"
        let environment = [
            "CERTFLEET_STACK_DIR": directory.path, "CERTFLEET_SERVICES": kind.rawValue,
            "\(prefix)_PORT": String(port), "\(prefix)_ZONE": zone, "\(prefix)_TSIG_ALG": algorithm, "\(prefix)_EXTRA": extraRecords,
        ]
        // On a thread of its own: a blocked cooperative thread (there are two here) starves every other test.
        _ = try await TestStack.ctl(["start", kind.rawValue], environment: environment)
        let secret = try String(contentsOf: directory.appendingPathComponent("\(kind.rawValue)/tsig.secret"), encoding: .utf8)
        return PrivateAuthoritativeDNS(
            kind: kind, environment: environment, directory: directory, port: port, zone: zone,
            keyName: "certfleet-key", algorithm: algorithm,
            secret: secret.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public func stop() async {
        _ = try? await TestStack.ctl(["stop", kind.rawValue], environment: environment)
        if !TestStack.keepTestLogs { try? FileManager.default.removeItem(at: directory) }
    }

    public var server: String { "127.0.0.1:\(port)" }

    /// The TXT values at NAME as `dig` (BIND) or `kdig` (Knot) sees them, asked directly.
    public func digTXT(_ name: String) async throws -> [String] {
        let tool = kind == .bind9 ? "/usr/bin/dig" : "/usr/bin/kdig"
        let retry = kind == .bind9 ? "+tries=1" : "+retry=0"
        let output = try await TestStack.run(tool, ["+short", "+time=2", retry, "-p", String(port), "@127.0.0.1", "TXT", name])
        return output.split(separator: "\n").map { line in
            // `"abc" "def"` → abcdef (multi-string records are joined, as the solver writes them).
            line.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map(\.element).joined()
        }
    }

    /// Writes with the server's own update tool (nsupdate / knsupdate): LINES such as `update add … TXT "x"`.
    public func nsupdate(_ lines: [String]) async throws {
        let tool = kind == .bind9 ? "/usr/bin/nsupdate" : "/usr/bin/knsupdate"
        let script = (["server 127.0.0.1 \(port)", "zone \(zone)."] + lines + ["send", "quit"]).joined(separator: "\n") + "\n"
        let file = directory.appendingPathComponent("update-\(UUID().uuidString.prefix(6)).txt")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        try await TestStack.run(tool, ["-y", "\(algorithm):\(keyName):\(secret)", file.path])
    }
}
