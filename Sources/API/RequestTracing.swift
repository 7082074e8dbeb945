import Hummingbird
import Telemetry

/// A server span per request, continuing the caller's trace when it sends a W3C `traceparent`
/// (and `tracestate`). The span is current while the request runs, so the outbox rows it
/// writes carry it to the job. Named by route pattern (`POST /v1/certificates`), never the
/// concrete path; health and metrics probes are not traced.
///
/// Not Hummingbird's `TracingMiddleware`: that one hands the tracer every request header, and
/// a tracer that cannot parse a malformed `traceparent` logs its whole carrier — the API key
/// in `Authorization` with it. Here the tracer only ever sees the two trace headers.
struct RequestTracingMiddleware<Context: RequestContext>: RouterMiddleware {
    static var untraced: Set<String> { ["/healthz", "/readyz", "/metrics"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !Self.untraced.contains(request.uri.path) else { return try await next(request, context) }
        var headers: [String: String] = [:]
        for name in TraceHeaders.names {
            if let field = HeaderName(name), let value = request.headers[field] { headers[name] = value }
        }
        let span = startSpan("HTTP \(request.method.rawValue)", context: TraceHeaders.context(from: headers), ofKind: .server)
        defer { span.end() }
        span.attributes["http.request.method"] = request.method.rawValue
        do {
            let response = try await ServiceContext.$current.withValue(span.context) { try await next(request, context) }
            record(span, route: context.endpointPath, method: request.method, status: Int(response.status.code))
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(span, route: context.endpointPath, method: request.method, status: Int(status))
            span.recordError(error)
            throw error
        }
    }

    private func record(_ span: any Span, route: String?, method: HTTPRequest.Method, status: Int) {
        if let route {
            span.operationName = "\(method.rawValue) \(route)"
            span.attributes["http.route"] = route
        }
        span.attributes["http.response.status_code"] = status
        if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}
