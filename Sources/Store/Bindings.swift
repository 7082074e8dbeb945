import Foundation
import Postgres

/// Which consumers (services, EMQX listeners) use a certificate: a bound certificate is
/// not deleted. Every change is one transaction with its audit event.
public struct Bindings: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    /// The live certificate a consumer uses (its newest binding), and that certificate's state.
    public func current(project: UUID, consumer: String) async throws -> (id: UUID, state: String)? {
        try await db.query(
            """
            SELECT c.id, c.state FROM bindings b JOIN certificates c ON c.id = b.certificate_id
            WHERE c.project_id = \(project) AND b.consumer = \(consumer) AND c.deleted_at IS NULL AND c.state <> 'deleting'
            ORDER BY b.created_at DESC, c.id LIMIT 1
            """
        ).first.map { (id: try $0.decode(UUID.self, "id"), state: try $0.decode(String.self, "state")) }
    }

    /// Binds REFERENCE to CONSUMER; `created` is false when it already was.
    public func bind(project: UUID, reference: String, consumer: String, actor: String) async throws -> (id: UUID, created: Bool) {
        try await db.transaction { tx in
            // The row lock orders this against a concurrent delete request.
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            guard certificate.state != .deleting && certificate.state != .deleted else {
                throw StoreError.transitionRefused(code: "certificate_deleting", state: certificate.state.rawValue)
            }
            if let id = try await Self.insert(tx, project: project, certificate: certificate.id, consumer: consumer, actor: actor) {
                return (id, true)
            }
            let id = try await tx.query("SELECT id FROM bindings WHERE certificate_id = \(certificate.id) AND consumer = \(consumer)")
                .first!.decode(UUID.self, "id")
            return (id, false)
        }
    }

    /// Removes the binding; false when there was none. `stillUsed`: other consumers remain.
    public func unbind(project: UUID, reference: String, consumer: String, actor: String) async throws -> (removed: Bool, stillUsed: Bool) {
        try await db.transaction { tx in
            let certificate = try await Certificates.lock(tx, project: project, reference: reference)
            let gone =
                !(try await tx.query(
                    """
                    DELETE FROM bindings WHERE certificate_id = \(certificate.id) AND consumer = \(consumer) RETURNING id
                    """
                ).isEmpty)
            if gone {
                try await Events.record(
                    tx, project: project, certificate: certificate.id, job: nil, type: "unbound",
                    from: nil, to: nil, reason: consumer, actor: actor)
            }
            return (gone, !(try await Certificates.bindings(tx, certificate: certificate.id)).isEmpty)
        }
    }

    /// Inserts the binding and its `bound` event; nil when it existed.
    static func insert(_ tx: PostgresTransaction, project: UUID, certificate: UUID, consumer: String, actor: String) async throws -> UUID? {
        guard
            let id = try await tx.query(
                """
                INSERT INTO bindings (certificate_id, consumer) VALUES (\(certificate), \(consumer))
                ON CONFLICT (certificate_id, consumer) DO NOTHING RETURNING id
                """
            ).first?.decode(UUID.self, "id")
        else { return nil }
        try await Events.record(
            tx, project: project, certificate: certificate, job: nil, type: "bound",
            from: nil, to: nil, reason: consumer, actor: actor)
        return id
    }

    /// Serializes binds of CONSUMER in PROJECT for this transaction, then fails when a live
    /// certificate already serves it: two concurrent creates cannot both bind one.
    static func claimConsumer(_ tx: PostgresTransaction, project: UUID, consumer: String) async throws {
        let lockKey = "binding:\(project.uuidString.lowercased()):\(consumer)"
        try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\(lockKey), 0))")
        let taken = try await tx.query(
            """
            SELECT 1 AS one FROM bindings b JOIN certificates c ON c.id = b.certificate_id
            WHERE c.project_id = \(project) AND b.consumer = \(consumer) AND c.deleted_at IS NULL AND c.state <> 'deleting'
            LIMIT 1
            """)
        guard taken.isEmpty else { throw StoreError.consumerTaken(consumer) }
    }
}
