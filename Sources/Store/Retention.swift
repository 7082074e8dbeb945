import CertFleetCore
import Foundation
import Postgres

/// What one retention pass deleted, per kind.
public struct RetentionReport: Sendable, Equatable {
    public var outbox = 0
    public var jobs = 0
    public var events = 0
    public var versions = 0

    public init() {}

    public var total: Int { outbox + jobs + events + versions }
}

/// Deletes what `RetentionPolicy` no longer keeps, one small batch per transaction, rows
/// taken with `FOR UPDATE SKIP LOCKED`: several schedulers share the work and none holds
/// a lock for longer than one batch.
public struct Retention: Sendable {
    let db: PostgresClient
    let policy: RetentionPolicy

    public init(db: PostgresClient, policy: RetentionPolicy) {
        self.db = db
        self.policy = policy
    }

    /// Batches until every kind is done or MAXBATCHES statements ran (the next pass goes on).
    public func run(maxBatches: Int = 200) async throws -> RetentionReport {
        var report = RetentionReport()
        var budget = maxBatches
        func drain(_ batch: () async throws -> Int) async throws -> Int {
            var deleted = 0
            while budget > 0 && !Task.isCancelled {
                budget -= 1
                let n = try await batch()
                deleted += n
                if n < policy.batchSize { break }
            }
            return deleted
        }
        if let age = policy.publishedOutbox { report.outbox = try await drain { try await deleteOutbox(olderThan: age) } }
        if let age = policy.finishedJobs { report.jobs = try await drain { try await deleteJobs(olderThan: age) } }
        let projects = try await projects()
        for project in projects {
            if let age = project.events { report.events += try await drain { try await deleteEvents(project: project.id, olderThan: age) } }
        }
        // Versions: one walk over every project's, oldest first, each batch after the last one.
        if let shortest = projects.compactMap(\.versions).min() {
            var cursor = VersionCursor.start
            report.versions = try await drain { try await deleteVersions(after: &cursor, shortest: shortest) }
        }
        return report
    }

    /// Where a versions walk has got to, in `certificate_versions_retired_key` order.
    struct VersionCursor {
        var createdAt: Date
        var certificate: UUID
        var version: Int

        static let start = VersionCursor(
            createdAt: Date(timeIntervalSince1970: 0), certificate: UUID(uuidString: "00000000-0000-0000-0000-000000000000")!, version: 0)
    }

    struct ProjectRetention {
        let id: UUID
        let events: Duration?
        let versions: Duration?
    }

    /// Each project's own setting, else the policy's.
    func projects() async throws -> [ProjectRetention] {
        try await db.query("SELECT id, event_retention_days, version_retention_days FROM projects ORDER BY id").map { row in
            ProjectRetention(
                id: try row.decode(UUID.self, "id"),
                events: try row.decode(Int?.self, "event_retention_days").map { .seconds($0 * 86_400) } ?? policy.events,
                versions: try row.decode(Int?.self, "version_retention_days").map { .seconds($0 * 86_400) } ?? policy.retiredVersions)
        }
    }

    func deleteOutbox(olderThan age: Duration) async throws -> Int {
        try await db.query(Self.outboxQuery(age: age, limit: policy.batchSize)).affectedRows
    }

    /// Events that name a job keep the event and lose the link (the job is gone).
    func deleteJobs(olderThan age: Duration) async throws -> Int {
        try await db.transaction { tx in
            let ids = try await tx.query(Self.jobsQuery(age: age, limit: policy.batchSize)).map { try $0.decode(UUID.self, "id") }
            guard !ids.isEmpty else { return 0 }
            let list = ids.map { $0.uuidString.lowercased() }
            try await tx.query(Self.unlinkEventsQuery(jobs: list))
            return try await tx.query("DELETE FROM jobs WHERE id = ANY(\(list)::uuid[])").affectedRows
        }
    }

    func deleteEvents(project: UUID, olderThan age: Duration) async throws -> Int {
        try await db.query(Self.eventsQuery(project: project, age: age, limit: policy.batchSize)).affectedRows
    }

    /// A retired version goes with its `expiry_notices` (and its sealed key). Returns the
    /// versions taken (a full batch: more may follow after CURSOR, which moves past them).
    func deleteVersions(after cursor: inout VersionCursor, shortest: Duration) async throws -> Int {
        let query = Self.versionsQuery(after: cursor, shortest: shortest, default: policy.retiredVersions, limit: policy.batchSize)
        let (taken, last) = try await db.transaction { tx -> (Int, VersionCursor?) in
            let rows = Array(try await tx.query(query))
            guard let last = rows.last else { return (0, nil) }
            let ids = try rows.map { try $0.decode(UUID.self, "certificate_id").uuidString.lowercased() }
            let versions = try rows.map { try $0.decode(Int.self, "version") }
            try await tx.query(Self.deleteNoticesQuery(ids: ids, versions: versions))
            let deleted = try await tx.query(Self.deleteVersionsQuery(ids: ids, versions: versions)).affectedRows
            let end = VersionCursor(
                createdAt: try last.decode(Date.self, "created_at"), certificate: try last.decode(UUID.self, "certificate_id"),
                version: try last.decode(Int.self, "version"))
            return (deleted, end)
        }
        if let last { cursor = last }
        return taken
    }

    // MARK: - the statements (also in `QueryCatalog`)

    static func outboxQuery(age: Duration, limit: Int) -> PostgresQuery {
        """
        DELETE FROM outbox WHERE id = ANY(ARRAY(
            SELECT id FROM outbox WHERE published_at < now() - \(JobLedger.seconds(age)) * interval '1 second'
            ORDER BY published_at LIMIT \(limit) FOR UPDATE SKIP LOCKED))
        """
    }

    static func jobsQuery(age: Duration, limit: Int) -> PostgresQuery {
        """
        SELECT id FROM jobs WHERE finished_at < now() - \(JobLedger.seconds(age)) * interval '1 second'
        ORDER BY finished_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
        """
    }

    static func unlinkEventsQuery(jobs: [String]) -> PostgresQuery {
        "UPDATE events SET job_id = NULL WHERE job_id = ANY(\(jobs)::uuid[])"
    }

    static func eventsQuery(project: UUID, age: Duration, limit: Int) -> PostgresQuery {
        """
        DELETE FROM events WHERE id = ANY(ARRAY(
            SELECT id FROM events WHERE project_id = \(project) AND created_at < now() - \(JobLedger.seconds(age)) * interval '1 second'
            ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED))
        """
    }

    /// Retired versions past their project's retention (its `version_retention_days`, else
    /// DEFAULT; neither: kept), oldest first from AFTER on: an index range of
    /// `certificate_versions_retired_key` up to the SHORTEST retention, read once per pass
    /// whichever projects the rows belong to. Never the current version: a superseded or
    /// invalid one is not current by construction, the extra condition keeps it so.
    static func versionsQuery(after: VersionCursor, shortest: Duration, default age: Duration?, limit: Int) -> PostgresQuery {
        """
        SELECT v.certificate_id, v.version, v.created_at FROM certificate_versions v
        JOIN certificates c ON c.id = v.certificate_id JOIN projects p ON p.id = c.project_id
        WHERE v.state IN ('superseded', 'invalid') AND v.created_at < now() - \(JobLedger.seconds(shortest)) * interval '1 second'
          AND (v.created_at, v.certificate_id, v.version) > (\(after.createdAt), \(after.certificate), \(Int32(after.version)))
          AND v.created_at < now() - coalesce(p.version_retention_days * interval '1 day',
                                              \(age.map(JobLedger.seconds))::float8 * interval '1 second')
          AND v.version IS DISTINCT FROM c.current_version
        ORDER BY v.created_at, v.certificate_id, v.version LIMIT \(limit) FOR UPDATE OF v SKIP LOCKED
        """
    }

    static func deleteNoticesQuery(ids: [String], versions: [Int]) -> PostgresQuery {
        """
        DELETE FROM expiry_notices n USING unnest(\(ids)::uuid[], \(versions.map(String.init))::int[]) AS d(id, version)
        WHERE n.certificate_id = d.id AND n.version = d.version
        """
    }

    static func deleteVersionsQuery(ids: [String], versions: [Int]) -> PostgresQuery {
        """
        DELETE FROM certificate_versions v USING unnest(\(ids)::uuid[], \(versions.map(String.init))::int[]) AS d(id, version)
        WHERE v.certificate_id = d.id AND v.version = d.version
        """
    }

    /// The statements of a pass, for the plan test (with the policy's ages; a kind kept forever has none).
    public static func queries(_ policy: RetentionPolicy, project: UUID) -> [(String, PostgresQuery)] {
        var queries: [(String, PostgresQuery)] = []
        if let age = policy.publishedOutbox { queries.append(("outbox", outboxQuery(age: age, limit: policy.batchSize))) }
        if let age = policy.finishedJobs {
            queries.append(("jobs", jobsQuery(age: age, limit: policy.batchSize)))
            queries.append(("jobs unlink events", unlinkEventsQuery(jobs: [UUID().uuidString.lowercased()])))
        }
        if let age = policy.events { queries.append(("events", eventsQuery(project: project, age: age, limit: policy.batchSize))) }
        if let age = policy.retiredVersions {
            queries.append(("versions", versionsQuery(after: .start, shortest: age, default: age, limit: policy.batchSize)))
            let middle = VersionCursor(createdAt: Date().addingTimeInterval(-200 * 86_400), certificate: UUID(), version: 1)
            queries.append(("versions after cursor", versionsQuery(after: middle, shortest: age, default: age, limit: policy.batchSize)))
            let sample = ([UUID().uuidString.lowercased()], [1])
            queries.append(("versions' notices delete", deleteNoticesQuery(ids: sample.0, versions: sample.1)))
            queries.append(("versions delete", deleteVersionsQuery(ids: sample.0, versions: sample.1)))
        }
        return queries
    }
}

extension RetentionReport {
    /// Several passes (or schedulers) added up.
    public static func sum(_ reports: [RetentionReport]) -> RetentionReport {
        var total = RetentionReport()
        for report in reports {
            total.outbox += report.outbox
            total.jobs += report.jobs
            total.events += report.events
            total.versions += report.versions
        }
        return total
    }
}
