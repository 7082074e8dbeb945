import Foundation
import Hummingbird
import Store

/// What happened to a certificate: its jobs (`/v1/jobs…`), its audit events and the
/// dns-01 records its issuance waits for.
struct JobsController {
    let dependencies: APIDependencies
    var reader: CertificateReader { CertificateReader(db: dependencies.db) }
    var records: JobRecords { JobRecords(db: dependencies.db) }

    func addRoutes(to group: RouterGroup<APIRequestContext>) {
        group.get("jobs/:id", use: job)
        group.get("jobs", use: jobs)
        group.get("certificates/:ref/events", use: events)
        group.get("certificates/:ref/challenges", use: challenges)
    }

    static func json(_ job: JobRecord) -> JSONValue {
        var error: JSONValue = .null
        if let code = job.errorCode { error = .object([("code", .string(code)), ("message", .string(job.errorDetail))]) }
        return .object([
            ("id", .string(job.id.uuidString.lowercased())),
            ("kind", .string(job.kind)),
            ("state", .string(job.state)),
            ("attempt", .int(job.attempt)),
            ("max_attempts", .int(job.maxAttempts)),
            ("certificate", .string(job.certificateID.uuidString.lowercased())),
            ("certificate_version", .int(job.certificateVersion)),
            ("not_before", .date(job.notBefore)),
            ("error", error),
            ("created_at", .date(job.createdAt)),
            ("started_at", .date(job.startedAt)),
            ("finished_at", .date(job.finishedAt)),
        ])
    }

    @Sendable func job(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text), let job = try await records.job(project: caller.projectID, id: id) else {
            throw APIError(.notFound, "job_not_found", "job '\(text)' not found")
        }
        return .success(.object([("jobs", .array([Self.json(job)]))]))
    }

    @Sendable func jobs(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        guard let reference = request.uri.queryParameters.get("certificate") else {
            throw APIError.malformed("'certificate' (uuid or name) is required")
        }
        let document = try await reader.require(project: caller.projectID, reference: reference)
        let jobs = try await records.jobs(project: caller.projectID, certificate: document.id)
        return .success(.object([("jobs", .array(jobs.map(Self.json)))]))
    }

    @Sendable func events(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let items = try await records.events(project: caller.projectID, certificate: document.id).map { event -> JSONValue in
            .object([
                ("id", .int(event.id)),
                ("type", .string(event.type)),
                ("from", .string(event.fromState)),
                ("to", .string(event.toState)),
                ("attempt", .int(event.attempt)),
                ("reason", .string(event.reason)),
                ("actor", .string(event.actor)),
                ("job", .string(event.jobID?.uuidString.lowercased())),
                ("created_at", .date(event.createdAt)),
            ])
        }
        return .success(.object([("events", .array(items))]))
    }

    /// The TXT records a dns-01-manual issuance waits for (as `kontena certificate authorize` prints them).
    @Sendable func challenges(_ request: Request, context: APIRequestContext) async throws -> JSONResponse {
        let caller = try context.caller("certificates:read")
        let document = try await reader.require(project: caller.projectID, reference: try context.parameters.require("ref"))
        let records = try await ACMEChallenges(db: dependencies.db).dnsRecords(project: caller.projectID, certificate: document.id)
        let items = records.map { record -> JSONValue in
            .object([
                ("type", .string("dns-01")),
                ("domain", .string(record.identifier)),
                ("record_name", .string(record.recordName)),
                ("record_type", .string("TXT")),
                ("record_content", .string(record.recordValue)),
                ("status", .string(record.jobState == "queued" || record.jobState == "running" ? "pending" : record.jobState)),
            ])
        }
        // Records written through the project's DNS providers, with the last propagation round per nameserver.
        let written = try await DNSChallengeRecords.list(dependencies.db, project: caller.projectID, certificate: document.id).map {
            record -> JSONValue in
            .object([
                ("type", .string("dns-01")),
                ("domain", .string(record.identifier)),
                ("record_name", .string(record.recordName)),
                ("record_type", .string("TXT")),
                ("record_content", .string(record.recordValue)),
                ("provider", .string(record.provider)),
                ("record_state", .string(record.state)),
                ("propagation", record.propagation.flatMap { try? JSONValue.parse($0) } ?? .null),
                ("status", .string(record.jobState == "queued" || record.jobState == "running" ? "pending" : record.jobState)),
                ("job", .string(record.jobID.uuidString.lowercased())),
            ])
        }
        return .success(.object([("challenges", .array(items + written))]))
    }
}
