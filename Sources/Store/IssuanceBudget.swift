import CertFleetCore
import Foundation
import Postgres

/// Why an issuance has to wait: the limit it would exceed and when the window allows it.
public struct IssuanceDeferral: Sendable, Equatable {
    public let limit: IssuanceLimit
    /// The earliest moment the window has room again.
    public let until: Date
    /// True when the project's own share of a CA-wide window is spent (others may still have room).
    public var projectShare = false
    /// `rate_limit_budget: …`, for the certificate's error and the job's retry.
    public var message: String {
        let whose = projectShare ? "this project's share of " : ""
        return "CertFleet's budget for \(whose)the CA's \(limit.rawValue) limit is spent; deferred until \(RFC3339.format(until))"
    }

    public init(limit: IssuanceLimit, until: Date, projectShare: Bool = false) {
        self.limit = limit
        self.until = until
        self.projectShare = projectShare
    }
}

/// The rate-limit budget of issuance: before a job spends a CA's limit (a new order, a
/// certificate), it reserves here. Counts live in `issuance_ledger`, in sliding windows,
/// per CA (directory URL); orders per ACME account, certificates per registered domain
/// and per identical name set. A job that would exceed a limit is told when to come back
/// instead of being rejected by the CA.
///
/// As the CA counts: every new order counts against the account; a certificate counts
/// against its registered domains and name set unless its job failed or was cancelled
/// (the reservation is released with the job, whatever ended it). A project may hold at
/// most `projectShare` of a registered domain's window, so one tenant cannot spend what
/// another tenant's renewals under the same registered domain need.
public struct IssuanceBudget: Sendable {
    let db: PostgresClient
    /// Limits per CA directory URL; CAs not listed get `defaultLimits`.
    public var limitsByCA: [String: IssuanceLimits]
    public var defaultLimits: IssuanceLimits
    /// The part (0–1] of a registered domain's window one project may hold.
    public var projectShare: Double

    public init(
        db: PostgresClient, limitsByCA: [String: IssuanceLimits] = [:], defaultLimits: IssuanceLimits = .letsEncrypt,
        projectShare: Double = 1
    ) {
        self.db = db
        self.limitsByCA = limitsByCA
        self.defaultLimits = defaultLimits
        self.projectShare = min(max(projectShare, 0.01), 1)
    }

    public func limits(for ca: String) -> IssuanceLimits { limitsByCA[ca] ?? defaultLimits }

    /// Reserves one new order and one certificate for DOMAINS with ACCOUNT at CA, or returns
    /// when to try again. JOB makes it idempotent: a resumed job that reserved already gets
    /// nil without spending twice. Concurrent reservations of one CA are serialised.
    public func reserve(
        ca: String, account: String, domains: [String], job: UUID?, project: UUID? = nil,
        now: Date = Date()
    ) async throws -> IssuanceDeferral? {
        let limits = limits(for: ca)
        let nameSet = Set(domains.map { $0.lowercased() }).sorted().joined(separator: ",")
        let registered = Set(domains.map(RegisteredDomain.of)).sorted()
        return try await db.transaction { tx -> IssuanceDeferral? in
            // Per CA: the domain and duplicate limits count across accounts.
            try await Self.lock(tx, ca: ca)
            if let job, try await !tx.query("SELECT 1 FROM issuance_ledger WHERE job_id = \(job) AND kind = 'order'").isEmpty {
                return nil
            }
            var deferrals: [IssuanceDeferral] = []
            if let until = try await wait(tx, limits.ordersPerAccount, now: now, kind: "order", ca: ca, account: account) {
                deferrals.append(.init(limit: .ordersPerAccount, until: until))
            }
            if let until = try await wait(tx, limits.duplicateCertificates, now: now, kind: "order", ca: ca, nameSet: nameSet) {
                deferrals.append(.init(limit: .duplicateCertificates, until: until))
            }
            for host in Self.hostnames(domains) {
                if let until = try await wait(
                    tx, limits.failedValidationsPerHostname, now: now, kind: "failed_validation", ca: ca,
                    account: account, nameSet: host)
                {
                    deferrals.append(.init(limit: .failedValidationsPerHostname, until: until))
                }
            }
            let window = limits.certificatesPerRegisteredDomain
            let share = IssuanceLimits.Window(max(1, Int((Double(window.count) * projectShare).rounded(.down))), per: window.seconds)
            for domain in registered {
                if let until = try await wait(tx, window, now: now, kind: "domain", ca: ca, domain: domain) {
                    deferrals.append(.init(limit: .certificatesPerRegisteredDomain, until: until))
                } else if let project, share.count < window.count,
                    let until = try await wait(tx, share, now: now, kind: "domain", ca: ca, domain: domain, project: project)
                {
                    deferrals.append(.init(limit: .certificatesPerRegisteredDomain, until: until, projectShare: true))
                }
            }
            // The latest of them: waiting for an earlier one would only defer again.
            if let latest = deferrals.max(by: { $0.until < $1.until }) { return latest }
            try await tx.query(
                """
                INSERT INTO issuance_ledger (ca, account, kind, name_set, job_id, project_id, created_at)
                VALUES (\(ca), \(account), 'order', \(nameSet), \(job), \(project), \(now))
                """)
            for domain in registered {
                try await tx.query(
                    """
                    INSERT INTO issuance_ledger (ca, account, kind, registered_domain, name_set, job_id, project_id, created_at)
                    VALUES (\(ca), \(account), 'domain', \(domain), \(nameSet), \(job), \(project), \(now))
                    """)
            }
            return nil
        }
    }

    /// Reserves one new account registration at CA (this installation counts as one IP
    /// address), or returns when the window allows one.
    public func reserveAccount(ca: String, project: UUID?, now: Date = Date()) async throws -> IssuanceDeferral? {
        let window = limits(for: ca).accountsPerIP
        return try await db.transaction { tx -> IssuanceDeferral? in
            try await Self.lock(tx, ca: ca)
            if let until = try await wait(tx, window, now: now, kind: "account", ca: ca, account: "registration") {
                return IssuanceDeferral(limit: .accountsPerIP, until: until)
            }
            try await tx.query(
                """
                INSERT INTO issuance_ledger (ca, account, kind, name_set, project_id, created_at)
                VALUES (\(ca), 'registration', 'account', '', \(project), \(now))
                """)
            return nil
        }
    }

    /// Serialises the reservations of one CA (its limits count across accounts).
    private static func lock(_ tx: PostgresTransaction, ca: String) async throws {
        try await tx.query("SELECT pg_advisory_xact_lock(hashtext('issuance_budget:' || \(ca)::text))")
    }

    /// Records that the CA failed to validate HOSTNAMES for ACCOUNT (the job has ended; the
    /// order with it). Five of these for one host within the hour defer new orders naming it.
    public func recordFailedValidations(ca: String, account: String, hostnames: [String], project: UUID?, now: Date = Date()) async throws {
        for host in Self.hostnames(hostnames) {
            try await db.query(
                """
                INSERT INTO issuance_ledger (ca, account, kind, name_set, project_id, created_at)
                VALUES (\(ca), \(account), 'failed_validation', \(host), \(project), \(now))
                """)
        }
    }

    /// Lower-cased host names, a wildcard counted as its base name, each once.
    static func hostnames(_ names: [String]) -> [String] {
        Array(
            Set(
                names.map { name in
                    let lowered = name.lowercased()
                    return lowered.hasPrefix("*.") ? String(lowered.dropFirst(2)) : lowered
                })
        ).sorted()
    }

    /// nil when WINDOW has room for one more ledger row of KIND matching the given
    /// account, name set, domain or project; else the moment the oldest row that must leave the
    /// window does. Certificate counts (by name set or domain) skip rows of failed or cancelled
    /// jobs: the CA never issued those; order counts keep them (the CA counted the order).
    private func wait(
        _ tx: PostgresTransaction, _ window: IssuanceLimits.Window, now: Date, kind: String, ca: String,
        account: String? = nil, nameSet: String? = nil, domain: String? = nil, project: UUID? = nil
    ) async throws -> Date? {
        guard window.count > 0 else { return now.addingTimeInterval(Double(window.seconds)) }
        let since = now.addingTimeInterval(-Double(window.seconds))
        let certificatesOnly = account == nil
        // The COUNT-th newest row inside the window: when there is one, the window is full until
        // it leaves. One row back, not COUNT (a storm of 10,000 under a limit of thousands).
        let rows = try await tx.query(
            """
            SELECT created_at FROM issuance_ledger
            WHERE kind = \(kind) AND ca = \(ca) AND created_at > \(since)
              AND (\(account)::text IS NULL OR account = \(account))
              AND (\(nameSet)::text IS NULL OR name_set = \(nameSet))
              AND (\(domain)::text IS NULL OR registered_domain = \(domain))
              AND (\(project)::uuid IS NULL OR project_id = \(project))
              AND (NOT \(certificatesOnly) OR job_id IS NULL
                   OR NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = issuance_ledger.job_id AND j.state IN ('failed', 'cancelled')))
            ORDER BY created_at DESC OFFSET \(window.count - 1) LIMIT 1
            """)
        guard let oldest = try rows.first?.decode(Date.self, "created_at") else { return nil }
        return oldest.addingTimeInterval(Double(window.seconds))
    }
}

extension IssuanceBudget {
    /// The environment variable with per-CA limits (see `init(db:limitsJSON:)`).
    public static let limitsVariable = "CERTFLEET_ACME_RATE_LIMITS"

    /// Limits per CA from JSON: `{"<directory URL>": {"orders_per_account": {"count": 300, "seconds": 10800},
    /// "certificates_per_registered_domain": {…}, "duplicate_certificates": {…}}, "*": {…}}`; `"*"`
    /// replaces the default (Let's Encrypt's limits) for every CA not listed. nil or empty: the defaults.
    public init(db: PostgresClient, limitsJSON: String?, projectShare: Double = 1) throws {
        var limits =
            try limitsJSON.map { text in
                try JSONDecoder().decode([String: IssuanceLimits].self, from: Data(text.utf8))
            } ?? [:]
        let fallback = limits.removeValue(forKey: "*") ?? .letsEncrypt
        self.init(db: db, limitsByCA: limits, defaultLimits: fallback, projectShare: projectShare)
    }

    /// The environment variable with the part of a registered domain's window one project may hold.
    public static let projectShareVariable = "CERTFLEET_ACME_PROJECT_SHARE"
}
