import ACME
import Foundation
import TestSupport
import X509

/// The shared local stack's Pebble (deploy/local/services/pebble.sh), from the
/// variables `deploy/local/ctl env` exports, defaulting to the script's ports.
enum Pebble {
    static var directoryURL: String { TestStack.env("CERTFLEET_ACME_DIRECTORY_URL", default: "https://127.0.0.1:14000/dir") }
    static var caFile: String {
        TestStack.env("CERTFLEET_ACME_CA_FILE", default: TestStack.root.appendingPathComponent(".stack/pebble/tls/ca.pem").path)
    }
    static var httpPort: Int { Int(TestStack.env("CERTFLEET_ACME_HTTP_PORT", default: "5002")) ?? 5002 }
    static var challTestSrvURL: String { TestStack.env("CERTFLEET_CHALLTESTSRV_URL", default: "http://127.0.0.1:8055") }
    static var dnsServer: String { TestStack.env("CERTFLEET_ACME_DNS_SERVER", default: "127.0.0.1:8053") }
    static var managementURL: String { TestStack.env("CERTFLEET_PEBBLE_MANAGEMENT_URL", default: "https://127.0.0.1:15000") }

    /// A name no other test uses; challtestsrv resolves every name to 127.0.0.1.
    static func uniqueDomain(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased()).certfleet-test.com"
    }
}

/// One http-01 responder for the whole test process on the port Pebble
/// validates (only one process can listen there), serving one token store.
/// Tokens are unique, so tests issuing in parallel do not disturb each other.
actor SharedHTTP01 {
    static let shared = SharedHTTP01()
    let store = InMemoryHTTP01TokenStore()
    private var responder: Task<HTTP01Responder, any Error>?

    /// A solver whose tokens the responder serves; starts the responder on first use.
    func solver() async throws -> HTTP01Solver {
        // A task, not the responder itself: the actor is reentrant across the
        // bind's await, and a second caller must wait for the same bind.
        if responder == nil {
            let store = self.store
            responder = Task { try await HTTP01Responder.start(port: Pebble.httpPort, store: store) }
        }
        _ = try await responder!.value
        return HTTP01Solver(store: store)
    }
}

/// A client with a freshly registered account.
func registeredClient(
    directoryURL: String = Pebble.directoryURL, caFile: String = Pebble.caFile, maxBadNonceRetries: Int = 10
) async throws -> ACMEClient {
    let configuration = ACMEConfiguration(directoryURL: directoryURL, trustedCAFile: caFile, maxBadNonceRetries: maxBadNonceRetries)
    let client = try ACMEClient(configuration: configuration, accountKey: try PrivateKey.generate(.ecP256))
    try await client.register(contact: ["mailto:ops@certfleet-test.com"], agreeToTermsOfService: true)
    return client
}

/// Issues `names` with the given solvers, from scratch.
func issue(
    _ client: ACMEClient, _ names: [String], key: KeySpec = .ecP256, type: ChallengeType = .http01,
    solvers: [any ChallengeSolver]
) async throws -> (IssuedCertificate, PrivateKey) {
    let key = try PrivateKey.generate(key)
    let driver = IssuanceDriver(client: client, solvers: solvers, propagationTimeout: .seconds(20))
    let issued = try await driver.run(IssuanceRequest(identifiers: names, certificateKey: key, challengeType: type)) { _ in }
    return (issued, key)
}

func withClient<T>(_ client: ACMEClient, _ body: (ACMEClient) async throws -> T) async throws -> T {
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}
