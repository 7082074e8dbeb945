import X509

/// An order resource (RFC 8555 section 7.1.3).
public struct ACMEOrder: Codable, Sendable, Hashable {
    /// The order URL (from `Location`; not part of the JSON).
    public var url: String = ""
    public var status: Status
    public var expires: String?
    public var identifiers: [ACMEIdentifier]
    public var authorizations: [String]
    public var finalize: String
    /// Set once the order is `valid`.
    public var certificate: String?
    /// Why the order is `invalid`.
    public var error: ACMEProblem?
    /// The certificate profile the CA applies (draft-ietf-acme-profiles), when it has them.
    public var profile: String?

    public enum Status: String, Codable, Sendable {
        case pending, ready, processing, valid, invalid
    }

    enum CodingKeys: String, CodingKey { case status, expires, identifiers, authorizations, finalize, certificate, error, profile }
}

extension ACMEClient {
    /// Creates an order for `identifiers` (RFC 8555 section 7.4). The order keeps
    /// their order; callers put the certificate's CN first. PROFILE names one of the
    /// directory's `meta.profiles`; REPLACES is the ARI identifier of the certificate this
    /// order renews (RFC 9773 section 5), which CAs exempt from rate limits.
    public func newOrder(identifiers: [ACMEIdentifier], profile: String? = nil, replaces: String? = nil) async throws(ACMEError) -> ACMEOrder {
        struct NewOrder: Encodable { var identifiers: [ACMEIdentifier]; var profile: String?; var replaces: String? }
        guard !identifiers.isEmpty else { throw .invalidState("an order needs at least one identifier") }
        let directory = try await directory()
        let body = NewOrder(identifiers: identifiers, profile: profile, replaces: directory.renewalInfo == nil ? nil : replaces)
        let reply = try await post(directory.newOrder, .newOrder, payload: try Self.json(body))
        guard let location = reply.header("Location") else {
            throw .unexpectedResponse(status: reply.status, url: directory.newOrder, reason: "newOrder without Location")
        }
        var order = try reply.decode(ACMEOrder.self)
        order.url = location
        return order
    }

    /// The order as the server has it now.
    public func fetchOrder(url: String) async throws(ACMEError) -> ACMEOrder {
        var (order, _) = try await fetch(ACMEOrder.self, url, .order)
        order.url = url
        return order
    }

    /// Sends the CSR (RFC 8555 section 7.4). The order moves to `processing` or `valid`.
    @discardableResult
    public func finalize(order: ACMEOrder, csr: CertificateSigningRequest) async throws(ACMEError) -> ACMEOrder {
        struct Finalize: Encodable { var csr: String }
        let reply = try await post(order.finalize, .finalize, payload: try Self.json(Finalize(csr: Base64URL.encode(csr.der))))
        var updated = try reply.decode(ACMEOrder.self)
        updated.url = order.url
        return updated
    }

    /// Polls the order until its status is one of `statuses`; an `invalid`
    /// order throws its problem. `waitFirst` gives a just-finalized order one
    /// `pollInterval` to be signed before the first poll (RFC 8555 section 7.4).
    public func waitForOrder(
        url: String, until statuses: Set<ACMEOrder.Status>, timeout: Duration? = nil, waitFirst: Bool = false
    ) async throws(ACMEError) -> ACMEOrder {
        var order = try await poll(ACMEOrder.self, url, .order, what: "order \(url)", timeout: timeout, waitFirst: waitFirst) {
            order throws(ACMEError) in
            if statuses.contains(order.status) { return true }
            if order.status == .invalid {
                throw .orderInvalid(order.error ?? ACMEProblem(type: "urn:ietf:params:acme:error:serverInternal", detail: "order is invalid"))
            }
            return false
        }
        order.url = url
        return order
    }
}
