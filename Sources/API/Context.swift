import Foundation
import Hummingbird
import NIOCore
import Store

/// Who is calling: the API key's id, project and scopes.
public struct Identity: Sendable {
    public let keyID: UUID
    public let projectID: UUID
    public let scopes: Set<String>
    /// The audit trail's actor for this caller: `key:<id>`, or what a trusted channel names itself.
    public let actor: String

    init(keyID: UUID, projectID: UUID, scopes: Set<String>, actor: String? = nil) {
        self.keyID = keyID
        self.projectID = projectID
        self.scopes = scopes
        self.actor = actor ?? "key:\(keyID.uuidString.lowercased())"
    }

    /// Whether the key may act with SCOPE: held, or implied by `admin` (which implies
    /// neither `keys:export` nor `system`).
    func holds(_ scope: String) -> Bool {
        scopes.contains(scope) || (scope != "keys:export" && scope != APIKeys.system && scopes.contains("admin"))
    }

    func require(_ scope: String) throws {
        guard holds(scope) else { throw APIError.forbidden(scope: scope) }
    }
}

/// The request context: Hummingbird's core storage plus the authenticated identity.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Identity?
    /// The body cap (413 above it), set from the configuration.
    public var maxUploadSize: Int
    /// The client's address (failed authentications are limited per address).
    public let remoteAddress: SocketAddress?
    /// The console's signed-in session and its submitted form (read once, for the CSRF check).
    var consoleSession: ConsoleSession?
    var consoleForm: ConsoleForm?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        identity = nil
        maxUploadSize = APIConfiguration.defaultBodyLimit
    }

    /// The identity; the auth middleware guarantees it on /v1 routes.
    func caller(_ scope: String) throws -> Identity {
        guard let identity else { throw APIError(.unauthorized, "unauthorized", "missing or invalid API key") }
        try identity.require(scope)
        return identity
    }
}
