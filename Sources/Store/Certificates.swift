import CertFleetCore
import Foundation
import Postgres

/// The fields of a certificate row the job protocol decides on.
public struct CertificateSnapshot: Sendable, Equatable {
    public let id: UUID
    public let projectID: UUID
    public let name: String
    public let state: CertificateState
    public let currentVersion: Int?
    /// The optimistic-lock counter (the API's ETag).
    public let rowVersion: Int64
}

/// Certificate lookups shared by submissions and job commits.
public enum Certificates {
    /// Locks the live certificate REFERENCE (a uuid or a name) of PROJECT for this transaction.
    public static func lock(_ tx: PostgresTransaction, project: UUID, reference: String) async throws -> CertificateSnapshot {
        let rows: PostgresRows
        if let id = UUID(uuidString: reference) {
            rows = try await tx.query(
                """
                SELECT id, project_id, name, state, current_version, version FROM certificates
                WHERE project_id = \(project) AND id = \(id) AND deleted_at IS NULL FOR UPDATE
                """)
        } else {
            rows = try await tx.query(
                """
                SELECT id, project_id, name, state, current_version, version FROM certificates
                WHERE project_id = \(project) AND name = \(reference) AND deleted_at IS NULL FOR UPDATE
                """)
        }
        guard let row = rows.first else { throw StoreError.certificateNotFound(reference) }
        return try snapshot(row)
    }

    /// Locks certificate ID whatever its state (workers address certificates by id).
    public static func lock(_ tx: PostgresTransaction, id: UUID) async throws -> CertificateSnapshot {
        guard
            let row = try await tx.query(
                "SELECT id, project_id, name, state, current_version, version FROM certificates WHERE id = \(id) FOR UPDATE"
            ).first
        else { throw StoreError.certificateNotFound(id.uuidString.lowercased()) }
        return try snapshot(row)
    }

    /// The consumers bound to CERTIFICATE, sorted (a bound certificate is not deleted).
    public static func bindings(_ db: Database, certificate: UUID) async throws -> [String] {
        try await db.withConnection { try await bindings($0, certificate: certificate) }
    }

    /// The same, inside TX.
    public static func bindings(_ tx: PostgresTransaction, certificate: UUID) async throws -> [String] {
        try await tx.query("SELECT consumer FROM bindings WHERE certificate_id = \(certificate) ORDER BY consumer")
            .map { try $0.decode(String.self, "consumer") }
    }

    /// Moves CERTIFICATE to NEXT (a new row version: the API's ETag) and records EVENT in the
    /// audit trail, in TX: how a request or a commit changes only the state. FROM is the state
    /// the trail names as left (the locked state unless a step of the same commit moved it).
    static func transition(
        _ tx: PostgresTransaction, _ certificate: CertificateSnapshot, from: CertificateState? = nil, to next: CertificateState,
        event: String, job: UUID? = nil, actor: String
    ) async throws {
        try await tx.query(
            "UPDATE certificates SET state = \(next.rawValue), version = version + 1, updated_at = now() WHERE id = \(certificate.id)")
        try await Events.record(
            tx, project: certificate.projectID, certificate: certificate.id, job: job, type: event,
            from: (from ?? certificate.state).rawValue, to: next.rawValue, actor: actor)
    }

    static func snapshot(_ row: PostgresRow) throws -> CertificateSnapshot {
        let state = try row.decode(String.self, "state")
        guard let parsed = CertificateState(rawValue: state) else { throw PostgresError.decoding("unknown certificate state \(state)") }
        return CertificateSnapshot(
            id: try row.decode(UUID.self, "id"), projectID: try row.decode(UUID.self, "project_id"),
            name: try row.decode(String.self, "name"), state: parsed,
            currentVersion: try row.decode(Int?.self, "current_version"), rowVersion: try row.decode(Int64.self, "version"))
    }
}

/// The audit trail.
public enum Events {
    @discardableResult
    public static func record(
        _ tx: PostgresTransaction, project: UUID, certificate: UUID?, job: UUID?, type: String,
        from: String?, to: String?, attempt: Int? = nil, reason: String? = nil, actor: String, dedupeKey: String? = nil
    ) async throws -> Int64? {
        try await tx.query(
            """
            INSERT INTO events (project_id, certificate_id, job_id, type, from_state, to_state, attempt, reason, actor, dedupe_key)
            VALUES (\(project), \(certificate), \(job), \(type), \(from), \(to), \(attempt.map(Int32.init)), \(reason), \(actor), \(dedupeKey))
            ON CONFLICT (dedupe_key) DO NOTHING
            RETURNING id
            """
        ).first?.decode(Int64.self, "id")
    }
}

extension Events {
    /// Records a transition in the audit trail and puts its CloudEvent in the outbox,
    /// in the caller's transaction (so the event exists exactly when the change does).
    /// Returns the outbox row, for the writer to publish after commit.
    public static func announce(
        _ tx: PostgresTransaction, certificate: CertificateSnapshot, to next: CertificateState, event: String,
        job: UUID?, attempt: Int?, actor: String, version: Int?, serial: String? = nil, notAfter: Date? = nil,
        reason: String? = nil, ca: String? = nil
    ) async throws -> OutboxMessage {
        let eventID = try await record(
            tx, project: certificate.projectID, certificate: certificate.id, job: job, type: event,
            from: certificate.state.rawValue, to: next.rawValue, attempt: attempt, reason: reason, actor: actor)
        return try await enqueue(
            tx, eventID: eventID, certificate: certificate, state: next, event: event, job: job,
            data: .init(version: version, serial: serial, notAfter: notAfter, reason: reason, ca: ca))
    }

    /// Like `announce` for an event that must exist at most once (DEDUPEKEY, e.g. one
    /// `expiring` per threshold and version): nil, and nothing in the outbox, when it exists.
    public static func announceOnce(
        _ tx: PostgresTransaction, certificate: CertificateSnapshot, event: String, dedupeKey: String, actor: String,
        version: Int?, serial: String?, notAfter: Date?, reason: String?, thresholdDays: Int? = nil
    ) async throws -> OutboxMessage? {
        guard
            let eventID = try await record(
                tx, project: certificate.projectID, certificate: certificate.id, job: nil, type: event, from: certificate.state.rawValue,
                to: certificate.state.rawValue, reason: reason, actor: actor, dedupeKey: dedupeKey)
        else { return nil }
        return try await enqueue(
            tx, eventID: eventID, certificate: certificate, state: certificate.state, event: event, job: nil,
            data: .init(version: version, serial: serial, notAfter: notAfter, reason: reason, thresholdDays: thresholdDays))
    }

    /// The facts of one version an event carries.
    struct VersionFacts {
        var version: Int?
        var serial: String?
        var notAfter: Date?
        var reason: String?
        var thresholdDays: Int?
        var ca: String?
        var target: CertificateEventMessage.EventTarget? = nil
    }

    static func enqueue(
        _ tx: PostgresTransaction, eventID: Int64?, certificate: CertificateSnapshot, state: CertificateState, event: String,
        job: UUID?, data: VersionFacts
    ) async throws -> OutboxMessage {
        let message = CertificateEventMessage(
            id: eventID.map { "evt-\($0)" } ?? UUID().uuidString.lowercased(), event: event, time: Date(),
            data: .init(
                certificateID: certificate.id, projectID: certificate.projectID, name: certificate.name, state: state.rawValue,
                version: data.version, serial: data.serial, notAfter: data.notAfter, reason: data.reason, jobID: job,
                thresholdDays: data.thresholdDays, ca: data.ca, target: data.target))
        return try await Outbox.enqueueEvent(tx, message, name: event)
    }
}
