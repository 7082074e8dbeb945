import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 server answering `GET /.well-known/acme-challenge/{token}`
/// from a token store, on the port the CA validates (80 in production):
/// `certfleet api --acme-http-port` runs one as a service of its group (beside its router,
/// which serves the same path on the API's port); `bench acme` runs its own.
public final class HTTP01Responder: Sendable {
    /// The bound port (useful with port 0).
    public let port: Int
    private let task: Task<Void, Never>

    private init(port: Int, task: Task<Void, Never>) {
        self.port = port
        self.task = task
    }

    /// Binds `host:port` and serves until ``stop()``.
    public static func start(host: String = "127.0.0.1", port: Int, store: any HTTP01TokenStore) async throws -> HTTP01Responder {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        let bound = server.channel.localAddress?.port ?? port
        // Unstructured on purpose: the responder outlives the call that starts it (the API's
        // service waits for shutdown, then calls stop(), which cancels it).
        let task = Task<Void, Never> {
            do {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in connections {
                            group.addTask { try? await serve(connection, store: store) }
                        }
                    }
                }
            } catch {
                // Cancelled by stop(), or the listener failed: either way the responder is done.
            }
        }
        return HTTP01Responder(port: bound, task: task)
    }

    /// Closes the listener and open connections.
    public func stop() async {
        task.cancel()
        await task.value
    }

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, store: any HTTP01TokenStore
    ) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let requestHead): head = requestHead
                case .body: continue
                case .end:
                    guard let request = head else { return }
                    let prefix = "/.well-known/acme-challenge/"
                    var body: String? = nil
                    if request.method == .GET, request.uri.hasPrefix(prefix) {
                        body = try await store.keyAuthorization(forToken: String(request.uri.dropFirst(prefix.count)))
                    }
                    let text = body ?? "not found\n"
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "text/plain")
                    headers.add(name: "Content-Length", value: String(text.utf8.count))
                    try await outbound.write(
                        .head(HTTPResponseHead(version: request.version, status: body == nil ? .notFound : .ok, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: text))))
                    try await outbound.write(.end(nil))
                    head = nil
                }
            }
        }
    }
}
