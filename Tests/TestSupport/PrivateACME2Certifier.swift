import Foundation

/// An acme2certifier of its own for one test (the second real ACME server: ARI, profiles),
/// started through deploy/local/ctl on free ports. It validates http-01 on 127.0.0.1:`httpPort`
/// (every name resolves there through its own challtestsrv): whoever answers must know the tokens.
public struct PrivateACME2Certifier: Sendable {
    public let environment: [String: String]
    public let directory: URL
    public let directoryURL: String
    public let caFile: String
    public let httpPort: Int

    public static func start(_ name: String, environment extra: [String: String] = [:]) async throws -> PrivateACME2Certifier {
        let directory = TestStack.privateStackDirectory(name)
        let port = TestStack.freePort(), httpPort = TestStack.freePort()
        let environment = [
            "CERTFLEET_STACK_DIR": directory.path,
            "CERTFLEET_A2C_PORT": String(port),
            "CERTFLEET_A2C_HTTP_PORT": String(httpPort),
            "CERTFLEET_A2C_DNS_PORT": String(TestStack.freePort()),
            "CERTFLEET_A2C_CHALLTESTSRV_PORT": String(TestStack.freePort()),
        ].merging(extra) { $1 }
        _ = try await TestStack.ctl(["start", "acme2certifier"], environment: environment)
        return PrivateACME2Certifier(
            environment: environment, directory: directory, directoryURL: "https://127.0.0.1:\(port)/directory",
            caFile: directory.appendingPathComponent("acme2certifier/ca/root.pem").path, httpPort: httpPort)
    }

    public func stop() async {
        _ = try? await TestStack.ctl(["stop", "acme2certifier"], environment: environment)
        try? FileManager.default.removeItem(at: directory)
    }

    /// The environment that points certfleet workers and schedulers at this CA.
    public var certfleetEnvironment: [String: String] {
        [
            "CERTFLEET_ACME_DIRECTORY_URL": directoryURL, "CERTFLEET_ACME_CA_FILE": caFile, "CERTFLEET_CHALLTESTSRV_URL": "",
            "CERTFLEET_DNS01_PROVIDER": "none",
        ]
    }
}
