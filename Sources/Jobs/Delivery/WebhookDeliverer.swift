import AsyncHTTPClient
import CertFleetCore
import Foundation
import NIOCore
import NIOHTTP1
import X509

/// A CloudEvent (HTTP binding, structured mode) POSTed to a URL, signed with the target's
/// secret: `CertFleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
/// Receivers check the HMAC and refuse timestamps outside their replay window (5 min is
/// usual). The event id is the same for every attempt of one version and target, so a
/// receiver that saw it already (a retry after a worker crash) can ignore it. The body
/// carries the chain, never the private key. Any 2xx acknowledges; 410 ends the deliveries.
struct WebhookDeliverer: Deliverer {
    static let signatureHeader = "CertFleet-Signature"
    let url: String
    let secret: [UInt8]
    let targetID: UUID

    /// The signature header's value for BODY sent at TIMESTAMP.
    static func signature(secret: [UInt8], timestamp: Int, body: [UInt8]) -> String {
        let mac = Digest.hmacSHA256(key: secret, data: Array("\(timestamp).".utf8) + body)
        return "t=\(timestamp),v1=\(mac.map { String(format: "%02x", $0) }.joined())"
    }

    func body(_ bundle: DeliveryBundle) throws -> [UInt8] {
        let event: [String: Any] = [
            "specversion": "1.0",
            "id": "dlv-\(bundle.certificateID.uuidString.lowercased())-\(targetID.uuidString.lowercased())-v\(bundle.version)",
            "source": "/certfleet",
            "type": "io.certfleet.certificate.delivery",
            "subject": bundle.certificateID.uuidString.lowercased(),
            "time": RFC3339.format(Date()),
            "datacontenttype": "application/json",
            "data": [
                "certificate_id": bundle.certificateID.uuidString.lowercased(), "project_id": bundle.projectID.uuidString.lowercased(),
                "name": bundle.certificateName, "version": bundle.version, "serial": bundle.serial,
                "fingerprint_sha256": bundle.fingerprintSHA256, "chain_pem": bundle.fullchainPEM,
            ] as [String: Any],
        ]
        return Array(try JSONSerialization.data(withJSONObject: event, options: [.sortedKeys]))
    }

    func deliver(_ bundle: DeliveryBundle) async throws -> String {
        let payload = try body(bundle)
        let timestamp = Int(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/cloudevents+json; charset=utf-8")
        request.headers.add(name: Self.signatureHeader, value: Self.signature(secret: secret, timestamp: timestamp, body: payload))
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            throw DeliveryFailure(.targetUnreachable, "POST \(url): \(error)")
        }
        let text = String(buffer: (try? await response.body.collect(upTo: 4096)) ?? ByteBuffer())
        let answer = "HTTP \(response.status.code)\(text.isEmpty ? "" : ": \(text.prefix(200))")"
        switch response.status.code {
        case 200..<300: return answer
        case 410: throw DeliveryFailure(.webhookGone, answer)
        default: throw DeliveryFailure(.webhookRejected, answer)
        }
    }
}
