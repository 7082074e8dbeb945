import AMQP
import Foundation
import Hummingbird
import Messaging
import Store
import Synchronization

/// Request counts and latencies by route and status, kept in this process and
/// served as Prometheus text on `/metrics`, with the cluster-wide job and certificate
/// counts of `DatabaseGauges`.
actor RequestMetrics {
    static let buckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    struct Key: Hashable { let route: String; let method: String; let status: Int }
    struct Series { var count = 0; var sum = 0.0; var buckets = [Int](repeating: 0, count: RequestMetrics.buckets.count) }

    private var series: [Key: Series] = [:]

    func record(route: String, method: String, status: Int, seconds: Double) {
        var entry = series[Key(route: route, method: method, status: status)] ?? Series()
        entry.count += 1
        entry.sum += seconds
        for (i, bound) in Self.buckets.enumerated() where seconds <= bound { entry.buckets[i] += 1 }
        series[Key(route: route, method: method, status: status)] = entry
    }

    func render() -> String {
        var out = "# HELP certfleet_http_requests_total HTTP requests by route, method and status.\n"
        out += "# TYPE certfleet_http_requests_total counter\n"
        let sorted = series.sorted { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }
        for (key, entry) in sorted {
            out += "certfleet_http_requests_total{\(labels(key))} \(entry.count)\n"
        }
        out += "# HELP certfleet_http_request_duration_seconds HTTP request latency.\n"
        out += "# TYPE certfleet_http_request_duration_seconds histogram\n"
        for (key, entry) in sorted {
            for (i, bound) in Self.buckets.enumerated() {
                out += "certfleet_http_request_duration_seconds_bucket{\(labels(key)),le=\"\(bound)\"} \(entry.buckets[i])\n"
            }
            out += "certfleet_http_request_duration_seconds_bucket{\(labels(key)),le=\"+Inf\"} \(entry.count)\n"
            out += "certfleet_http_request_duration_seconds_sum{\(labels(key))} \(entry.sum)\n"
            out += "certfleet_http_request_duration_seconds_count{\(labels(key))} \(entry.count)\n"
        }
        return out
    }

    private func labels(_ key: Key) -> String {
        "route=\"\(PrometheusText.escape(key.route))\",method=\"\(key.method)\",status=\"\(key.status)\""
    }
}

/// Times every request under its route pattern (`/v1/certificates/{ref}`, never the
/// concrete path, so label cardinality stays bounded).
struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        await metrics.record(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue,
            status: response.status.code, seconds: seconds)
        return response
    }
}

struct MetricsController {
    let observability: Observability

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("metrics") { request, _ -> Response in
            // The per-certificate series are refreshed beside the gauges, for at most the same
            // limit: a refresh that does not finish in time leaves the last ones served.
            let certificates = observability.certificatesInterval != nil
            let interval = observability.certificatesInterval
            async let refreshed: Void? = {
                guard let interval else { return () }
                return await within(observability.gauges.partLimit) { await observability.certificates.refresh(unlessWithin: interval) }
            }()
            let text = ByteBuffer(string: await observability.requests.render() + (await observability.gauges.text()))
            _ = await refreshed
            // Prometheus asks for gzip: the per-certificate part is kept compressed, only the rest is compressed here.
            if request.headers[.acceptEncoding]?.contains("gzip") == true {
                let segments = [DeflateSegment(text)] + (certificates ? await observability.certificates.segments() : [])
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4", .contentEncoding: "gzip", .vary: "Accept-Encoding"],
                    body: ResponseBody(contentsOf: DeflateSegment.gzip(segments)))
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4", .vary: "Accept-Encoding"],
                body: CertificateSeries.plainBody(text, certificates ? await observability.certificates.pieces() : []))
        }
    }
}

/// The cluster-wide gauges of `/metrics` (jobs, certificates, outbox, renewals due,
/// expiring, the broker's job queues), read at most once per `interval` whatever the scrape
/// rate: `/metrics` needs no key, so each scrape must not cost aggregate queries.
/// Concurrent scrapes during a refresh share it.
actor DatabaseGauges {
    private let db: Database
    private let broker: (amqp: AMQPConnection, topology: CertFleetTopology)?
    private let interval: Duration
    /// How long a scrape waits for each part (and for the per-certificate refresh beside it).
    let partLimit: Duration
    private var snapshot: (text: String, at: ContinuousClock.Instant)?
    private var refreshing: Task<(text: String, complete: Bool), Never>?

    init(
        db: Database, broker: (amqp: AMQPConnection, topology: CertFleetTopology)? = nil, interval: Duration = .seconds(15),
        partLimit: Duration = .seconds(8)
    ) {
        self.db = db
        self.broker = broker
        self.interval = interval
        self.partLimit = partLimit
    }

    func text() async -> String {
        if let snapshot, ContinuousClock.now - snapshot.at < interval { return snapshot.text }
        if let refreshing { return await refreshing.value.text }
        let db = db
        let broker = broker
        let partLimit = partLimit
        let task = Task { () -> (text: String, complete: Bool) in
            // The database's and the broker's side at once: a scrape waits for the slower one only,
            // and for at most `partLimit`: a broker RPC can block its connection for 30 s, and a
            // scrape that hangs is worse than one without that part.
            async let brokerText = within(partLimit) { await Self.read(broker) }
            let dbText = await within(partLimit) { await Self.read(db) }
            let brokerPart = await brokerText
            let text = (dbText ?? Self.missing("database", partLimit)) + (brokerPart ?? Self.missing("broker", partLimit))
            return (text, dbText != nil && brokerPart != nil)
        }
        refreshing = task
        let (text, complete) = await task.value
        if complete { snapshot = (text, ContinuousClock.now) }
        refreshing = nil
        return text
    }

    private static func missing(_ part: String, _ partLimit: Duration) -> String {
        "# The \(part) did not answer within \(partLimit); its gauges are left out of this scrape.\n"
    }

    private static func family(_ name: String, _ help: String) -> String {
        "# HELP \(name) \(help)\n# TYPE \(name) gauge\n"
    }

    private static func read(_ db: Database) async -> String {
        let counts = await FleetCounts.read(db)
        var text = family("certfleet_jobs", "Jobs by kind and state.")
        for job in counts.jobs {
            text += "certfleet_jobs{kind=\"\(job.kind)\",state=\"\(job.state)\"} \(job.count)\n"
        }
        text += family("certfleet_certificates", "Live certificates by state.")
        for certificate in counts.certificates {
            text += "certfleet_certificates{state=\"\(certificate.state)\"} \(certificate.count)\n"
        }
        text += family("certfleet_outbox_unpublished", "Outbox messages not yet published.")
        if let unpublished = counts.outboxUnpublished { text += "certfleet_outbox_unpublished \(unpublished)\n" }
        text += family("certfleet_outbox_lag_seconds", "How long the oldest outbox message due for publishing has waited (0: none).")
        if let lag = counts.outboxLagSeconds { text += "certfleet_outbox_lag_seconds \(lag)\n" }
        text += family("certfleet_renewals_due", "ACME certificates whose renew_at has passed (lasting non-zero: renewals are failing).")
        if let due = counts.renewalsDue { text += "certfleet_renewals_due \(due)\n" }
        text += family("certfleet_certificates_expiring", "Served certificates whose current version expires within the given days.")
        for (days, count) in counts.expiringWithinDays {
            text += "certfleet_certificates_expiring{within_days=\"\(days)\"} \(count)\n"
        }
        return text
    }

    /// The broker's side: messages waiting in each job queue and its consumers (workers), and
    /// the dead-letter queue (unparseable or rejected job messages). A queue not answering is left out.
    private static func read(_ broker: (amqp: AMQPConnection, topology: CertFleetTopology)?) async -> String {
        guard let (amqp, topology) = broker else { return "" }
        var depth = family("certfleet_queue_messages", "Job messages ready in the broker's queue of each job kind.")
        var consumers = family("certfleet_queue_consumers", "Consumers (worker processes) of each job kind's queue.")
        let queues = CertFleetTopology.jobKinds.map(topology.jobQueue) + [topology.deadLetterQueue]
        let statuses = (try? await amqp.queueStatuses(queues)) ?? [:]
        for kind in CertFleetTopology.jobKinds {
            guard let status = statuses[topology.jobQueue(kind)] else { continue }
            depth += "certfleet_queue_messages{kind=\"\(kind)\"} \(status.messages)\n"
            consumers += "certfleet_queue_consumers{kind=\"\(kind)\"} \(status.consumers)\n"
        }
        var text = depth + consumers + family("certfleet_dead_letters", "Messages in the jobs' dead-letter queue.")
        if let dead = statuses[topology.deadLetterQueue] { text += "certfleet_dead_letters \(dead.messages)\n" }
        return text
    }
}

/// `body`'s value, or nil when it takes longer than `limit`. The body runs on (neither a
/// broker RPC nor a statement in flight can be abandoned halfway); its late value is dropped.
func within<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let once = ResumeOnce(continuation)
        let work = Task { once.resume(await body()) }
        Task {
            try? await Task.sleep(for: limit)
            if once.resume(nil) { work.cancel() }
        }
    }
}

/// A continuation resumed by whichever of several racers comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, Never>?>

    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = Mutex(continuation) }

    /// True when this call resumed it.
    @discardableResult
    func resume(_ value: T) -> Bool {
        guard let continuation = continuation.withLock({ $0.take() }) else { return false }
        continuation.resume(returning: value)
        return true
    }
}
