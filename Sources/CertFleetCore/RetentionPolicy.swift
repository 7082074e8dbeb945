import Foundation

/// How long CertFleet keeps what only grows: published outbox rows, finished jobs, audit
/// events and retired certificate versions. The scheduler deletes what is older, in small
/// batches. Events and versions may be kept longer or shorter per project (its
/// `event_retention_days` / `version_retention_days`); nil here means "keep forever".
public struct RetentionPolicy: Sendable, Equatable {
    /// Outbox rows, counted from `published_at` (unpublished rows are never deleted).
    public var publishedOutbox: Duration?
    /// Jobs, counted from `finished_at` (queued and running jobs are never deleted).
    public var finishedJobs: Duration?
    /// Audit events, counted from `created_at`: the default for projects without their own.
    public var events: Duration?
    /// Versions that were superseded or failed validation, counted from `created_at` (the
    /// current version, and one still being made, are never deleted).
    public var retiredVersions: Duration?
    /// Rows per delete statement: small, so no lock is held long and several schedulers share the work.
    public var batchSize: Int

    public init(publishedOutbox: Duration?, finishedJobs: Duration?, events: Duration?, retiredVersions: Duration?, batchSize: Int = 500) {
        self.publishedOutbox = publishedOutbox
        self.finishedJobs = finishedJobs
        self.events = events
        self.retiredVersions = retiredVersions
        self.batchSize = batchSize
    }

    /// Outbox 1 day after publishing, jobs 90 days after finishing, events 365 days,
    /// retired versions 90 days.
    public static let defaults = RetentionPolicy(
        publishedOutbox: .seconds(86_400), finishedJobs: .seconds(90 * 86_400), events: .seconds(365 * 86_400),
        retiredVersions: .seconds(90 * 86_400))

    /// The variables that change a default: days (a decimal, `0.5`), or `off` to keep forever;
    /// `CERTFLEET_RETENTION_BATCH` rows per statement.
    public static let variables = (
        outbox: "CERTFLEET_RETENTION_OUTBOX_DAYS", jobs: "CERTFLEET_RETENTION_JOBS_DAYS",
        events: "CERTFLEET_RETENTION_EVENTS_DAYS", versions: "CERTFLEET_RETENTION_VERSIONS_DAYS", batch: "CERTFLEET_RETENTION_BATCH"
    )

    /// The defaults with ENVIRONMENT's overrides; a value that is not a positive number of
    /// days (or `off`) is refused with the variable's name.
    public static func from(environment: [String: String]) throws(RetentionPolicyError) -> RetentionPolicy {
        var policy = RetentionPolicy.defaults
        policy.publishedOutbox = try days(environment, variables.outbox, default: policy.publishedOutbox)
        policy.finishedJobs = try days(environment, variables.jobs, default: policy.finishedJobs)
        policy.events = try days(environment, variables.events, default: policy.events)
        policy.retiredVersions = try days(environment, variables.versions, default: policy.retiredVersions)
        if let text = environment[variables.batch] {
            guard let size = Int(text), (1...10_000).contains(size) else { throw .invalid(variable: variables.batch, value: text) }
            policy.batchSize = size
        }
        return policy
    }

    static func days(_ environment: [String: String], _ name: String, default value: Duration?) throws(RetentionPolicyError) -> Duration? {
        guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return value }
        if text.lowercased() == "off" { return nil }
        guard let days = Double(text), days > 0, days <= 36_500 else { throw .invalid(variable: name, value: text) }
        return .milliseconds(Int64(days * 86_400_000))
    }
}

/// A retention setting that cannot be used.
public enum RetentionPolicyError: Error, Equatable, CustomStringConvertible {
    case invalid(variable: String, value: String)

    public var code: String { "invalid_retention" }

    public var description: String {
        switch self {
        case .invalid(let variable, let value):
            return "\(variable)='\(value)' must be a positive number of days (at most 36500) or 'off'"
        }
    }
}
