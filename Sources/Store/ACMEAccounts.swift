import Foundation
import Postgres

/// An ACME account of a project, as the API lists it (never the key).
public struct ACMEAccountRecord: Sendable, Equatable {
    public let id: UUID
    public let projectID: UUID
    public let name: String
    public let directoryURL: String
    public let contact: [String]
    /// The account URL (JWS `kid`), once registered.
    public let accountURL: String?
    public let status: String
    public let createdAt: Date
    /// Its place in the project's CA chain (1 first); nil: not in the chain.
    public let fallbackOrder: Int?
}

/// The `acme_accounts` table. Account keys are sealed like certificate keys
/// (AAD = the account id), so a copied blob does not open under another account.
public enum ACMEAccounts {
    /// The name of the account a project uses when a request names none.
    public static let defaultName = "default"

    static let columns = "id, project_id, name, directory_url, contact, account_url, status, created_at, fallback_order"

    /// Stores a registered (or to-be-registered) account with its key. Throws `nameTaken` for a duplicate name.
    public static func create(
        _ db: PostgresClient, sealer: KeySealer, id: UUID = UUID(), project: UUID, name: String, directoryURL: String,
        contact: [String], accountURL: String?, status: String, keyPEM: String, eabKeyID: String?, fallbackOrder: Int? = nil
    ) async throws -> ACMEAccountRecord {
        let sealed = try sealer.seal(Array(keyPEM.utf8), context: KeySealer.acmeAccountKeyContext(account: id))
        do {
            guard
                let row = try await db.query(
                    """
                    INSERT INTO acme_accounts (id, project_id, name, directory_url, contact, account_url, key_sealed,
                        master_key_id, eab_key_id, status,
                                               fallback_order)
                    VALUES (\(id), \(project), \(name), \(directoryURL), \(contact), \(accountURL), \(PostgresBytes(sealed.sealed)), \(sealed.keyID),
                            \(eabKeyID), \(status), \(fallbackOrder.map(Int32.init)))
                    ON CONFLICT (project_id, name) DO NOTHING
                    RETURNING \(unescaped: columns)
                    """
                ).first
            else { throw StoreError.nameTaken(name) }
            return try record(row)
        } catch let error as PostgresError where error.constraint == "acme_accounts_fallback" {
            throw StoreError.fallbackOrderTaken(fallbackOrder ?? 0)
        }
    }

    /// The project's CA chain: the accounts with a fallback order, first one first.
    public static func chain(_ db: PostgresClient, project: UUID) async throws -> [ACMEAccountRecord] {
        try await db.query(
            """
            SELECT \(unescaped: columns) FROM acme_accounts WHERE project_id = \(project) AND fallback_order IS NOT NULL ORDER BY fallback_order
            """
        ).map(record)
    }

    public static func list(_ db: PostgresClient, project: UUID) async throws -> [ACMEAccountRecord] {
        try await db.query("SELECT \(unescaped: columns) FROM acme_accounts WHERE project_id = \(project) ORDER BY created_at, id").map(record)
    }

    /// The id of account REFERENCE (uuid or name) of PROJECT.
    public static func find(_ tx: PostgresTransaction, project: UUID, reference: String) async throws -> UUID {
        let rows: PostgresRows
        if let id = UUID(uuidString: reference) {
            rows = try await tx.query("SELECT id FROM acme_accounts WHERE project_id = \(project) AND id = \(id)")
        } else {
            rows = try await tx.query("SELECT id FROM acme_accounts WHERE project_id = \(project) AND name = \(reference)")
        }
        guard let id = try rows.first?.decode(UUID.self, "id") else { throw StoreError.acmeAccountNotFound(reference) }
        return id
    }

    /// Account ID with its key, opened (for the worker that signs with it).
    public static func load(_ db: PostgresClient, sealer: KeySealer, id: UUID) async throws -> (record: ACMEAccountRecord, keyPEM: String) {
        guard
            let row = try await db.query(
                """
                SELECT \(unescaped: columns), key_sealed, master_key_id FROM acme_accounts WHERE id = \(id)
                """
            ).first
        else { throw StoreError.acmeAccountNotFound(id.uuidString.lowercased()) }
        let key = try sealer.open(
            try row.decode(PostgresBytes.self, "key_sealed").bytes, keyID: try row.decode(String.self, "master_key_id"),
            context: KeySealer.acmeAccountKeyContext(account: id))
        return (try record(row), String(decoding: key, as: UTF8.self))
    }

    /// The project's default account on DIRECTORYURL, created (unregistered, with
    /// the key MAKEKEY returns) when the project has none. Safe under concurrency:
    /// the unique name decides which creator wins.
    public static func ensureDefault(
        _ db: PostgresClient, sealer: KeySealer, project: UUID, directoryURL: String, makeKey: () throws -> String
    ) async throws -> UUID {
        if let id = try await defaultID(db, project: project) { return id }
        do {
            return try await create(
                db, sealer: sealer, project: project, name: defaultName, directoryURL: directoryURL, contact: [],
                accountURL: nil, status: "pending", keyPEM: try makeKey(), eabKeyID: nil
            ).id
        } catch StoreError.nameTaken {
            guard let id = try await defaultID(db, project: project) else { throw StoreError.acmeAccountNotFound(defaultName) }
            return id
        }
    }

    private static func defaultID(_ db: PostgresClient, project: UUID) async throws -> UUID? {
        try await db.query(
            """
            SELECT id FROM acme_accounts WHERE project_id = \(project) AND name = \(defaultName)
            """
        ).first?.decode(UUID.self, "id")
    }

    /// Records the account URL the CA returned at registration.
    public static func markRegistered(_ db: PostgresClient, id: UUID, accountURL: String) async throws {
        try await db.query("UPDATE acme_accounts SET account_url = \(accountURL), status = 'valid' WHERE id = \(id)")
    }

    static func record(_ row: PostgresRow) throws -> ACMEAccountRecord {
        ACMEAccountRecord(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"), name: try row.decode(String.self, "name"),
            directoryURL: try row.decode(String.self, "directory_url"), contact: try row.decode([String].self, "contact"),
            accountURL: try row.decode(String?.self, "account_url"), status: try row.decode(String.self, "status"),
            createdAt: try row.decode(Date.self, "created_at"), fallbackOrder: try row.decode(Int?.self, "fallback_order"))
    }
}
