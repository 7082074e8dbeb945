import Foundation
import Postgres

/// The console's jobs page: a project's newest jobs (optionally of one state and kind), with
/// the certificate's name, and how many jobs are in each state and kind.
public struct JobOverview: Sendable {
    let db: Database

    public init(db: Database) { self.db = db }

    public struct Row: Sendable {
        public let job: JobRecord
        public let certificateName: String
    }

    /// The LIMIT newest jobs of PROJECT, newest first.
    public func recent(project: UUID, state: String?, kind: String?, limit: Int = 100) async throws -> [Row] {
        try await db.query(
            """
            SELECT \(unescaped: JobRecords.columns), c.name AS certificate_name
            FROM jobs j JOIN certificates c ON c.id = j.certificate_id
            WHERE j.project_id = \(project)
              AND (\(state)::text IS NULL OR j.state = \(state)) AND (\(kind)::text IS NULL OR j.kind = \(kind))
            ORDER BY j.created_at DESC, j.id DESC LIMIT \(limit)
            """
        ).map { Row(job: try JobRecord($0), certificateName: try $0.decode(String.self, "certificate_name")) }
    }

    /// Jobs of PROJECT by (state, kind) over the last DAYS days.
    public func counts(project: UUID, days: Int = 7) async throws -> [(state: String, kind: String, count: Int)] {
        try await db.query(
            """
            SELECT state, kind, count(*)::int8 AS n FROM jobs
            WHERE project_id = \(project) AND created_at > now() - make_interval(days => \(days)::int)
            GROUP BY state, kind ORDER BY state, kind
            """
        ).map { (try $0.decode(String.self, "state"), try $0.decode(String.self, "kind"), try $0.decode(Int.self, "n")) }
    }
}
