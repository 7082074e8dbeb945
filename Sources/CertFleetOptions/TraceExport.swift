import Foundation
import Logging
import OTel
import ServiceLifecycle

/// Traces exported with OpenTelemetry over OTLP/HTTP (protobuf) when `CERTFLEET_OTEL_ENDPOINT`
/// is set. Unset, no tracer is installed: spans are the tracing API's no-ops, nothing is
/// exported, and trace context is still passed along unchanged where a message carries one.
public enum TraceExport {
    /// The collector's base URL (`http://collector:4318`); spans go to its `/v1/traces`.
    public static var endpoint: String? { Environment.string("CERTFLEET_OTEL_ENDPOINT") }

    /// The standard OpenTelemetry variables honoured beside ours: batching, sampling, resource
    /// attributes, exporter headers. Not the ones that would switch on OTel's logs or metrics
    /// exporters: logs stay on stderr and metrics on `/metrics`.
    static let honouredPrefixes = [
        "OTEL_BSP_", "OTEL_TRACES_SAMPLER", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    ]

    /// Installs the process's tracer (once per process) and returns the exporter's service, to
    /// run in the command's `ServiceGroup` (a graceful shutdown flushes the last spans); nil
    /// when tracing is off.
    static func bootstrap(serviceName: String, logger: Logger) throws -> (any Service)? {
        guard let endpoint else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.propagators = [.traceContext]
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        configuration.traces.otlpExporter.endpoint = tracesURL(endpoint)
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        let environment = ProcessInfo.processInfo.environment.filter { name, _ in
            honouredPrefixes.contains { name.hasPrefix($0) }
        }
        let service = try OTel.bootstrap(configuration: configuration, environment: environment)
        logger.info("exporting traces over OTLP/HTTP", metadata: ["otel_endpoint": "\(tracesURL(endpoint))"])
        return service
    }

    /// The exporter as the first service of a command's group (a group stops its services in
    /// reverse order, so it flushes the spans of everything else last); empty when tracing is
    /// off. An exporter that stops or fails ends only tracing, never the command.
    public static func services(serviceName: String, logger: Logger) throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        guard let service = try bootstrap(serviceName: serviceName, logger: logger) else { return [] }
        return [.init(service: service, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore)]
    }

    /// `…/v1/traces` under the base URL, unless the URL already names it.
    static func tracesURL(_ base: String) -> String {
        if base.hasSuffix("/v1/traces") { return base }
        return base.hasSuffix("/") ? "\(base)v1/traces" : "\(base)/v1/traces"
    }

    /// Adds `trace_id` and `span_id` of the current span to every line a logger writes.
    static let metadataProvider = OTel.makeLoggingMetadataProvider()
}
