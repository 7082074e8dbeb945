import Instrumentation
@_exported import Tracing

/// The W3C trace context (`traceparent`, `tracestate`) as plain string headers: how a trace
/// crosses HTTP, AMQP message headers and outbox rows. Trace context is metadata only: a
/// message without it works as before and starts a trace of its own.
///
/// Only these two names are ever read or written, so a carrier handed to the tracer never
/// holds anything else (an `authorization` header, say, which a tracer may log when it
/// cannot parse a malformed `traceparent`).
public enum TraceHeaders {
    public static let names: Set<String> = ["traceparent", "tracestate"]

    /// The current task's trace context as headers; empty when tracing is off or nothing is traced.
    public static func current() -> [String: String] {
        guard let context = ServiceContext.current else { return [:] }
        return inject(context)
    }

    /// The trace context of CONTEXT (a span's) as headers.
    public static func inject(_ context: ServiceContext) -> [String: String] {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryCarrier())
        return headers.filter { names.contains($0.key) }
    }

    /// A context whose parent is the trace context in HEADERS (header names in any case; other
    /// headers ignored), or the current one when HEADERS carry none.
    public static func context(from headers: [String: String]) -> ServiceContext {
        var carrier: [String: String] = [:]
        for (name, value) in headers where names.contains(name.lowercased()) { carrier[name.lowercased()] = value }
        var context = ServiceContext.current ?? .topLevel
        guard !carrier.isEmpty else { return context }
        InstrumentationSystem.instrument.extract(carrier, into: &context, using: DictionaryCarrier())
        return context
    }

    /// True when HEADERS carry a `traceparent`.
    public static func present(in headers: [String: String]) -> Bool {
        headers.keys.contains { $0.lowercased() == "traceparent" }
    }
}

struct DictionaryCarrier: Injector, Extractor {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
