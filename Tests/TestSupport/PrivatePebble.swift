import Foundation

/// A Pebble of its own for one test (own ports, own log to count orders in, own
/// challtestsrv), started through deploy/local/ctl. Pebble validates http-01 on
/// 127.0.0.1:`httpPort`: whoever answers there must know the tokens.
public struct PrivatePebble: Sendable {
    public let environment: [String: String]
    public let directory: URL
    public let directoryURL: String
    public let caFile: String
    public let logFile: String
    public let managementURL: String
    public let challTestSrvURL: String
    public let dnsServer: String
    public let httpPort: Int

    public static func start(
        _ name: String, httpPort: Int = Int(TestStack.env("CERTFLEET_ACME_HTTP_PORT", default: "5002")) ?? 5002,
        environment extra: [String: String]
    ) async throws -> PrivatePebble {
        // `freePort` can race another suite taking the same port before Pebble binds it:
        // a port found taken is a reason to pick others, not a failed test.
        var attempt = 1
        while true {
            do {
                return try await startOnce(name, httpPort: httpPort, environment: extra)
            } catch let failure as CommandFailed where failure.standardError.contains("already in use") && attempt < 4 {
                attempt += 1
            }
        }
    }

    private static func startOnce(_ name: String, httpPort: Int, environment extra: [String: String]) async throws -> PrivatePebble {
        let directory = TestStack.privateStackDirectory(name)
        let port = TestStack.freePort(), management = TestStack.freePort()
        let challtestsrv = TestStack.freePort(), dns = TestStack.freePort()
        let environment = [
            "CERTFLEET_STACK_DIR": directory.path,
            "CERTFLEET_PEBBLE_PORT": String(port),
            "CERTFLEET_PEBBLE_MANAGEMENT_PORT": String(management),
            "CERTFLEET_CHALLTESTSRV_PORT": String(challtestsrv),
            "CERTFLEET_CHALLTESTSRV_DNS_PORT": String(dns),
            "CERTFLEET_ACME_HTTP_PORT": String(httpPort),
        ].merging(extra) { $1 }
        do {
            _ = try await TestStack.ctl(["start", "pebble"], environment: environment)
        } catch {
            _ = try? await TestStack.ctl(["stop", "pebble"], environment: environment) // whatever half of it started
            throw error
        }
        return PrivatePebble(
            environment: environment, directory: directory, directoryURL: "https://127.0.0.1:\(port)/dir",
            caFile: directory.appendingPathComponent("pebble/tls/ca.pem").path,
            logFile: directory.appendingPathComponent("pebble/pebble.log").path,
            managementURL: "https://127.0.0.1:\(management)",
            challTestSrvURL: "http://127.0.0.1:\(challtestsrv)", dnsServer: "127.0.0.1:\(dns)", httpPort: httpPort)
    }

    public func stop() async {
        _ = try? await TestStack.ctl(["stop", "pebble"], environment: environment)
        if !TestStack.keepTestLogs { try? FileManager.default.removeItem(at: directory) }
    }

    /// How many orders Pebble created (`Added order "…" to the db` lines).
    public func ordersCreated() throws -> Int {
        try String(contentsOfFile: logFile, encoding: .utf8).components(separatedBy: "\n").filter { $0.contains("Added order") }.count
    }

    /// The environment that points certfleet workers and the API at this Pebble.
    public var certfleetEnvironment: [String: String] {
        [
            "CERTFLEET_ACME_DIRECTORY_URL": directoryURL, "CERTFLEET_ACME_CA_FILE": caFile,
            "CERTFLEET_CHALLTESTSRV_URL": challTestSrvURL, "CERTFLEET_ACME_DNS_SERVER": dnsServer,
        ]
    }
}
