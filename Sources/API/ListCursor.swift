import Foundation
import HTTPTypes
import Store
import X509

/// The `cursor` of `GET /v1/certificates/list`: the last uuid of a page, bound by an HMAC
/// (a key derived from the master key) to the project and the filters it was made for.
/// A cursor that was altered, or reused with other filters, is refused with 400
/// `invalid_cursor` before any query runs, never answered with a scan from somewhere else.
struct ListCursor {
    static let purpose = "list-cursor"
    let sealer: KeySealer

    /// The opaque token for a page ending at LAST.
    func token(after last: UUID, project: UUID, filter: CertificateListFilter) -> String {
        let position = Self.bytes(last)
        let tag = sealer.authenticate(position + Self.scope(project: project, filter: filter), purpose: Self.purpose).prefix(16)
        return Base64URL.encode(position + tag)
    }

    /// The uuid TOKEN stands for, if this API made it for PROJECT and FILTER.
    func position(_ token: String, project: UUID, filter: CertificateListFilter) throws -> UUID {
        guard token.count <= 64, let raw = Base64URL.decode(token), raw.count == 32 else { throw Self.invalid }
        let position = Array(raw.prefix(16)), tag = Array(raw.suffix(16))
        guard sealer.verify(tag, for: position + Self.scope(project: project, filter: filter), purpose: Self.purpose) else {
            throw Self.invalid
        }
        return position.withUnsafeBytes { UUID(uuid: $0.load(as: uuid_t.self)) }
    }

    static let invalid = APIError(
        .badRequest, "invalid_cursor",
        "'cursor' is not a cursor this API returned for these filters; start again without it")

    /// What a cursor is valid for: the project and every filter except the position.
    static func scope(project: UUID, filter: CertificateListFilter) -> [UInt8] {
        let parts = [
            project.uuidString.lowercased(), filter.commonName ?? "", filter.state ?? "",
            filter.expiresBefore.map { String($0.timeIntervalSince1970) } ?? "", filter.domain ?? "",
        ]
        return Array(parts.joined(separator: "\u{1F}").utf8)
    }

    static func bytes(_ id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }
}
