import Foundation
import Hummingbird
import Store

/// `PUT/DELETE /v1/certificates/{ref}/bindings/{consumer}`: who uses a certificate
/// (a bound certificate is not deleted).
struct BindingsController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.put("certificates/:ref/bindings/:consumer", use: bind)
        group.delete("certificates/:ref/bindings/:consumer", use: unbind)
    }

    @Sendable func bind(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        guard (1...256).contains(consumer.count) else { throw APIError.malformed("the consumer name must be 1–256 characters") }
        let binding = try await Bindings(db: dependencies.db).bind(project: caller.projectID, reference: reference, consumer: consumer,
                                                                   actor: caller.actor)
        return .success(.object([("uuid", .string(binding.id.uuidString.lowercased())), ("name", .string(consumer))]),
                        status: binding.created ? .created : .ok)
    }

    @Sendable func unbind(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        let outcome = try await Bindings(db: dependencies.db).unbind(project: caller.projectID, reference: reference, consumer: consumer,
                                                                     actor: caller.actor)
        guard outcome.removed else {
            throw APIError(.notFound, "binding_not_found", "the certificate is not bound to '\(consumer)'", details: [("consumer", .string(consumer))])
        }
        return Response(status: .noContent)
    }
}
