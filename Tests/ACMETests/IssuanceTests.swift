import ACME
import Foundation
import TestSupport
import Testing
import X509

/// Issuance against the shared Pebble. The tests share one http-01 responder
/// (see `SharedHTTP01`), so they may run in parallel.
@Suite struct IssuanceTests {
    @Test(arguments: [KeySpec.ecP256, .rsa2048])
    func issuesOneNameOverHTTP01(keySpec: KeySpec) async throws {
        let name = Pebble.uniqueDomain("one")
        let solver = try await SharedHTTP01.shared.solver()
        try await withClient(try await registeredClient()) { client in
            let (issued, key) = try await issue(client, [name], key: keySpec, solvers: [solver])
            let chain = try CertificateBundle.parse(pem: issued.chainPEM, limits: .clientCA).chain
            #expect(chain.count >= 2)
            #expect(chain[0].info.subject.commonName == name)
            #expect(chain[0].subjectAltNames == [name])
            #expect(key.matches(chain[0]))
            #expect(chain[0].publicKey.details.type == (keySpec == .rsa2048 ? .rsa : .ec))
            #expect(chain[0].isSignatureValid(signedBy: chain[1]))
        }
    }

    @Test func threeNamesPutTheFirstInTheCommonName() async throws {
        let names = (1...3).map { Pebble.uniqueDomain("multi\($0)") }
        let solver = try await SharedHTTP01.shared.solver()
        try await withClient(try await registeredClient()) { client in
            let (issued, _) = try await issue(client, names, key: .ecP384, solvers: [solver])
            let leaf = try Certificate(pem: issued.chainPEM)
            #expect(leaf.info.subject.commonName == names[0])
            #expect(Set(leaf.subjectAltNames) == Set(names))
        }
    }

    @Test func wildcardIsValidatedOverDNS01ThroughChallTestSrv() async throws {
        let base = Pebble.uniqueDomain("wild")
        let dns = DNS01Solver(
            provider: ChallTestSrvDNSProvider(managementURL: Pebble.challTestSrvURL),
            resolver: DNSTXTResolver(server: Pebble.dnsServer))
        let http = try await SharedHTTP01.shared.solver()
        try await withClient(try await registeredClient()) { client in
            // The wildcard takes dns-01 whatever the request prefers; the base name uses dns-01 too.
            let (issued, _) = try await issue(client, ["*.\(base)", base], type: .dns01, solvers: [dns, http])
            let leaf = try Certificate(pem: issued.chainPEM)
            #expect(leaf.info.subject.commonName == "*.\(base)")
            #expect(Set(leaf.subjectAltNames) == ["*.\(base)", base])
            #expect(leaf.matches(hostname: "api.\(base)"))
        }
    }

    @Test func manualDNSModeShowsTheRecordAndContinuesOnceItResolves() async throws {
        let name = Pebble.uniqueDomain("manual")
        let manual = ManualDNSProvider()
        let solver = DNS01Solver(provider: manual, resolver: DNSTXTResolver(server: Pebble.dnsServer), checkInterval: .milliseconds(100))
        let user = ChallTestSrvDNSProvider(managementURL: Pebble.challTestSrvURL)
        try await withClient(try await registeredClient()) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let (issued, _) = try await issue(client, [name], type: .dns01, solvers: [solver])
                    #expect(try Certificate(pem: issued.chainPEM).info.subject.commonName == name)
                }
                // The "user": reads the record the API would show, creates it at their DNS host.
                var shown: [ManualDNSProvider.Record] = []
                for _ in 0..<100 where shown.isEmpty {
                    try await Task.sleep(for: .milliseconds(100))
                    shown = manual.pendingRecords
                }
                let record = try #require(shown.first)
                #expect(record.name == "_acme-challenge.\(name).")
                try await user.createRecord(name: record.name, value: record.value)
                try await group.waitForAll()
                try await user.deleteRecord(name: record.name, value: record.value)
            }
        }
        #expect(manual.pendingRecords.isEmpty)
    }

    @Test func failedChallengeIsATypedProblemNamingTheIdentifier() async throws {
        let name = Pebble.uniqueDomain("fail")
        _ = try await SharedHTTP01.shared.solver() // the responder runs but will not know the token
        let unserved = HTTP01Solver(store: InMemoryHTTP01TokenStore())
        try await withClient(try await registeredClient()) { client in
            do {
                _ = try await issue(client, [name], solvers: [unserved])
                Issue.record("issuance without a served token succeeded")
            } catch let error as ACMEError {
                let problem = try #require(error.problem)
                #expect(problem.kind == .unauthorized || problem.kind == .connection || problem.kind == .incorrectResponse)
                #expect(problem.identifier == .dns(name))
                #expect(error.requiresNewOrder)
                #expect(!(error.description.contains("BEGIN")))
            }
        }
    }

    @Test func revokedCertificateIsReportedRevoked() async throws {
        let name = Pebble.uniqueDomain("revoke")
        let solver = try await SharedHTTP01.shared.solver()
        try await withClient(try await registeredClient()) { client in
            let (issued, _) = try await issue(client, [name], solvers: [solver])
            let leaf = try Certificate(pem: issued.chainPEM)
            try await client.revoke(certificate: leaf, reason: .keyCompromise)
            // Pebble's management API reports the status by serial.
            let status = try await PebbleManagement.certificateStatus(serialHex: leaf.info.serialNumber, managementURL: Pebble.managementURL)
            #expect(status == "Revoked")
            // And a second revocation is refused as alreadyRevoked.
            await #expect {
                try await client.revoke(certificate: leaf, reason: .superseded)
            } throws: { error in
                (error as? ACMEError)?.problem?.kind == .alreadyRevoked
            }
        }
    }

    @Test func pebbleOffersNoRenewalInfo() async throws {
        let name = Pebble.uniqueDomain("ari")
        let solver = try await SharedHTTP01.shared.solver()
        try await withClient(try await registeredClient()) { client in
            let (issued, _) = try await issue(client, [name], solvers: [solver])
            let leaf = try Certificate(pem: issued.chainPEM)
            #expect(try await client.directory().renewalInfo == nil)
            #expect(try await client.renewalInfo(for: leaf) == .unsupported)
            // The identifier ARI would use: AKI and serial, base64url, dot-separated.
            let id = try ACMEClient.renewalInfoIdentifier(for: leaf)
            #expect(id.split(separator: ".").count == 2)
        }
    }
}

/// Reads Pebble's management API (its own HTTPS certificate, our CA).
enum PebbleManagement {
    static func certificateStatus(serialHex: String, managementURL: String) async throws -> String? {
        // Pebble keys the lookup by the lower-case hex serial without leading zeros.
        var serial = serialHex.lowercased()
        while serial.hasPrefix("0") && serial.count > 1 { serial.removeFirst() }
        let output = try await TestSupport.TestStack.run(
            "/usr/bin/curl", ["-sf", "--cacert", Pebble.caFile, "\(managementURL)/cert-status-by-serial/\(serial)"])
        let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return json?["Status"] as? String
    }
}
