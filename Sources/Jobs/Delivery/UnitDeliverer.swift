import AsyncHTTPClient
import CertFleetCore
import Foundation
import NIOCore
import NIOHTTP1

/// NGINX Unit's control API over its control socket (the contract CertFleet's own
/// Unit-compatible surface serves): `PUT /certificates/<name>.v<version>` with the chain and
/// key, `PUT /config/listeners/<listener>/tls/certificate` naming it, then `DELETE` of the
/// bundle the listener used before. Unit answers the upload only once the bundle is loaded;
/// a failed switch leaves the listener on its old bundle (and the new one unused).
struct UnitDeliverer: Deliverer {
    let socket: String
    let listener: String

    func deliver(_ bundle: DeliveryBundle) async throws -> String {
        let name = "\(bundle.certificateName).v\(bundle.version)"
        let listenerPath = "/config/listeners/\(Self.escaped(listener))/tls/certificate"
        let previous = try await call(.GET, listenerPath)
        let old = previous.status == 200 ? Self.jsonString(previous.body) : nil
        let upload = try await call(.PUT, "/certificates/\(name)", body: bundle.fullchainPEM + bundle.keyPEM)
        // A retry after a crash finds its own upload there already.
        guard upload.status == 200 || (upload.status == 400 && upload.body.contains("already exists")) else {
            throw DeliveryFailure(.targetRefused, "Unit refused the bundle \(name): HTTP \(upload.status) \(upload.body.prefix(200))")
        }
        let switched = try await call(.PUT, listenerPath, body: "\"\(name)\"")
        guard switched.status == 200 else {
            throw DeliveryFailure(.targetRefused, "Unit did not switch \(listener) to \(name): HTTP \(switched.status) \(switched.body.prefix(200))")
        }
        guard let old, old != name else { return "listener \(listener) uses \(name)" }
        let removed = try await call(.DELETE, "/certificates/\(Self.escaped(old))")
        return "listener \(listener) uses \(name); \(old) \(removed.status == 200 ? "deleted" : "kept (HTTP \(removed.status))")"
    }

    struct Answer {
        let status: Int
        let body: String
    }

    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Answer {
        let socketHost = socket.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? socket
        var request = HTTPClientRequest(url: "http+unix://\(socketHost)\(path)")
        request.method = method
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(90))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            return Answer(status: Int(response.status.code), body: text)
        } catch {
            throw DeliveryFailure(.targetUnreachable, "\(method.rawValue) \(path) on \(socket): \(error)")
        }
    }

    static func escaped(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }

    /// `"name"` (a JSON string) → name.
    static func jsonString(_ text: String) -> String? {
        (try? JSONDecoder().decode(String.self, from: Data(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)))
    }
}
