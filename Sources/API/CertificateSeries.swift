import CertFleetCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Store

/// cert-manager's per-certificate series under CertFleet's names, for its dashboards and alerts:
/// `certfleet_certificate_{expiration,not_before,renewal}_timestamp_seconds` and
/// `certfleet_certificate_ready_status{condition}`, labelled `name`, `project`, `issuer`.
///
/// Maintained, not queried per scrape: the first refresh reads every live certificate, later
/// ones only the rows written since the last watermark (`CertificateSeriesScan`). Certificates
/// are spread over shards whose text is rendered once per change of one of theirs; runs of
/// shards are joined into a few large buffers per family (again only where a shard changed), so a
/// scrape hands out a few dozen buffers as they are, whatever the fleet size (each buffer written
/// costs a trip through the response writer: thousands of small ones cost more than the bytes).
actor CertificateSeries {
    static let shardCount = 1024
    /// Shards per joined buffer: 32 buffers per family.
    static let shardsPerGroup = 32

    /// One family of series, in the order of the exposition.
    enum Family: Int, CaseIterable {
        case expiration, notBefore, renewal, ready

        var name: String {
            switch self {
            case .expiration: "certfleet_certificate_expiration_timestamp_seconds"
            case .notBefore: "certfleet_certificate_not_before_timestamp_seconds"
            case .renewal: "certfleet_certificate_renewal_timestamp_seconds"
            case .ready: "certfleet_certificate_ready_status"
            }
        }

        var help: String {
            switch self {
            case .expiration: "The date after which the certificate's current version expires (not_after), Unix seconds."
            case .notBefore: "The date before which the certificate's current version is not valid (not_before), Unix seconds."
            case .renewal: "The date CertFleet plans to renew the certificate (renew_at), Unix seconds."
            case .ready: "The ready status of the certificate: 1 for its current condition, 0 for the others."
            }
        }
    }

    private struct Shard {
        var rows: [UUID: CertificateSeriesRow] = [:]
        /// The rendered lines of each family (`Family.rawValue`); rebuilt when a row changes.
        var text = [ByteBuffer](repeating: ByteBuffer(), count: Family.allCases.count)
        /// The same, compressed (for scrapes that accept gzip, as Prometheus's do).
        var compressed = [DeflateSegment](repeating: .empty, count: Family.allCases.count)
    }

    private let db: Database
    private let logger: Logger
    private var shards = [Shard](repeating: Shard(), count: CertificateSeries.shardCount)
    /// Per family, the joined text of each group of shards; nil until joined after a change.
    private var groups = [[ByteBuffer?]](
        repeating: [ByteBuffer?](repeating: nil, count: CertificateSeries.shardCount / CertificateSeries.shardsPerGroup),
        count: Family.allCases.count)
    private var compressedGroups = [[DeflateSegment?]](
        repeating: [DeflateSegment?](repeating: nil, count: CertificateSeries.shardCount / CertificateSeries.shardsPerGroup),
        count: Family.allCases.count)
    private static let headers = Family.allCases.map { family in
        ByteBuffer(string: "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n")
    }
    private static let compressedHeaders = headers.map(DeflateSegment.init)
    private var projects: [UUID: String] = [:]
    private var watermark: String?
    private var refreshing: Task<Void, Never>?
    private var refreshedAt: ContinuousClock.Instant?

    init(db: Database, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    /// The exposition of every family, shard buffers in order (no copy of their text).
    func buffers() -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        out.reserveCapacity(Family.allCases.count * (groups[0].count + 1))
        for family in Family.allCases {
            out.append(Self.headers[family.rawValue])
            for group in groups[family.rawValue].indices {
                let joined = groups[family.rawValue][group] ?? join(family, group)
                groups[family.rawValue][group] = joined
                if joined.readableBytes > 0 { out.append(joined) }
            }
        }
        return out
    }

    /// The same exposition compressed, for a gzip body (`DeflateSegment.gzip`).
    func segments() -> [DeflateSegment] {
        var out: [DeflateSegment] = []
        out.reserveCapacity(Family.allCases.count * (compressedGroups[0].count + 1))
        for family in Family.allCases {
            out.append(Self.compressedHeaders[family.rawValue])
            for group in compressedGroups[family.rawValue].indices {
                let joined =
                    compressedGroups[family.rawValue][group]
                    ?? DeflateSegment.joined(Self.members(of: group).map { shards[$0].compressed[family.rawValue] })
                compressedGroups[family.rawValue][group] = joined
                out.append(joined)
            }
        }
        return out
    }

    private static func members(of group: Int) -> Range<Int> { (group * shardsPerGroup)..<((group + 1) * shardsPerGroup) }

    private func join(_ family: Family, _ group: Int) -> ByteBuffer {
        let members = shards[Self.members(of: group)].map { $0.text[family.rawValue] }
        var joined = ByteBuffer()
        joined.reserveCapacity(members.reduce(0) { $0 + $1.readableBytes })
        for var member in members { joined.writeBuffer(&member) }
        return joined
    }

    /// Reads what changed since the last refresh (everything the first time); concurrent
    /// callers share one read. A failed read keeps the last state and is tried again next time.
    func refresh() async {
        if let refreshing { return await refreshing.value }
        let task = Task { await self.read() }
        refreshing = task
        await task.value
        refreshing = nil
        refreshedAt = .now
    }

    /// Refreshes unless a refresh finished within MAXAGE (the background refresher keeps it so;
    /// without one, as in router-only tests, the scrape refreshes at most once per MAXAGE).
    func refresh(unlessWithin maxAge: Duration) async {
        if let refreshedAt, ContinuousClock.now - refreshedAt < maxAge { return }
        await refresh()
    }

    private func read() async {
        do {
            let batch =
                if let watermark { try await CertificateSeriesScan.changed(db, since: watermark) } else { try await CertificateSeriesScan.all(db) }
            // After the rows: every project a row names existed when it was read.
            let names = try await CertificateSeriesScan.projectNames(db)
            apply(batch.rows, projects: names)
            watermark = batch.watermark
        } catch {
            logger.warning("certificate metrics not refreshed", metadata: ["error": "\(error)"])
        }
    }

    private func apply(_ rows: [CertificateSeriesRow], projects names: [UUID: String]) {
        var dirty = Set<Int>()
        // A renamed project re-labels all of its certificates.
        let renamed = Set(names.compactMap { id, name in projects[id].map { $0 == name ? nil : id } ?? nil })
        projects = names
        if !renamed.isEmpty {
            for (index, shard) in shards.enumerated() where shard.rows.values.contains(where: { renamed.contains($0.project) }) {
                dirty.insert(index)
            }
        }
        for row in rows {
            let index = Self.shard(of: row.id)
            let next = row.live ? row : nil
            // Rows read again unchanged (the watermark trails the oldest running transaction) cost nothing.
            guard shards[index].rows[row.id] != next else { continue }
            shards[index].rows[row.id] = next
            dirty.insert(index)
        }
        for index in dirty { render(index) }
    }

    private func render(_ index: Int) {
        var text = [String](repeating: "", count: Family.allCases.count)
        for row in shards[index].rows.values {
            let project = projects[row.project] ?? row.project.uuidString.lowercased()
            let labels =
                "name=\"\(PrometheusText.escape(row.name))\",project=\"\(PrometheusText.escape(project))\""
                + ",issuer=\"\(PrometheusText.escape(row.issuer))\""
            if let notAfter = row.notAfter { text[Family.expiration.rawValue] += "\(Family.expiration.name){\(labels)} \(notAfter)\n" }
            if let notBefore = row.notBefore { text[Family.notBefore.rawValue] += "\(Family.notBefore.name){\(labels)} \(notBefore)\n" }
            if let renewAt = row.renewAt { text[Family.renewal.rawValue] += "\(Family.renewal.name){\(labels)} \(renewAt)\n" }
            let current = CertificateState(rawValue: row.state)?.readyCondition ?? .unknown
            for condition in ReadyCondition.allCases {
                text[Family.ready.rawValue] += "\(Family.ready.name){\(labels),condition=\"\(condition.rawValue)\"} \(condition == current ? 1 : 0)\n"
            }
        }
        shards[index].text = text.map { ByteBuffer(string: $0) }
        shards[index].compressed = shards[index].text.map(DeflateSegment.init)
        for family in Family.allCases {
            groups[family.rawValue][index / Self.shardsPerGroup] = nil
            compressedGroups[family.rawValue][index / Self.shardsPerGroup] = nil
        }
    }

    /// The shard of a certificate: spread by the UUID's random bits.
    static func shard(of id: UUID) -> Int {
        let bytes = id.uuid
        return (Int(bytes.14) << 8 | Int(bytes.15)) % shardCount
    }
}

/// Keeps `CertificateSeries` current in the background, so a scrape never waits for a read.
struct CertificateSeriesRefresher: Service {
    let series: CertificateSeries
    let interval: Duration

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await series.refresh()
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}

/// The Prometheus text format's rules shared by every `/metrics` writer of the API.
enum PrometheusText {
    /// A label value: backslash, double quote and line feed escaped (the only three the format knows).
    static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        out.reserveCapacity(value.utf8.count + 4)
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
