import ACME
import Foundation
import Testing
import X509

@Suite struct AccountTests {
    private func configuration() -> ACMEConfiguration {
        ACMEConfiguration(directoryURL: Pebble.directoryURL, trustedCAFile: Pebble.caFile)
    }

    @Test func registerFindByImportedKeyRollOverAndDeactivate() async throws {
        let key = try PrivateKey.generate(.ecP256)
        let first = try ACMEClient(configuration: configuration(), accountKey: key)
        let account = try await first.register(contact: ["mailto:a@certfleet-test.com"], agreeToTermsOfService: true)
        #expect(account.status == "valid")
        #expect(account.contact == ["mailto:a@certfleet-test.com"])
        #expect(first.accountURL == account.url)
        await first.shutdown()

        // Import: a new process knows only the key's PEM and finds the same account.
        let imported = try ACMEClient(configuration: configuration(), accountKey: try PrivateKey(pem: key.pkcs8PEM()))
        let found = try await imported.findExistingAccount()
        #expect(found.url == account.url)

        // Rollover: afterwards the new key finds the account, the old one does not.
        let newKey = try PrivateKey.generate(.rsa2048)
        try await imported.rolloverKey(to: newKey)
        #expect(try await imported.fetchAccount().status == "valid")
        let withNewKey = try ACMEClient(configuration: configuration(), accountKey: newKey)
        #expect(try await withNewKey.findExistingAccount().url == account.url)
        await withNewKey.shutdown()
        let withOldKey = try ACMEClient(configuration: configuration(), accountKey: key)
        await #expect {
            try await withOldKey.findExistingAccount()
        } throws: { error in
            (error as? ACMEError)?.problem?.kind == .accountDoesNotExist
        }
        await withOldKey.shutdown()

        // Deactivate: the account refuses further orders.
        #expect(try await imported.deactivateAccount().status == "deactivated")
        await #expect {
            _ = try await imported.newOrder(identifiers: [.dns(Pebble.uniqueDomain("gone"))])
        } throws: { error in
            (error as? ACMEError)?.problem?.kind == .unauthorized
        }
        await imported.shutdown()
    }

    @Test func unknownKeyHasNoAccount() async throws {
        let client = try ACMEClient(configuration: configuration(), accountKey: try PrivateKey.generate(.ecP256))
        do {
            try await client.findExistingAccount()
            Issue.record("found an account for a fresh key")
        } catch {
            // Typed throws: `error` is an ACMEError.
            #expect(error.problem?.kind == .accountDoesNotExist)
            #expect(error.classification.disposition == .permanent)
            #expect(client.accountURL == nil)
        }
        await client.shutdown()
    }
}
