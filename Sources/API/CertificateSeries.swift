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
/// Maintained, not queried per scrape: the first refresh reads every live certificate (page by
/// page), later ones only the rows written since the last watermark (`CertificateSeriesScan`).
/// Certificates are spread over shards whose text is rendered once per change of one of theirs and
/// kept once, exactly sized: a plain scrape copies it into about 1 MB chunks as it writes them
/// (each buffer written costs a trip through the response writer: thousands of small ones cost
/// more than the bytes), a gzip scrape hands out the shards' compressed text, joined per group of
/// shards only where one changed. The text costs memory in proportion to the fleet (about 0.7 KB
/// per certificate), so they are served up to a limit of live certificates (`limit`, default
/// 50,000): past it the API drops them, says so in `certfleet_certificate_series_limited`, and
/// reads them all again once the fleet is back under it. Per-certificate series for a larger
/// fleet would cost Prometheus more than the API (six series a certificate); the fleet-wide
/// gauges (`certfleet_certificates`, `certfleet_certificates_expiring`) cover it.
/// `CERTFLEET_API_CERTIFICATE_METRICS=off` serves none.
actor CertificateSeries {
    static let defaultLimit = 50_000
    static let shardCount = 1024
    /// Shards per joined compressed segment: 32 segments per family.
    static let shardsPerGroup = 32
    /// The size of the chunks a plain scrape writes.
    static let chunkBytes = 1 << 20
    /// Rows per start-up page.
    static let pageSize = 10_000

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
        var text = [[UInt8]](repeating: [], count: Family.allCases.count)
        /// The same, compressed (for scrapes that accept gzip, as Prometheus's do).
        var compressed = [DeflateSegment](repeating: .empty, count: Family.allCases.count)
    }

    private let db: Database
    private let logger: Logger
    /// The most live certificates the series are kept for.
    let limit: Int
    /// The live certificates counted when the fleet went over `limit`; nil while under it.
    private var overLimit: Int?
    private var shards = [Shard](repeating: Shard(), count: CertificateSeries.shardCount)
    /// Per family, the joined compressed text of each group of shards; nil until joined after a change.
    private var compressedGroups = [[DeflateSegment?]](
        repeating: [DeflateSegment?](repeating: nil, count: CertificateSeries.shardCount / CertificateSeries.shardsPerGroup),
        count: Family.allCases.count)
    private static let headers = Family.allCases.map { family in
        Array("# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n".utf8)
    }
    private static let compressedHeaders = headers.map { DeflateSegment(ByteBuffer(bytes: $0)) }
    private var projects: [UUID: String] = [:]
    private var watermark: String?
    private var refreshing: Task<Void, Never>?
    private var refreshedAt: ContinuousClock.Instant?

    init(db: Database, logger: Logger, limit: Int = CertificateSeries.defaultLimit) {
        self.db = db
        self.logger = logger
        self.limit = limit
    }

    private static let limitedFamily =
        "# HELP certfleet_certificate_series_limited 1 while the live certificates outnumber CERTFLEET_API_CERTIFICATE_METRICS_LIMIT"
        + " and the per-certificate series are left out.\n# TYPE certfleet_certificate_series_limited gauge\n"
        + "certfleet_certificate_series_limited "

    private var limitedText: [UInt8] { Array("\(Self.limitedFamily)\(overLimit == nil ? 0 : 1)\n".utf8) }

    /// The exposition of every family in order: headers and shard texts, shared with the actor
    /// (copy-on-write), for `plainBody` to copy into chunks while it writes them.
    func pieces() -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(Family.allCases.count * (shards.count + 1) + 1)
        out.append(limitedText)
        for family in Family.allCases {
            out.append(Self.headers[family.rawValue])
            for shard in shards where !shard.text[family.rawValue].isEmpty { out.append(shard.text[family.rawValue]) }
        }
        return out
    }

    /// A response body of PREFIX and then PIECES, copied into chunks of about `chunkBytes` one
    /// at a time (never the whole text twice in memory).
    static func plainBody(_ prefix: ByteBuffer, _ pieces: [[UInt8]]) -> ResponseBody {
        ResponseBody { writer in
            try await writer.write(prefix)
            var chunk = ByteBuffer()
            for piece in pieces {
                if chunk.readableBytes > 0 && chunk.readableBytes + piece.count > chunkBytes {
                    try await writer.write(chunk)
                    chunk = ByteBuffer()
                }
                if chunk.capacity == 0 { chunk.reserveCapacity(max(chunkBytes, piece.count)) }
                chunk.writeBytes(piece)
            }
            if chunk.readableBytes > 0 { try await writer.write(chunk) }
            try await writer.finish(nil)
        }
    }

    /// The same exposition compressed, for a gzip body (`DeflateSegment.gzip`).
    func segments() -> [DeflateSegment] {
        var out: [DeflateSegment] = []
        out.reserveCapacity(Family.allCases.count * (compressedGroups[0].count + 1) + 1)
        out.append(DeflateSegment(ByteBuffer(bytes: limitedText)))
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
            // From the maintained counts: a few rows, so checked on every refresh.
            let live = try await StateCounts.liveCertificates(db)
            guard live <= limit else { return dropAll(live: live) }
            if let counted = overLimit {
                logger.notice(
                    "certificate metrics served again: the live certificates are back under the limit",
                    metadata: ["live": "\(live)", "limit": "\(limit)", "was": "\(counted)"])
                overLimit = nil
            }
            if let watermark {
                let batch = try await CertificateSeriesScan.changed(db, since: watermark)
                // After the rows: every project a row names existed when it was read.
                apply(batch.rows, projects: try await CertificateSeriesScan.projectNames(db))
                self.watermark = batch.watermark
                return
            }
            var first: String?
            var after: UUID?
            var dirty = Set<Int>()
            while true {
                let page = try await CertificateSeriesScan.all(db, after: after, limit: Self.pageSize)
                first = first ?? page.watermark
                dirty.formUnion(apply(page.rows, projects: try await CertificateSeriesScan.projectNames(db), defer: true))
                guard page.rows.count == Self.pageSize, let last = page.rows.last else { break }
                after = last.id
            }
            for index in dirty { render(index) }
            watermark = first
        } catch {
            logger.warning("certificate metrics not refreshed", metadata: ["error": "\(error)"])
        }
    }

    /// Forgets every certificate's series (the memory they held with them) until the fleet is
    /// back under the limit; the next read after that is a full one.
    private func dropAll(live: Int) {
        guard overLimit == nil else { return }
        overLimit = live
        logger.warning(
            "certificate metrics left out: more live certificates than CERTFLEET_API_CERTIFICATE_METRICS_LIMIT",
            metadata: ["live": "\(live)", "limit": "\(limit)"])
        shards = [Shard](repeating: Shard(), count: Self.shardCount)
        for family in Family.allCases {
            for group in compressedGroups[family.rawValue].indices { compressedGroups[family.rawValue][group] = nil }
        }
        projects = [:]
        watermark = nil
    }

    /// Takes ROWS in and renders the shards they changed, or returns them unrendered when DEFER
    /// (start-up renders each shard once, after the last page).
    @discardableResult
    private func apply(_ rows: [CertificateSeriesRow], projects names: [UUID: String], defer deferred: Bool = false) -> Set<Int> {
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
        if !deferred { for index in dirty { render(index) } }
        return dirty
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
        shards[index].text = text.map { Array($0.utf8) }
        shards[index].compressed = shards[index].text.map { DeflateSegment(ByteBuffer(bytes: $0)) }
        for family in Family.allCases { compressedGroups[family.rawValue][index / Self.shardsPerGroup] = nil }
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
