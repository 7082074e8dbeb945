import ACME
import CertFleetCore
import Foundation
import Hummingbird
import Store
import X509

/// The certificates table, a certificate's page and its actions. Reads go through the API's
/// reader and Store's queries with the key's project; writes through `CertificateRequests`,
/// the intake layer every door shares.
struct ConsoleCertificatesController {
    let dependencies: APIDependencies
    let renderer: ConsoleRenderer
    var requests: CertificateRequests { CertificateRequests(dependencies: dependencies) }
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }

    static let states = ["pending", "valid", "renewing", "expired", "error", "deleting", "revoked"]
    static let sources = ["acme", "uploaded"]

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("certificates", use: list)
        group.get("certificates/:ref", use: detail)
        group.get("certificates/:ref/pem", use: CertificateFilesController(dependencies: dependencies).pem)
        group.post("certificates/:ref/renew", use: renew)
        group.post("certificates/:ref/revoke", use: revoke)
        group.post("certificates/:ref/delete", use: delete)
    }

    // MARK: - the table

    @Sendable func list(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let parameters = request.uri.queryParameters
        func text(_ name: String) -> String? {
            parameters.get(name).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : String($0.prefix(256)) }
        }
        var query = CertificateTableQuery()
        query.search = text("q")
        if let search = query.search, let pattern = Hostname.normalizePattern(search) {
            query.host = pattern
            if !pattern.hasPrefix("*."), let dot = pattern.firstIndex(of: ".") { query.wildcard = "*" + pattern[dot...] }
        }
        query.state = text("state").flatMap { Self.states.contains($0) ? $0 : nil }
        query.source = text("source").flatMap { Self.sources.contains($0) ? $0 : nil }
        query.ca = text("ca")
        let expiresBefore = text("expires_before")
        if let expiresBefore {
            guard let date = RFC3339.parse(expiresBefore + "T00:00:00Z") else {
                throw APIError.malformed("'expires before' must be a date such as 2027-01-31")
            }
            query.expiresBefore = date
        }
        query.sort = text("sort").flatMap(CertificateTableSort.init(rawValue:)) ?? .name
        query.after = text("after")
        let table = CertificateTable(db: dependencies.db)
        let started = ContinuousClock.now
        let page = try await table.page(project: caller.projectID, query: query)
        let elapsed = ContinuousClock.now - started
        let accounts = try await table.accounts(project: caller.projectID)
        let filters: [(String, String?)] = [
            ("q", query.search), ("state", query.state), ("source", query.source), ("ca", query.ca),
            ("expires_before", expiresBefore), ("sort", query.sort.rawValue),
        ]
        func options(_ values: [String], _ selected: String?) -> [[String: Any]] {
            values.map { ["value": $0, "selected": $0 == selected] }
        }
        let milliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
        return renderer.page(
            "certificates",
            ConsoleViews.values([
                ("title", "Certificates"), ("q", query.search), ("expiresBefore", expiresBefore),
                ("states", options(Self.states, query.state)), ("sources", options(Self.sources, query.source)),
                ("cas", options(accounts, query.ca)), ("sorts", options(CertificateTableSort.allCases.map(\.rawValue), query.sort.rawValue)),
                ("rows", page.rows.map(ConsoleViews.row)), ("count", page.rows.count),
                ("elapsed", String(format: "%.1f", milliseconds)),
                ("next", page.next.map { ConsoleViews.link("/console/certificates", filters + [("after", $0)]) }),
                ("first", query.after == nil ? nil : ConsoleViews.link("/console/certificates", filters)),
            ]), context: context)
    }

    // MARK: - one certificate

    @Sendable func detail(_ request: Request, context: APIRequestContext) async throws -> Response {
        try await detailPage(reference: try context.parameters.require("ref"), context: context)
    }

    func detailPage(
        reference: String, context: APIRequestContext, status: HTTPResponse.Status = .ok,
        flash: ConsoleFlash? = nil
    ) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: reference)
        let records = JobRecords(db: dependencies.db)
        let jobs = try await records.jobs(project: caller.projectID, certificate: document.id)
        let events = try await records.events(project: caller.projectID, certificate: document.id)
        let challenges = try await ACMEChallenges(db: dependencies.db).dnsRecords(project: caller.projectID, certificate: document.id)
        let versions = try await VersionHistory(db: dependencies.db).versions(project: caller.projectID, certificate: document.id)
        let base = "/console/certificates/\(document.id.uuidString.lowercased())"
        var values = CertificatePageView(document: document).values
        values["title"] = document.name
        values["base"] = base
        values["jobs"] = jobs.reversed().map(ConsoleViews.job)
        values["events"] = events.reversed().map(ConsoleViews.event)
        values["versions"] = versions.map { entry -> [String: Any] in
            ConsoleViews.values([
                ("version", entry.version), ("state", entry.state), ("serial", entry.serial),
                ("notBefore", ConsoleViews.date(entry.notBefore)), ("notAfter", ConsoleViews.date(entry.notAfter)),
                ("created", ConsoleViews.date(entry.createdAt)),
                ("current", entry.version == document.currentVersion ? true : nil),
            ])
        }
        values["hasChallenges"] = !challenges.isEmpty
        values["challenges"] = challenges.map { record -> [String: Any] in
            ConsoleViews.values([
                ("domain", record.identifier), ("name", record.recordName), ("value", record.recordValue),
                ("status", record.jobState == "queued" || record.jobState == "running" ? "pending" : record.jobState),
            ])
        }
        var types = document.currentVersion == nil ? [] : ["fullchain", "chain", "cert"]
        if document.currentVersion != nil, caller.holds("keys:export") { types.append("key") }
        values["downloads"] = types.map { ["type": $0, "href": "\(base)/pem?type=\($0)"] }
        values["reasons"] = RevocationReason.allCases.map { "\($0)" }
        // Renewal and revocation are the CA's: an uploaded certificate is replaced, not renewed.
        values["isACME"] = document.source == "acme"
        return renderer.page("certificate", values, context: context, status: status, flash: flash)
    }

    // MARK: - actions (each starts a job and shows its progress)

    @Sendable func renew(_ request: Request, context: APIRequestContext) async throws -> Response {
        try await act(context) { caller, reference, _ in try await requests.renew(reference: reference, caller: caller, idempotencyKey: nil) }
    }

    @Sendable func revoke(_ request: Request, context: APIRequestContext) async throws -> Response {
        try await act(context) { caller, reference, form in
            try await requests.revoke(reference: reference, caller: caller, reason: form["reason"], idempotencyKey: nil)
        }
    }

    @Sendable func delete(_ request: Request, context: APIRequestContext) async throws -> Response {
        try await act(context) { caller, reference, _ in try await requests.delete(reference: reference, caller: caller) }
    }

    /// Runs ACTION for the certificate of the route as the caller (`certificates:write`); a refusal
    /// (409 bound, state, …) is shown on the certificate's page with its code and message.
    func act(
        _ context: APIRequestContext,
        _ action: (Identity, String, ConsoleForm) async throws -> Accepted
    ) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let reference = try context.parameters.require("ref")
        do {
            let accepted = try await action(caller, reference, context.consoleForm ?? ConsoleForm(fields: [:]))
            return ConsoleRenderer.redirect("/console/jobs/\(accepted.job.jobID.uuidString.lowercased())")
        } catch {
            guard let mapped = APIError.from(error), mapped.status.code < 500, mapped.status != .notFound else { throw error }
            return try await detailPage(reference: reference, context: context, status: mapped.status, flash: ConsoleFlash(mapped))
        }
    }
}
