import CertFleetCore
import Foundation
import Postgres

/// One certificate an agent should install: the current version, with its key (opened by
/// the API for this answer only, over the agent's own authenticated request).
public struct AgentOffer: Sendable {
    public let certificateID: UUID
    public let name: String
    public let version: Int
    public let serial: String
    public let fingerprintSHA256: String
    public let chainPEM: String
    public let keyPEM: String
}

/// Why an agent's request is refused. Stable codes.
public enum AgentRefusal: Error, Sendable, Equatable {
    /// The key is not this agent target's (or the target is gone) (401).
    case keyInvalid
    /// The acknowledged version is not one the certificate has, or not bound here (404).
    case unknownVersion
    /// The fingerprint is not the version's: the agent installed something else (409).
    case fingerprintMismatch

    public var code: String {
        switch self {
        case .keyInvalid: return "agent_key_invalid"
        case .unknownVersion: return "agent_unknown_version"
        case .fingerprintMismatch: return "fingerprint_mismatch"
        }
    }
}

/// The agent side of deliveries: an agent target's key opens only its own offers; what it
/// acknowledges becomes what the target holds, once per version (`deliveries`), with a
/// `delivered` event. An agent that was offline gets the current version only.
public struct AgentDeliveries: Sendable {
    let db: Database
    let sealer: KeySealer

    public init(db: Database, sealer: KeySealer) {
        self.db = db
        self.sealer = sealer
    }

    /// The agent target KEY (`<target uuid>.<secret>`) names, or `keyInvalid`.
    public func authenticate(_ key: String) async throws -> DeliveryTarget {
        let parts = key.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let id = UUID(uuidString: String(parts[0])) else { throw AgentRefusal.keyInvalid }
        guard
            let row = try await db.query(
                """
                SELECT \(unescaped: Targets.columns), secret_sealed, master_key_id FROM delivery_targets
                WHERE id = \(id) AND kind = 'agent' AND deleted_at IS NULL
                """
            ).first,
            let sealed = try row.decode(PostgresBytes?.self, "secret_sealed"), let keyID = try row.decode(String?.self, "master_key_id"),
            let secret = try? sealer.open(sealed.bytes, keyID: keyID, context: Targets.secretContext(target: id))
        else { throw AgentRefusal.keyInvalid }
        // Compared in constant time: a timing difference must not tell how much of a guess was right.
        let given = Array(parts[1].utf8)
        guard given.count == secret.count, zip(given, secret).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { throw AgentRefusal.keyInvalid }
        return try Targets.decode(row)
    }

    /// The current valid versions of the certificates bound to TARGET that it does not hold yet.
    public func offers(target: DeliveryTarget) async throws -> [AgentOffer] {
        try await db.query(
            """
            SELECT c.id, c.name, c.current_version, v.serial, v.fingerprint_sha256, v.chain_pem, v.private_key_sealed, v.master_key_id
            FROM bindings b JOIN certificates c ON c.id = b.certificate_id
            JOIN certificate_versions v ON v.certificate_id = c.id AND v.version = c.current_version
            LEFT JOIN target_holdings h ON h.target_id = b.target_id AND h.certificate_id = c.id
            WHERE b.target_id = \(target.id) AND c.project_id = \(target.projectID) AND c.deleted_at IS NULL
              AND c.state IN ('valid', 'renewing') AND v.private_key_sealed IS NOT NULL
              AND (h.version IS NULL OR h.version < c.current_version)
            ORDER BY c.name
            """
        ).map { row in
            let id = try row.decode(UUID.self, "id"), version = try row.decode(Int.self, "current_version")
            let sealed = try row.decode(PostgresBytes.self, "private_key_sealed").bytes
            let key = try sealer.open(
                sealed, keyID: try row.decode(String.self, "master_key_id"),
                context: KeySealer.certificateKeyContext(certificate: id, version: version))
            return AgentOffer(
                certificateID: id, name: try row.decode(String.self, "name"), version: version,
                serial: try row.decode(String?.self, "serial") ?? "",
                fingerprintSHA256: try row.decode(String?.self, "fingerprint_sha256") ?? "",
                chainPEM: try row.decode(String.self, "chain_pem"), keyPEM: String(decoding: key, as: UTF8.self))
        }
    }

    /// Records that TARGET installed VERSION of CERTIFICATE with FINGERPRINT (the agent's
    /// acknowledgement). Returns the outbox rows of the `delivered` event (none for a repeat).
    public func acknowledge(
        target: DeliveryTarget, certificate id: UUID, version: Int, fingerprint: String, answer: String
    ) async throws -> [OutboxMessage] {
        try await db.transaction { tx in
            let certificate = try await Certificates.lock(tx, id: id)
            guard certificate.projectID == target.projectID,
                let row = try await tx.query(
                    """
                    SELECT v.fingerprint_sha256 FROM certificate_versions v
                    WHERE v.certificate_id = \(id) AND v.version = \(Int32(version)) AND v.state IN ('valid', 'superseded')
                      AND EXISTS (SELECT 1 FROM bindings b WHERE b.certificate_id = \(id) AND b.target_id = \(target.id))
                    """
                ).first
            else { throw AgentRefusal.unknownVersion }
            let expected = try row.decode(String?.self, "fingerprint_sha256") ?? ""
            guard Self.sameFingerprint(expected, fingerprint) else { throw AgentRefusal.fingerprintMismatch }
            try await tx.query(
                """
                INSERT INTO target_holdings (target_id, certificate_id, version, fingerprint_sha256, delivered_at, last_outcome, last_answer,
                                             last_attempt_at)
                VALUES (\(target.id), \(id), \(Int32(version)), \(expected), now(), 'delivered', \(answer), now())
                ON CONFLICT (target_id, certificate_id) DO UPDATE SET
                    version = EXCLUDED.version, fingerprint_sha256 = EXCLUDED.fingerprint_sha256, delivered_at = now(),
                    last_outcome = 'delivered', last_code = NULL, last_answer = EXCLUDED.last_answer, last_attempt_at = now()
                WHERE target_holdings.version IS NULL OR target_holdings.version < EXCLUDED.version
                """)
            guard
                !(try await tx.query(
                    """
                    INSERT INTO deliveries (certificate_id, version, target_id, outcome, fingerprint_sha256, answer, attempts)
                    VALUES (\(id), \(Int32(version)), \(target.id), 'delivered', \(expected), \(answer), 1)
                    ON CONFLICT DO NOTHING RETURNING version
                    """
                ).isEmpty)
            else { return [] }
            let eventID = try await Events.record(
                tx, project: target.projectID, certificate: id, job: nil, type: "delivered",
                from: certificate.state.rawValue, to: certificate.state.rawValue, reason: target.name,
                actor: "agent:\(target.id.uuidString.lowercased())")
            return [
                try await Events.enqueue(
                    tx, eventID: eventID, certificate: certificate, state: certificate.state, event: "delivered", job: nil,
                    data: .init(
                        version: version,
                        target: .init(
                            id: target.id, name: target.name, kind: target.kind.rawValue,
                            fingerprintSHA256: expected, answer: answer)))
            ]
        }
    }

    /// `AB:CD:…` and `abcd…` name the same fingerprint.
    static func sameFingerprint(_ a: String, _ b: String) -> Bool {
        func hex(_ s: String) -> String { s.lowercased().filter(\.isHexDigit) }
        return !hex(a).isEmpty && hex(a) == hex(b)
    }
}
