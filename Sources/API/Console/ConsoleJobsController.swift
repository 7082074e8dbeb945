import AMQP
import Foundation
import Hummingbird
import Messaging
import Store

/// Upload and issue (both through `CertificateRequests`), a job's live progress and the jobs
/// overview. Progress is a page that reloads itself every second (`<meta http-equiv=refresh>`)
/// while the job or the certificate is still moving: no script, so the strict CSP holds.
struct ConsoleJobsController {
    let dependencies: APIDependencies
    let renderer: ConsoleRenderer
    var requests: CertificateRequests { CertificateRequests(dependencies: dependencies) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("upload", use: uploadPage)
        group.post("upload", use: upload)
        group.get("issue", use: issuePage)
        group.post("issue", use: issue)
        group.get("jobs", use: jobs)
        group.get("jobs/:id", use: job)
    }

    @Sendable func uploadPage(_ request: Request, context: APIRequestContext) async throws -> Response {
        _ = try context.caller("certificates:write")
        return renderer.page("upload", ["title": "Upload"], context: context)
    }

    @Sendable func upload(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let form = context.consoleForm ?? ConsoleForm(fields: [:])
        var body = CertificateRequests.UploadBody()
        body.name = form["name"]
        body.chain = form["chain"] ?? form["chain_file"]
        body.pkey = form["pkey"] ?? form["pkey_file"]
        body.client_ca = form["client_ca"] ?? form["client_ca_file"]
        body.usage = form["usage"]
        do {
            let accepted = try await requests.create(body, caller: caller, idempotencyKey: nil)
            return ConsoleRenderer.redirect("/console/jobs/\(accepted.job.jobID.uuidString.lowercased())")
        } catch {
            guard let mapped = APIError.from(error), mapped.status.code < 500 else { throw error }
            return renderer.page(
                "upload", ConsoleViews.values([("title", "Upload"), ("name", body.name)]), context: context,
                status: mapped.status, flash: ConsoleFlash(mapped))
        }
    }

    @Sendable func issuePage(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        return renderer.page("issue", try await issueValues(caller: caller, form: nil), context: context)
    }

    func issueValues(caller: Identity, form: ConsoleForm?) async throws -> [String: Any] {
        let accounts = try await CertificateTable(db: dependencies.db).accounts(project: caller.projectID)
        return ConsoleViews.values([
            ("title", "Issue"), ("keyTypes", CertificateRequests.keyTypes), ("challenges", CertificateRequests.challengeTypes),
            ("accounts", accounts), ("domains", form?["domains"]), ("name", form?["name"]),
        ])
    }

    @Sendable func issue(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:write")
        let form = context.consoleForm ?? ConsoleForm(fields: [:])
        let domains = (form["domains"] ?? "").split { $0 == "," || $0.isWhitespace }.map(String.init)
        var body = CertificateRequests.UploadBody()
        body.name = form["name"]
        body.key_type = form["key_type"]
        body.challenge = form["challenge"]
        body.acme_account = form["acme_account"]
        body.profile = form["profile"]
        do {
            let accepted = try await requests.issue(body, domains: domains, caller: caller, idempotencyKey: nil)
            return ConsoleRenderer.redirect("/console/jobs/\(accepted.job.jobID.uuidString.lowercased())")
        } catch {
            guard let mapped = APIError.from(error), mapped.status.code < 500 else { throw error }
            return renderer.page(
                "issue", try await issueValues(caller: caller, form: form), context: context,
                status: mapped.status, flash: ConsoleFlash(mapped))
        }
    }

    @Sendable func job(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let text = try context.parameters.require("id")
        let records = JobRecords(db: dependencies.db)
        guard let id = UUID(uuidString: text), let job = try await records.job(project: caller.projectID, id: id) else {
            throw APIError(.notFound, "job_not_found", "job '\(text.prefix(64))' not found")
        }
        let documents = CertificateDocuments(db: dependencies.db)
        let certificateState = try await documents.state(project: caller.projectID, id: job.certificateID)
        let name = try await documents.find(project: caller.projectID, reference: job.certificateID.uuidString)?.name
        let events = try await records.events(project: caller.projectID, certificate: job.certificateID).filter { $0.jobID == job.id }
        let live = ["queued", "running"].contains(job.state) || ["pending", "renewing", "deleting"].contains(certificateState)
        var values = ConsoleViews.job(job)
        values.merge(
            ConsoleViews.values([
                ("title", "Job \(job.kind)"), ("certificateState", certificateState), ("certificateName", name ?? "(deleted)"),
                ("certificateHref", "/console/certificates/\(job.certificateID.uuidString.lowercased())"),
                ("live", live ? true : nil), ("refresh", live ? "1" : nil), ("events", events.map(ConsoleViews.event)),
            ])
        ) { _, new in new }
        return renderer.page("job", values, context: context)
    }

    @Sendable func jobs(_ request: Request, context: APIRequestContext) async throws -> Response {
        let caller = try context.caller("certificates:read")
        let parameters = request.uri.queryParameters
        let state = parameters.get("state").flatMap { ["queued", "running", "succeeded", "failed", "cancelled"].contains($0) ? $0 : nil }
        let kind = parameters.get("kind").flatMap { ["issue", "validate", "renew", "delete", "revoke"].contains($0) ? $0 : nil }
        let overview = JobOverview(db: dependencies.db)
        let rows = try await overview.recent(project: caller.projectID, state: state, kind: kind)
        let counts = try await overview.counts(project: caller.projectID)
        let title = [state, kind].compactMap { $0 }.joined(separator: " ")
        // Unparseable job messages wait in the dead-letter queue. It is the whole installation's,
        // not the project's, so only an admin sees its depth.
        let deadLetters: String? =
            caller.holds("admin")
            ? (try? await dependencies.amqp.queueStatus(dependencies.topology.deadLetterQueue).messages).map(String.init)
                ?? "unknown (broker unreachable)"
            : nil
        var values: [String: Any] = [
            "title": "Jobs", "listTitle": title.isEmpty ? "Newest jobs" : "Newest \(title) jobs",
            "counts": counts.map { count -> [String: Any] in
                [
                    "state": count.state, "kind": count.kind, "count": count.count,
                    "href": ConsoleViews.link("/console/jobs", [("state", count.state), ("kind", count.kind)]),
                ]
            },
            "rows": rows.map { row -> [String: Any] in
                var values = ConsoleViews.job(row.job)
                values["certificateName"] = row.certificateName
                values["certificateHref"] = "/console/certificates/\(row.job.certificateID.uuidString.lowercased())"
                return values
            },
        ]
        if let deadLetters { values["deadLetters"] = deadLetters }
        return renderer.page("jobs", values, context: context)
    }
}
