import ACME
import CertFleetCore
import Foundation
import Hummingbird
import NIOFoundationEssentialsCompat
import Store
import X509

/// `/v1/acme/accounts`: a project's ACME accounts. Registration happens here, at
/// once, so a refused EAB or contact is the caller's answer; the key is sealed and
/// never shown again.
struct ACMEAccountsController {
    let dependencies: APIDependencies
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.post("", use: create)
        group.get("", use: list)
    }

    struct CreateBody: Decodable {
        struct EAB: Decodable { var kid: String; var hmac_key: String }
        var name: String?
        var directory_url: String?
        var email: String?
        var eab: EAB?
        var key_pem: String?
        /// Its place in the project's CA chain (1 first): issuance without a named account
        /// walks the chain when a CA fails for a reason the next one does not share.
        var fallback_order: Int?
    }

    static func json(_ account: ACMEAccountRecord) -> JSONValue {
        .object([
            ("uuid", .string(account.id.uuidString.lowercased())),
            ("name", .string(account.name)),
            ("directory_url", .string(account.directoryURL)),
            ("contact", .strings(account.contact)),
            ("account_url", .string(account.accountURL)),
            ("status", .string(account.status)),
            ("fallback_order", .int(account.fallbackOrder)),
            ("created_at", .date(account.createdAt)),
        ])
    }

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let accounts = try await ACMEAccounts.list(dependencies.db, project: caller.projectID)
        return .success(.object([("acme_accounts", .array(accounts.map(Self.json)))]))
    }

    @Sendable func create(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:write")
        let buffer = try await request.collectBody(upTo: bodyLimit)
        guard let body = try? JSONDecoder().decode(CreateBody.self, from: Data(buffer: buffer)) else {
            throw APIError.malformed("the body is not the expected JSON object")
        }
        let name = body.name ?? ACMEAccounts.defaultName
        guard CertificateName.isValid(name) else {
            throw APIError(.unprocessableContent, "invalid_name", "'name' must be 1–128 letters, digits, '.', '_' or '-'")
        }
        guard let directory = body.directory_url ?? dependencies.acme.defaultDirectoryURL else {
            throw APIError(.unprocessableContent, "directory_missing", "give 'directory_url'; this server has no default ACME directory")
        }
        guard let url = URL(string: directory), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw APIError(.unprocessableContent, "invalid_directory_url", "'directory_url' must be an http(s) URL")
        }
        // The server fetches this URL: only CAs the operator allowed, so a tenant cannot
        // make it reach internal addresses (SSRF) or probe ports.
        guard dependencies.acme.allowsDirectory(directory) else {
            throw APIError(
                .unprocessableContent, "acme_directory_not_allowed",
                "this server registers accounts only at its allowed ACME directories (CERTFLEET_ACME_DIRECTORIES)",
                details: [("directory_url", .string(directory))])
        }
        if let order = body.fallback_order, !(1...100).contains(order) {
            throw APIError(.unprocessableContent, "invalid_fallback_order", "'fallback_order' is a place in the CA chain from 1 to 100")
        }
        let contact = body.email.map { ["mailto:\($0)"] } ?? []
        if let email = body.email, !email.contains("@") || email.contains(",") {
            throw APIError(.unprocessableContent, "invalid_contact", "'email' must be an email address")
        }
        let key: PrivateKey
        if let pem = body.key_pem {
            do { key = try PrivateKey(pem: pem) } catch {
                throw APIError(.unprocessableContent, "invalid_key", "'key_pem' is not a PEM private key usable for ACME")
            }
        } else {
            key = try PrivateKey.generate(.ecP256)
        }
        let account = try await register(
            key: key, directory: directory, directoryGiven: body.directory_url != nil, contact: contact, eab: body.eab,
            imported: body.key_pem != nil, project: caller.projectID)
        let record = try await ACMEAccounts.create(
            dependencies.db, sealer: dependencies.sealer, project: caller.projectID, name: name, directoryURL: directory, contact: contact,
            accountURL: account.url, status: account.status, keyPEM: key.pkcs8PEM(), eabKeyID: body.eab?.kid, fallbackOrder: body.fallback_order)
        return .success(.object([("acme_accounts", .array([Self.json(record)]))]), status: .created)
    }

    /// Registers KEY at the CA; an imported key finds its existing account first.
    private func register(
        key: PrivateKey, directory: String, directoryGiven: Bool, contact: [String], eab: CreateBody.EAB?, imported: Bool,
        project: UUID
    ) async throws -> ACMEAccount {
        // The API answers at once: a directory that does not answer soon is reported, not waited for.
        var configuration = dependencies.acme.configuration(directoryURL: directory)
        configuration.requestTimeout = .seconds(5)
        let client: ACMEClient
        do {
            client = try ACMEClient(configuration: configuration, accountKey: key)
        } catch {
            throw APIError(.unprocessableContent, "invalid_key", "the account key is not usable for ACME: \(error)")
        }
        defer { Task { await client.shutdown() } }
        do {
            if imported, let existing = try? await client.findExistingAccount() { return existing }
            // A new account spends the CA's accounts-per-IP limit: within the budget only.
            if dependencies.acme.budgetEnabled,
                let deferral = try await IssuanceBudget(
                    db: dependencies.db, limitsJSON: dependencies.acme.budgetLimitsJSON,
                    projectShare: dependencies.acme.budgetProjectShare
                )
                .reserveAccount(ca: directory, project: project)
            {
                let seconds = max(1, Int(deferral.until.timeIntervalSinceNow.rounded(.up)))
                throw APIError(
                    .tooManyRequests, "rate_limit_budget", deferral.message,
                    details: [("limit", .string(deferral.limit.rawValue)), ("retry_after", .int(seconds))],
                    headers: [.retryAfter: String(seconds)])
            }
            let binding = try eab.map { try ExternalAccountBinding(keyID: $0.kid, base64URLMACKey: $0.hmac_key) }
            return try await client.register(contact: contact, agreeToTermsOfService: true, externalAccountBinding: binding)
        } catch let error as ACMEError {
            if let problem = error.problem {
                // An allowed CA's RFC 8555 problem: its detail is what the user needs (e.g. "EAB required").
                throw APIError(.unprocessableContent, error.classification.code, "the CA refused the account: \(problem.detail ?? problem.type)")
            }
            switch error {
            case .network, .timedOut:
                // The caller's directory is the caller's problem; the server's default being down is ours.
                if directoryGiven {
                    throw APIError(
                        .unprocessableContent, "acme_directory_unreachable", "the ACME directory could not be reached",
                        details: [("directory_url", .string(directory))])
                }
                throw APIError(
                    .serviceUnavailable, "acme_unavailable", "the default ACME directory is not reachable; retry later",
                    headers: [.retryAfter: "30"])
            default:
                // Never the remote body: only that registration failed and where.
                throw APIError(
                    .unprocessableContent, "acme_registration_failed", "the account could not be registered at the ACME directory",
                    details: [("directory_url", .string(directory))])
            }
        }
    }
}
