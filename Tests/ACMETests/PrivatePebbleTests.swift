import ACME
import Foundation
import TestSupport
import Testing
import X509

/// Tests that need a Pebble configured differently from the shared one: each
/// starts its own (own ports, own log, own challtestsrv) through deploy/local/ctl.
@Suite struct PrivatePebbleTests {
    static let eabKeyID = "kid-certfleet"
    // A test-only MAC key for the private Pebble (not a secret of anything).
    static let eabMACKey = Base64URL.encode(Array("certfleet-test-eab-mac-key-0123456789abcdef".utf8))

    @Test func externalAccountBindingIsRequiredAndAccepted() async throws {
        try await TestStack.using(
            try await PrivatePebble.start("pebble-eab", environment: ["CERTFLEET_PEBBLE_EAB_KEYS": "\(Self.eabKeyID)=\(Self.eabMACKey)"]),
            tearDown: { await $0.stop() }
        ) { pebble in
            let configuration = ACMEConfiguration(directoryURL: pebble.directoryURL, trustedCAFile: pebble.caFile)
            let client = try ACMEClient(configuration: configuration, accountKey: try PrivateKey.generate(.ecP256))
            #expect(try await client.directory().requiresExternalAccountBinding)

            await #expect {
                try await client.register(contact: [], agreeToTermsOfService: true)
            } throws: { error in
                (error as? ACMEError)?.problem?.kind == .externalAccountRequired
            }
            let wrong = try ExternalAccountBinding(
                keyID: Self.eabKeyID, base64URLMACKey: Base64URL.encode(Array("wrong-key-wrong-key-wrong-key-00".utf8)))
            await #expect(throws: ACMEError.self) {
                try await client.register(contact: [], agreeToTermsOfService: true, externalAccountBinding: wrong)
            }
            let binding = try ExternalAccountBinding(keyID: Self.eabKeyID, base64URLMACKey: Self.eabMACKey)
            #expect(!"\(binding)".contains(Self.eabMACKey))
            let account = try await client.register(
                contact: ["mailto:eab@certfleet-test.com"], agreeToTermsOfService: true, externalAccountBinding: binding)
            #expect(account.status == "valid")
            await client.shutdown()
        }
    }

    @Test func issuanceSucceedsWhenMostNoncesAreRejected() async throws {
        try await TestStack.using(
            try await PrivatePebble.start(
                "pebble-nonce", environment: ["PEBBLE_WFE_NONCEREJECT": "60", "PEBBLE_ALTERNATE_ROOTS": "1"]), tearDown: { await $0.stop() }
        ) { pebble in
            let solver = try await SharedHTTP01.shared.solver()
            try await withClient(try await registeredClient(directoryURL: pebble.directoryURL, caFile: pebble.caFile, maxBadNonceRetries: 30)) {
                client in
                let (issued, key) = try await issue(client, [Pebble.uniqueDomain("nonce")], solvers: [solver])
                #expect(key.matches(try Certificate(pem: issued.chainPEM)))
                #expect(client.badNonceRetries > 0)
                // PEBBLE_ALTERNATE_ROOTS=1: one alternate chain, announced by Link rel="alternate".
                #expect(issued.alternateURLs.count == 1)
                let chains = try await client.downloadAllChains(url: issued.certificateURL)
                #expect(chains.count == 2)
                let leaves = try chains.map { try $0.certificates()[0] }
                #expect(leaves[0] == leaves[1])
                #expect(try chains[0].certificates().last?.info.issuer != chains[1].certificates().last?.info.issuer)
            }
            #expect(try pebble.ordersCreated() == 1)
        }
    }

    /// A CA that reuses every valid authorization answers a second order for the same name
    /// `ready`: the driver goes straight to finalize, fetching no authorization (fetching a
    /// reused one is what can lock Pebble 2.4 up while the authorization's first order finalizes).
    @Test func aReadyOrderGoesStraightToFinalize() async throws {
        try await TestStack.using(
            try await PrivatePebble.start("pebble-reuse", environment: ["PEBBLE_AUTHZREUSE": "100"]), tearDown: { await $0.stop() }
        ) { pebble in
            let solver = try await SharedHTTP01.shared.solver()
            try await withClient(try await registeredClient(directoryURL: pebble.directoryURL, caFile: pebble.caFile)) { client in
                let name = Pebble.uniqueDomain("reuse")
                let driver = IssuanceDriver(client: client, solvers: [solver], propagationTimeout: .seconds(20))
                var steps: [[IssuanceCheckpoint.Step]] = []
                for _ in 0..<2 {
                    var saved: [IssuanceCheckpoint.Step] = []
                    let key = try PrivateKey.generate(.ecP256)
                    let issued = try await driver.run(IssuanceRequest(identifiers: [name], certificateKey: key)) { saved.append($0.step) }
                    #expect(key.matches(try Certificate(pem: issued.chainPEM)))
                    steps.append(saved)
                }
                #expect(steps[0].first == .orderCreated, "a new name is authorized through its challenge: \(steps[0])")
                #expect(steps[1].first == .orderReady, "the second order reuses the authorization: \(steps[1])")
                #expect(!steps[1].contains(.challengesPresented))
            }
            #expect(try pebble.ordersCreated() == 2)
        }
    }

    struct Stop: Error {}

    /// Kills the issuance after each step in turn (the callback throws right
    /// after the checkpoint is saved), resumes from the serialized checkpoint in
    /// a new client, and checks Pebble created one order per issuance.
    @Test func resumesFromEveryCheckpointWithOneOrderPerIssuance() async throws {
        try await TestStack.using(try await PrivatePebble.start("pebble-resume", environment: [:]), tearDown: { await $0.stop() }) { pebble in
            let solver = try await SharedHTTP01.shared.solver()
            let dns = DNS01Solver(
                provider: ChallTestSrvDNSProvider(managementURL: pebble.challTestSrvURL), resolver: DNSTXTResolver(server: pebble.dnsServer))
            let configuration = ACMEConfiguration(directoryURL: pebble.directoryURL, trustedCAFile: pebble.caFile)
            let accountKey = try PrivateKey.generate(.ecP256)
            let registrar = try ACMEClient(configuration: configuration, accountKey: accountKey)
            let accountURL = try await registrar.register(contact: [], agreeToTermsOfService: true).url
            await registrar.shutdown()

            let steps = IssuanceCheckpoint.Step.allCases.filter { $0 != .start && $0 != .downloaded }
            for (index, stopAfter) in steps.enumerated() {
                let base = Pebble.uniqueDomain("resume\(index)")
                let names = [base, "*.\(base)"]
                let certificateKey = try PrivateKey.generate(.ecP256)
                let request = IssuanceRequest(identifiers: names, certificateKey: certificateKey)

                // First worker: dies right after saving the checkpoint of `stopAfter`.
                var saved: Data? = nil
                let first = try ACMEClient(configuration: configuration, accountKey: accountKey, accountURL: accountURL)
                do {
                    _ = try await IssuanceDriver(client: first, solvers: [solver, dns]).run(request) { checkpoint in
                        saved = try JSONEncoder().encode(checkpoint)
                        if checkpoint.step == stopAfter { throw Stop() }
                    }
                    Issue.record("the first worker was not stopped at \(stopAfter)")
                } catch is Stop {}
                await first.shutdown()

                // Second worker: a new client and driver, only the JSON checkpoint in hand.
                let checkpoint = try JSONDecoder().decode(IssuanceCheckpoint.self, from: try #require(saved))
                #expect(checkpoint.step == stopAfter)
                let second = try ACMEClient(configuration: configuration, accountKey: accountKey, accountURL: accountURL)
                var stepsRun: [IssuanceCheckpoint.Step] = []
                let issued = try await IssuanceDriver(client: second, solvers: [solver, dns]).run(request, from: checkpoint) {
                    stepsRun.append($0.step)
                }
                await second.shutdown()
                #expect(stepsRun.first.map { $0 > stopAfter } ?? false)
                #expect(issued.orderURL == checkpoint.orderURL)
                #expect(certificateKey.matches(try Certificate(pem: issued.chainPEM)))
                #expect(try pebble.ordersCreated() == index + 1, "after resuming from \(stopAfter)")
            }
        }
    }
}
