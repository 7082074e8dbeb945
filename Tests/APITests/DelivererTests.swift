import CertFleetCore
import Foundation
import TestSupport
import Testing

@testable import Jobs

/// The target kinds on their own, against the real servers: what they refuse and what they
/// leave behind when they do.
@Suite(.serialized) struct DelivererTests {
    static func bundle(_ fixture: SelfSignedFixture, key: String? = nil, name: String, version: Int) -> DeliveryBundle {
        DeliveryBundle(
            certificateID: UUID(), projectID: UUID(), certificateName: name, version: version, serial: "01",
            fingerprintSHA256: "00", chainPEM: fixture.chain, keyPEM: key ?? fixture.key)
    }

    /// A key that does not belong to the certificate: HAProxy refuses at `set ssl cert`, the
    /// transaction is aborted (none left open) and the frontend keeps its certificate.
    @Test func haproxyRefusesAKeyMismatchAndKeepsServing() async throws {
        let name = "mismatch"
        try await TestStack.using(try await DeliveryEdge.start("deliverer-haproxy", certificateName: name), tearDown: { await $0.stop() }) { edge in
            let before = try DeliveryEdge.servedSerial(port: edge.haproxyPort)
            let fixture = try DeliveryTests.fixture(name)
            let deliverer = HAProxyDeliverer(socket: edge.haproxySocket, certificatePath: edge.haproxyCertificate)
            do {
                _ = try await deliverer.deliver(Self.bundle(fixture, key: fixture.otherKey, name: name, version: 1))
                Issue.record("a mismatched key was accepted")
            } catch let failure as DeliveryFailure {
                #expect(failure.code == .targetRefused, "\(failure)")
                #expect(failure.answer.lowercased().contains("key"), "HAProxy's own words are kept: \(failure.answer)")
            }
            let open = try await HAProxyDeliverer.send("show ssl cert\n", to: edge.haproxySocket)
            #expect(!open.contains("transaction"), "no transaction left open: \(open)")
            #expect(try DeliveryEdge.servedSerial(port: edge.haproxyPort) == before)
            // The matching key goes in at once afterwards.
            _ = try await deliverer.deliver(Self.bundle(fixture, name: name, version: 1))
            #expect(try DeliveryEdge.servedSerial(port: edge.haproxyPort) == (try DeliveryTests.serial(of: fixture)))
        }
    }

    /// Files: an older version than the directory holds is refused and nothing is touched; a
    /// reload that fails leaves the new files in place (the swap is done) and says why.
    @Test func filesRefuseADowngrade() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deliverer-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let newer = try DeliveryTests.fixture("files"), older = try DeliveryTests.fixture("files")
        let files = FilesDeliverer(directory: directory, reloadCommand: nil, reloadTimeout: .seconds(5))
        _ = try await files.deliver(Self.bundle(newer, name: "site", version: 2))
        do {
            _ = try await files.deliver(Self.bundle(older, name: "site", version: 1))
            Issue.record("a downgrade was written")
        } catch let failure as DeliveryFailure {
            #expect(failure.code == .downgradeRefused)
        }
        #expect(try String(contentsOfFile: "\(directory)/site/cert.pem", encoding: .utf8) == newer.chain.trimmingCharacters(in: .newlines) + "\n")
        #expect(FilesDeliverer.heldVersion("\(directory)/site") == 2)
        // Only the live version's directory (and its key) is kept.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(directory)/.certfleet/site").count == 1)
    }
}
