import Foundation
import Postgres

/// What one version holds: its chain, client CA, usage and names, and the sealed key (nil once erased).
public struct VersionMaterial: Sendable {
    public let certificateID: UUID
    public let version: Int
    public let chainPEM: String?
    public let clientCAPEM: String?
    public let usage: String
    public let sans: [String]
    /// The ACME account the certificate is issued through (nil: uploaded).
    public let acmeAccountID: UUID?
    let sealedKey: [UInt8]?
    let masterKeyID: String?

    /// False once the key was erased (deleted certificates, superseded versions).
    public var hasKey: Bool { sealedKey != nil && masterKeyID != nil }

    /// The version's private key (PEM), opened with the master key it was sealed with; nil when erased.
    public func openKey(with sealer: KeySealer) throws -> String? {
        guard let sealedKey, let masterKeyID else { return nil }
        let opened = try sealer.open(
            sealedKey, keyID: masterKeyID,
            context: KeySealer.certificateKeyContext(certificate: certificateID, version: version))
        return String(decoding: opened, as: UTF8.self)
    }
}

/// The newest version of a certificate with the row fields EMQX's TLS document shows.
public struct NewestVersion: Sendable {
    public let chainPEM: String
    public let twoWay: Bool
    public let certificateName: String
    public let lastErrorCode: String?
    public let lastErrorMessage: String?
}

/// Reads of `certificate_versions`: the one way to get a version's chain and key.
public struct CertificateVersions: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// VERSION of CERTIFICATE, or nil when it does not exist.
    public func material(certificate: UUID, version: Int) async throws -> VersionMaterial? {
        guard
            let row = try await db.query(
                """
                SELECT \(unescaped: Self.materialColumns)
                FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id
                WHERE v.certificate_id = \(certificate) AND v.version = \(Int32(version))
                """
            ).first
        else { return nil }
        return try Self.material(row, certificate: certificate, version: version)
    }

    /// The columns of a version's material, `v` the version row and `c` its certificate.
    static let materialColumns = "v.chain_pem, v.client_ca_pem, v.private_key_sealed, v.master_key_id, c.usage, c.sans, c.acme_account_id"

    /// A row holding `materialColumns`.
    static func material(_ row: PostgresRow, certificate: UUID, version: Int) throws -> VersionMaterial {
        VersionMaterial(
            certificateID: certificate, version: version, chainPEM: try row.decode(String?.self, "chain_pem"),
            clientCAPEM: try row.decode(String?.self, "client_ca_pem"), usage: try row.decode(String.self, "usage"),
            sans: try row.decode([String].self, "sans"), acmeAccountID: try row.decode(UUID?.self, "acme_account_id"),
            sealedKey: try row.decode(PostgresBytes?.self, "private_key_sealed")?.bytes,
            masterKeyID: try row.decode(String?.self, "master_key_id"))
    }

    /// The newest version of CERTIFICATE (whatever its state).
    public func newest(certificate: UUID) async throws -> NewestVersion? {
        try await db.query(
            """
            SELECT v.chain_pem, (v.client_ca_pem IS NOT NULL) AS two_way, c.name, c.last_error_code, c.last_error_message
            FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id
            WHERE v.certificate_id = \(certificate) ORDER BY v.version DESC LIMIT 1
            """
        ).first.map { row in
            NewestVersion(
                chainPEM: try row.decode(String.self, "chain_pem"), twoWay: try row.decode(Bool.self, "two_way"),
                certificateName: try row.decode(String.self, "name"), lastErrorCode: try row.decode(String?.self, "last_error_code"),
                lastErrorMessage: try row.decode(String?.self, "last_error_message"))
        }
    }

    /// Records who took a private key out: part of the audit trail.
    public func recordKeyExport(project: UUID, certificate: UUID, type: String, actor: String) async throws {
        try await db.transaction { tx in
            try await Events.record(
                tx, project: project, certificate: certificate, job: nil, type: "key_exported",
                from: nil, to: nil, reason: type, actor: actor)
        }
    }
}
