import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store

/// `/agent/v1/…`: what `certfleet agent` talks to, authenticated by an agent target's key
/// (`Authorization: Bearer <target uuid>.<secret>`, shown once when the target is created),
/// not an API key. An agent sees only the certificates bound to its own target.
struct AgentController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    var agents: AgentDeliveries { AgentDeliveries(db: dependencies.db, sealer: dependencies.sealer) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("deliveries", use: deliveries)
        group.post("acks", use: acknowledge)
    }

    func target(_ request: Request) async throws -> DeliveryTarget {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer ") else { throw Self.refusal(.keyInvalid) }
        do {
            return try await agents.authenticate(String(header.dropFirst(7)))
        } catch let refusal as AgentRefusal {
            throw Self.refusal(refusal)
        }
    }

    /// Long-poll: answers as soon as something is to install, or after `wait` seconds (≤ 55) with none.
    @Sendable func deliveries(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let target = try await target(request)
        let wait = min(max(Int(request.uri.queryParameters.get("wait") ?? "") ?? 0, 0), 55)
        let deadline = ContinuousClock.now + .seconds(wait)
        var offers = try await agents.offers(target: target)
        while offers.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            offers = try await agents.offers(target: target)
        }
        return .success(
            .object([
                ("target", .string(target.name)),
                (
                    "deliveries",
                    .array(
                        offers.map { offer in
                            .object([
                                (
                                    "certificate",
                                    .object([("uuid", .string(offer.certificateID.uuidString.lowercased())), ("name", .string(offer.name))])
                                ),
                                ("version", .int(offer.version)), ("serial", .string(offer.serial)),
                                ("fingerprint_sha256", .string(offer.fingerprintSHA256)),
                                ("chain_pem", .string(offer.chainPEM)), ("key_pem", .string(offer.keyPEM)),
                            ])
                        })
                ),
            ]))
    }

    struct Ack: Decodable {
        var certificate: UUID
        var version: Int
        var fingerprint_sha256: String
        var answer: String?
    }

    @Sendable func acknowledge(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let target = try await target(request)
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let ack = try? JSONDecoder().decode(Ack.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body must be {\"certificate\": uuid, \"version\": n, \"fingerprint_sha256\": …, \"answer\": …}")
        }
        do {
            let outbox = try await agents.acknowledge(
                target: target, certificate: ack.certificate, version: ack.version,
                fingerprint: ack.fingerprint_sha256, answer: String((ack.answer ?? "installed").prefix(500)))
            if !outbox.isEmpty { await dependencies.submissions.afterCommit?(outbox) }
            return .success(.object([("recorded", .bool(!outbox.isEmpty))]))
        } catch let refusal as AgentRefusal {
            throw Self.refusal(refusal)
        }
    }

    static func refusal(_ refusal: AgentRefusal) -> APIError {
        switch refusal {
        case .keyInvalid: return APIError(.unauthorized, refusal.code, "missing or invalid agent key (Bearer <target uuid>.<secret>)")
        case .unknownVersion: return APIError(.notFound, refusal.code, "no such version of a certificate bound to this agent")
        case .fingerprintMismatch: return APIError(.conflict, refusal.code, "the fingerprint is not the version's: something else was installed")
        }
    }
}
