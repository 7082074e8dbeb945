import Foundation
import X509

/// The CA's renewal suggestion for one certificate (ARI, RFC 9773).
public struct RenewalInfo: Sendable, Hashable {
    /// Renew at a random moment inside this window.
    public var windowStart: Date
    public var windowEnd: Date
    public var explanationURL: String?
    /// When to ask again (`Retry-After`).
    public var retryAfterSeconds: Double?
}

/// The answer of ``ACMEClient/renewalInfo(for:)``.
public enum RenewalInfoResult: Sendable, Hashable {
    case window(RenewalInfo)
    /// The directory has no `renewalInfo` (Pebble 2.4.0, many private CAs):
    /// fall back on the certificate's lifetime.
    case unsupported
}

extension ACMEClient {
    /// The ARI certificate identifier: `base64url(AKI keyIdentifier).base64url(serial)`.
    public static func renewalInfoIdentifier(for certificate: Certificate) throws(ACMEError) -> String {
        guard let aki = certificate.authorityKeyIdentifier else {
            throw .invalidState("the certificate has no authority key identifier; ARI cannot name it")
        }
        return "\(Base64URL.encode(aki)).\(Base64URL.encode(certificate.serialNumberDERContent))"
    }

    /// Fetches the suggested renewal window when the CA offers ARI, else `.unsupported`.
    public func renewalInfo(for certificate: Certificate) async throws(ACMEError) -> RenewalInfoResult {
        guard let base = try await directory().renewalInfo else { return .unsupported }
        struct Body: Decodable {
            struct Window: Decodable { var start: String; var end: String }
            var suggestedWindow: Window
            var explanationURL: String?
        }
        let id = try Self.renewalInfoIdentifier(for: certificate)
        let url = base.hasSuffix("/") ? base + id : base + "/" + id
        // ARI is a plain GET (RFC 9773 section 4.1), not POST-as-GET.
        let reply = try await transport.send(.GET, url, action: .renewalInfo)
        try reply.requireSuccess()
        let body = try reply.decode(Body.self)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        func date(_ text: String) -> Date? { parser.date(from: text) ?? plain.date(from: text) }
        guard let start = date(body.suggestedWindow.start), let end = date(body.suggestedWindow.end), start <= end else {
            throw .unexpectedResponse(status: reply.status, url: url, reason: "malformed suggestedWindow")
        }
        return .window(
            RenewalInfo(windowStart: start, windowEnd: end, explanationURL: body.explanationURL, retryAfterSeconds: reply.retryAfterSeconds))
    }
}
