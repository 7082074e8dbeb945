import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store

/// `PUT/DELETE /v1/certificates/{ref}/bindings/{consumer}`: who uses a certificate
/// (a bound certificate is not deleted).
struct BindingsController {
    let dependencies: APIDependencies
    var bodyLimit = APIConfiguration.defaultBodyLimit

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.put("certificates/:ref/bindings/:consumer", use: bind)
        group.delete("certificates/:ref/bindings/:consumer", use: unbind)
    }

    /// With `{"target": "<name or uuid>"}` every new valid version is delivered there (and
    /// the current one at once); without a body the binding is a label.
    @Sendable func bind(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        guard (1...256).contains(consumer.count) else { throw APIError.malformed("the consumer name must be 1–256 characters") }
        struct Body: Decodable { var target: String? }
        let buffer = try await request.collectBody(upTo: bodyLimit)
        var target: DeliveryTarget? = nil
        if buffer.readableBytes > 0 {
            guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer: buffer)) else {
                throw APIError.malformed("the body must be empty or {\"target\": \"<name or uuid>\"}")
            }
            if let name = body.target {
                target = try await Targets(db: dependencies.db, sealer: dependencies.sealer).require(project: caller.projectID, reference: name)
            }
        }
        guard let target else {
            let binding = try await Bindings(db: dependencies.db).bind(
                project: caller.projectID, reference: reference, consumer: consumer,
                actor: caller.actor)
            return .success(
                .object([("uuid", .string(binding.id.uuidString.lowercased())), ("name", .string(consumer))]),
                status: binding.created ? .created : .ok)
        }
        let binding = try await Deliveries(db: dependencies.db).bind(
            project: caller.projectID, reference: reference, consumer: consumer,
            target: target.id, actor: caller.actor)
        if !binding.outbox.isEmpty { await dependencies.submissions.afterCommit?(binding.outbox) }
        return .success(
            .object([
                ("uuid", .string(binding.id.uuidString.lowercased())), ("name", .string(consumer)),
                ("target", .object([("uuid", .string(target.id.uuidString.lowercased())), ("name", .string(target.name))])),
            ]), status: binding.created ? .created : .ok)
    }

    @Sendable func unbind(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        let consumer = try context.parameters.require("consumer")
        let outcome = try await Bindings(db: dependencies.db).unbind(
            project: caller.projectID, reference: reference, consumer: consumer,
            actor: caller.actor)
        guard outcome.removed else {
            throw APIError(
                .notFound, "binding_not_found", "the certificate is not bound to '\(consumer)'", details: [("consumer", .string(consumer))])
        }
        return Response(status: .noContent)
    }
}
