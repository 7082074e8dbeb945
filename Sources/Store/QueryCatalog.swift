import CertFleetCore
import Foundation
import Postgres

/// Every query on a hot path (API reads, the job protocol, the scheduler's scans, the
/// idempotency lookup, retention), built by the same functions the code runs, with sample
/// values. The plan test EXPLAINs each against a large seeded database and fails on a
/// sequential scan of a big table; `certfleet bench scale` times the scans with it.
public enum QueryCatalog {
    /// Values that make the queries realistic: an existing project, certificate, host, job.
    public struct Sample: Sendable {
        public var project: UUID
        public var certificate: UUID
        public var name: String
        public var commonName: String
        public var host: String
        public var job: UUID
        public var idempotencyKey: String
        public var expiresBefore: Date

        public init(
            project: UUID, certificate: UUID, name: String, commonName: String, host: String, job: UUID,
            idempotencyKey: String, expiresBefore: Date
        ) {
            self.project = project
            self.certificate = certificate
            self.name = name
            self.commonName = commonName
            self.host = host
            self.job = job
            self.idempotencyKey = idempotencyKey
            self.expiresBefore = expiresBefore
        }

        var wildcard: String? { host.firstIndex(of: ".").map { "*" + host[$0...] } }
    }

    public struct Entry: Sendable {
        public let name: String
        public let query: PostgresQuery
    }

    /// The tables whose sequential scan fails the plan test: the ones that grow with the fleet.
    public static let largeTables: Set<String> = ["certificates", "certificate_versions", "jobs", "events", "outbox"]

    public static func entries(_ s: Sample, retention: RetentionPolicy = .defaults) -> [Entry] {
        let page = 100
        var entries: [Entry] = [
            Entry(name: "get by uuid", query: CertificateDocuments.byIDQuery(project: s.project, id: s.certificate)),
            Entry(name: "get by name", query: CertificateDocuments.byNameQuery(project: s.project, name: s.name)),
            Entry(
                name: "batch get",
                query: CertificateDocuments.byReferencesQuery(
                    project: s.project, uuids: [s.certificate.uuidString.lowercased()], names: [s.name])),
            Entry(name: "match", query: CertificateDocuments.matchQuery(project: s.project, host: s.host, wildcard: s.wildcard)),
        ]
        let filters: [(String, CertificateListFilter, UUID?)] = [
            ("list", CertificateListFilter(), nil),
            ("list after cursor", CertificateListFilter(), s.certificate),
            ("list common_name", CertificateListFilter(commonName: s.commonName), nil),
            ("list domain", CertificateListFilter(domain: s.host), nil),
            ("list domain after cursor", CertificateListFilter(domain: s.host), s.certificate),
            ("list state=valid", CertificateListFilter(state: "valid"), nil),
            ("list state=error", CertificateListFilter(state: "error"), nil),
            ("list state=valid after cursor", CertificateListFilter(state: "valid"), s.certificate),
            ("list expires_before", CertificateListFilter(expiresBefore: s.expiresBefore), nil),
            ("list expires_before after cursor", CertificateListFilter(expiresBefore: s.expiresBefore), s.certificate),
        ]
        entries += filters.map {
            Entry(name: $0.0, query: CertificateDocuments.listPageQuery(project: s.project, filter: $0.1, after: $0.2, limit: page))
        }
        entries += [
            Entry(name: "claim", query: JobLedger.claimQuery(jobID: s.job, owner: "worker", lease: .seconds(60))),
            Entry(name: "commit fence and lock", query: JobCommit.fenceQuery(job: s.job, owner: "worker", certificate: s.certificate)),
            Entry(name: "idempotency replay", query: Submissions.replayQuery(project: s.project, key: s.idempotencyKey)),
            Entry(name: "renewal scan", query: Maintenance.dueRenewalsQuery(limit: 50)),
            Entry(name: "renewal queue limit", query: Maintenance.queuedRenewalsQuery(upTo: 1000)),
            Entry(name: "expiring scan", query: Maintenance.expiringQuery(limit: 100)),
            Entry(name: "expiry scan", query: Maintenance.expiredQuery(limit: 100)),
            Entry(name: "reaper", query: Maintenance.reapQuery(limit: 100)),
            Entry(name: "stale queued jobs", query: Maintenance.staleQueuedQuery(age: .seconds(120), limit: 100)),
            Entry(name: "renewal info scan", query: Maintenance.renewalInfoDueQuery(limit: 20, now: Date())),
            Entry(name: "outbox relay", query: Outbox.lockDueQuery(limit: 100)),
            Entry(name: "metrics counts", query: StateCounts.readQuery),
            Entry(name: "metrics expiring", query: StateCounts.expiringQuery),
            Entry(name: "metrics backlogs", query: StateCounts.backlogQuery),
            // A watermark past every row written so far: what a refresh between two writes reads.
            Entry(name: "metrics certificate changes", query: CertificateSeriesScan.query(since: "4294967296")),
            Entry(name: "metrics start-up page", query: CertificateSeriesScan.query(since: nil, after: UUID(), limit: 10_000)),
        ]
        // The console's certificates table: first page, the three searches, each sort, a page deep in.
        var console: [(String, CertificateTableQuery)] = []
        for (label, search) in [("first page", nil), ("search by name prefix", s.name), ("search by host", s.host)] {
            var query = CertificateTableQuery()
            query.search = search
            if label == "search by host" { (query.host, query.wildcard) = (s.host, s.wildcard) }
            console.append((label, query))
        }
        for sort in [CertificateTableSort.expires, .created] {
            var query = CertificateTableQuery()
            query.sort = sort
            console.append(("sorted by \(sort)", query))
        }
        var state = CertificateTableQuery()
        state.state = "error"
        console.append(("state filter", state))
        entries += console.map { Entry(name: "console \($0.0)", query: CertificateTable.pageQuery(project: s.project, query: $0.1)) }
        entries += Retention.queries(retention, project: s.project).map { Entry(name: "retention \($0.0)", query: $0.1) }
        return entries
    }
}

extension QueryCatalog {
    /// One node of a plan: its type and the table it reads, if any.
    public struct PlanNode: Sendable, Equatable {
        public let type: String
        public let relation: String?
    }

    /// The planner's plan for QUERY (with its bound values), flattened.
    public static func plan(_ db: PostgresClient, _ query: PostgresQuery) async throws -> [PlanNode] {
        let explain = PostgresQuery(sql: "EXPLAIN (FORMAT JSON) " + query.sql, binds: query.binds)
        guard let text = try await db.query(explain).first?.decode(String.self, "QUERY PLAN"),
            let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]]
        else { return [] }
        var nodes: [PlanNode] = []
        func walk(_ node: [String: Any]) {
            nodes.append(PlanNode(type: node["Node Type"] as? String ?? "?", relation: node["Relation Name"] as? String))
            for child in node["Plans"] as? [[String: Any]] ?? [] { walk(child) }
        }
        for root in json { if let plan = root["Plan"] as? [String: Any] { walk(plan) } }
        return nodes
    }

    /// The sequential scans of large tables in NODES (what the plan test refuses).
    public static func largeTableScans(_ nodes: [PlanNode]) -> [String] {
        nodes.filter { $0.type == "Seq Scan" && largeTables.contains($0.relation ?? "") }.compactMap(\.relation)
    }
}
