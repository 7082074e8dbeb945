import ArgumentParser
import CertFleetOptions
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `--metrics-port`: the small HTTP endpoint of the processes that have no API (workers,
/// schedulers): `GET /healthz` for liveness probes and `GET /metrics` with their
/// swift-metrics counters (`certfleet_jobs_total`, …) in Prometheus text.
struct ProbeOptions: ParsableArguments {
    @Option(help: "Serve /healthz and /metrics on this port (env CERTFLEET_METRICS_PORT; default: off).")
    var metricsPort: Int?

    @Option(help: "Address for --metrics-port (env CERTFLEET_METRICS_HOST; default 127.0.0.1, 0.0.0.0 in a pod).")
    var metricsHost: String?

    /// The endpoint for the process's ServiceGroup (none when it is off); it stops with the group.
    func services(logger: Logger) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        makeService(logger: logger).map { [.init(service: $0)] } ?? []
    }

    /// The endpoint as a service, or nil when it is off.
    /// Also makes Prometheus the process's swift-metrics backend (once per process).
    func makeService(logger: Logger) -> (any Service)? {
        guard let port = metricsPort ?? Environment.int("CERTFLEET_METRICS_PORT"), port > 0 else { return nil }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // A job (an issuance polls its CA) or a delivery runs for seconds to minutes; queue and
        // delivery lags reach hours under a backlog: buckets that tell those apart.
        let longDurations: [Duration] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600].map { .milliseconds(Int64($0 * 1000)) }
        factory.durationHistogramBuckets["certfleet_job_duration_seconds"] = longDurations
        factory.durationHistogramBuckets["certfleet_delivery_duration_seconds"] = longDurations
        let lagSeconds: [Double] = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400]
        factory.valueHistogramBuckets["certfleet_job_queue_lag_seconds"] = lagSeconds
        factory.valueHistogramBuckets["certfleet_delivery_lag_seconds"] = lagSeconds
        MetricsSystem.bootstrap(factory)
        let router = Router()
        router.get("healthz") { _, _ in "ok\n" }
        router.get("metrics") { _, _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(4096)
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let host = metricsHost ?? Environment.string("CERTFLEET_METRICS_HOST") ?? "127.0.0.1"
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "certfleet"),
            logger: logger)
    }
}
