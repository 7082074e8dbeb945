import ACME
import CertFleetCore
import Foundation
import Store
import Synchronization
import X509

extension ACMESettings {
    /// The issuance budget with the configured limits (throws when the JSON is malformed).
    public func budget(db: Database) throws -> IssuanceBudget {
        try IssuanceBudget(db: db, limitsJSON: budgetLimitsJSON, projectShare: budgetProjectShare)
    }
}

/// A new account would exceed the CA's accounts-per-IP limit: the job waits for the window.
struct AccountRegistrationDeferred: Error {
    let deferral: IssuanceDeferral
}

/// One ACME client per account, shared by the jobs of a worker process (one
/// connection pool and nonce pool per account). Registers unregistered accounts
/// (the default account created on first use) before handing them out.
final class ACMEClients: Sendable {
    let settings: ACMESettings
    private let clients = Mutex<[UUID: ACMEClient]>([:])
    /// Clients being made: the jobs that want one account at the same moment share one making
    /// (a renewal storm's first jobs each registered the new default account otherwise, and
    /// spent the CA's accounts-per-IP limit on it, deferring the rest for hours).
    private let making = Mutex<[UUID: Task<ACMEClient, any Error>]>([:])

    init(settings: ACMESettings) { self.settings = settings }

    /// The account a certificate uses: its own, else the project's default (created on first use).
    func accountID(db: Database, sealer: KeySealer, certificate: UUID, project: UUID, assigned: UUID?) async throws -> UUID? {
        if let assigned { return assigned }
        guard let directory = settings.defaultDirectoryURL else { return nil }
        let id = try await ACMEAccounts.ensureDefault(db, sealer: sealer, project: project, directoryURL: directory) {
            try PrivateKey.generate(.ecP256).pkcs8PEM()
        }
        try await IssuanceTargets.assignAccount(db, certificate: certificate, account: id, onlyIfUnset: true)
        return id
    }

    func client(db: Database, sealer: KeySealer, account: UUID) async throws -> ACMEClient {
        if let client = clients.withLock({ $0[account] }) { return client }
        let task = making.withLock { table -> Task<ACMEClient, any Error> in
            if let task = table[account] { return task }
            let task = Task { try await self.make(db: db, sealer: sealer, account: account) }
            table[account] = task
            return task
        }
        defer { making.withLock { table in if table[account] == task { table[account] = nil } } }
        return try await task.value
    }

    private func make(db: Database, sealer: KeySealer, account: UUID) async throws -> ACMEClient {
        let (record, keyPEM) = try await ACMEAccounts.load(db, sealer: sealer, id: account)
        let client = try ACMEClient(
            configuration: settings.configuration(directoryURL: record.directoryURL),
            accountKey: try PrivateKey(pem: keyPEM), accountURL: record.accountURL)
        if record.accountURL == nil {
            // newAccount with the same key returns the existing account: safe to repeat.
            // A client must be shut down before it goes (its HTTP pool traps otherwise).
            do {
                if settings.budgetEnabled,
                    let deferral = try await settings.budget(db: db).reserveAccount(ca: record.directoryURL, project: record.projectID)
                {
                    throw AccountRegistrationDeferred(deferral: deferral)
                }
                let registered = try await client.register(contact: record.contact, agreeToTermsOfService: true)
                try await ACMEAccounts.markRegistered(db, id: account, accountURL: registered.url)
            } catch {
                await client.shutdown()
                throw error
            }
        }
        let (winner, loser) = clients.withLock { table -> (ACMEClient, ACMEClient?) in
            if let existing = table[account] { return (existing, client) }
            table[account] = client
            return (client, nil)
        }
        if let loser { await loser.shutdown() }
        return winner
    }
}
