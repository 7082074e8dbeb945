import Foundation
import X509

/// An account resource (RFC 8555 section 7.1.2).
public struct ACMEAccount: Codable, Sendable, Hashable {
    /// The account URL, the JWS `kid` of every later request.
    public var url: String = ""
    /// `valid`, `deactivated` or `revoked`.
    public var status: String
    public var contact: [String]?
    public var termsOfServiceAgreed: Bool?
    /// The URL listing the account's orders.
    public var orders: String?

    enum CodingKeys: String, CodingKey { case status, contact, termsOfServiceAgreed, orders }
}

/// External Account Binding credentials issued by the CA (RFC 8555 section 7.3.4).
/// The MAC key never appears in `description`.
public struct ExternalAccountBinding: Sendable, CustomStringConvertible {
    public var keyID: String
    let macKey: [UInt8]

    /// - Parameter macKey: the HMAC key as the CA hands it out, base64url.
    public init(keyID: String, base64URLMACKey macKey: String) throws(ACMEError) {
        // CAs differ in padding and alphabet; accept both base64 flavours.
        let normalized = macKey.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        guard let bytes = Base64URL.decode(normalized), !bytes.isEmpty else {
            throw .invalidState("the EAB MAC key for \(keyID) is not base64url")
        }
        self.keyID = keyID
        self.macKey = bytes
    }

    public var description: String { "ExternalAccountBinding(keyID: \(keyID))" }
}

extension ACMEClient {
    private struct NewAccount: Encodable {
        var contact: [String]?
        var termsOfServiceAgreed: Bool?
        var onlyReturnExisting: Bool?
        var externalAccountBinding: FlattenedJWS?
    }

    /// Creates the account for this client's key (or returns the existing one:
    /// the server answers 200 with it). Sets ``accountURL``.
    /// - Parameters:
    ///   - contact: `mailto:` URLs.
    ///   - agreeToTermsOfService: the user's agreement to `meta.termsOfService`.
    ///   - externalAccountBinding: required by CAs with `meta.externalAccountRequired`.
    @discardableResult
    public func register(
        contact: [String], agreeToTermsOfService: Bool, externalAccountBinding: ExternalAccountBinding? = nil
    ) async throws(ACMEError) -> ACMEAccount {
        let directory = try await directory()
        let key = accountKey
        var eab: FlattenedJWS? = nil
        if let externalAccountBinding {
            do {
                eab = try JWS.externalAccountBinding(
                    accountKey: key.publicKey, keyID: externalAccountBinding.keyID, macKey: externalAccountBinding.macKey,
                    url: directory.newAccount)
            } catch { throw .crypto(error.description) }
        }
        let body = NewAccount(
            contact: contact.isEmpty ? nil : contact, termsOfServiceAgreed: agreeToTermsOfService, externalAccountBinding: eab)
        return try await accountRequest(directory.newAccount, body, key: key)
    }

    /// Looks up the account of this client's key without creating one
    /// (`onlyReturnExisting`); throws the `accountDoesNotExist` problem when there is none.
    /// Use it after importing an account key. Sets ``accountURL``.
    @discardableResult
    public func findExistingAccount() async throws(ACMEError) -> ACMEAccount {
        let directory = try await directory()
        return try await accountRequest(directory.newAccount, NewAccount(onlyReturnExisting: true), key: accountKey)
    }

    private func accountRequest(_ url: String, _ body: NewAccount, key: PrivateKey) async throws(ACMEError) -> ACMEAccount {
        let reply = try await post(url, .newAccount, payload: try Self.json(body), signer: .jwk(key))
        guard let location = reply.header("Location") else {
            throw .unexpectedResponse(status: reply.status, url: url, reason: "newAccount without Location")
        }
        var account = try reply.decode(ACMEAccount.self)
        account.url = location
        state.withLock { $0.accountURL = location }
        return account
    }

    /// The account resource as the server has it now.
    public func fetchAccount() async throws(ACMEError) -> ACMEAccount {
        let url = try requireAccountURL()
        var (account, _) = try await fetch(ACMEAccount.self, url, .account)
        account.url = url
        return account
    }

    /// Replaces the contact URLs.
    @discardableResult
    public func updateAccount(contact: [String]) async throws(ACMEError) -> ACMEAccount {
        struct Update: Encodable { var contact: [String] }
        let url = try requireAccountURL()
        var account = try await post(url, .account, payload: try Self.json(Update(contact: contact))).decode(ACMEAccount.self)
        account.url = url
        return account
    }

    /// Deactivates the account (RFC 8555 section 7.3.6). The CA refuses every later request signed with it.
    @discardableResult
    public func deactivateAccount() async throws(ACMEError) -> ACMEAccount {
        struct Deactivate: Encodable { var status = "deactivated" }
        let url = try requireAccountURL()
        var account = try await post(url, .account, payload: try Self.json(Deactivate())).decode(ACMEAccount.self)
        account.url = url
        return account
    }

    /// Rolls the account over to `newKey` (RFC 8555 section 7.3.5): an inner JWS
    /// signed by the new key inside an outer one signed by the current key.
    /// After success this client signs with `newKey`; persist it before calling
    /// again (a crash after the server switched but before you stored the key
    /// would otherwise lose the account).
    public func rolloverKey(to newKey: PrivateKey) async throws(ACMEError) {
        struct KeyChange: Encodable { var account: String; var oldKey: JWK }
        struct InnerHeader: Encodable { var alg: String; var jwk: JWK; var url: String }
        let directory = try await directory()
        let accountURL = try requireAccountURL()
        let inner: FlattenedJWS
        do {
            let header = InnerHeader(alg: try JWS.algorithm(for: newKey).rawValue, jwk: try newKey.publicKey.jwk(), url: directory.keyChange)
            let payload = KeyChange(account: accountURL, oldKey: try accountKey.publicKey.jwk())
            inner = try JWS.sign(protectedHeader: try Self.json(header), payload: try Self.json(payload), key: newKey)
        } catch let error as ACMEError {
            throw error
        } catch let error as X509Error {
            throw .crypto(error.description)
        } catch {
            throw .crypto("key rollover request")
        }
        _ = try await post(directory.keyChange, .keyChange, payload: try Self.json(inner))
        state.withLock { $0.accountKey = newKey }
    }

    func requireAccountURL() throws(ACMEError) -> String {
        guard let url = accountURL else { throw .invalidState("no account URL: register or find the account first") }
        return url
    }
}
