import ACME
import DNS
import Foundation
import Store

/// The preflight of an issuance (see `IssuancePreflight`), shared by the issue job (before any
/// order) and `POST /v1/certificates/preflight`.
public enum IssuePreflight {
    public struct Outcome: Sendable {
        public var checks: [IssuancePreflight.Check]
        /// The failing check's stable code and message; nil when everything passed.
        public var failure: (code: String, message: String)?
    }

    /// Runs the checks for IDENTIFIERS of PROJECT solved with CHALLENGE (`http-01`, `dns-01`)
    /// through DNSPROVIDER (nil: the zone map); CAAIDENTITIES come from the CA's directory.
    public static func run(
        db: Database, sealer: KeySealer, project: UUID, jobID: UUID?, identifiers: [String], challenge: String,
        dnsProvider: String?, settings: ACMESettings, caaIdentities: [String]
    ) async throws -> Outcome {
        let dnsNames = challenge == "dns-01" ? identifiers : identifiers.filter { $0.hasPrefix("*.") }
        let routing: DNSProviderRouting?
        do {
            routing =
                dnsNames.isEmpty
                ? nil
                : try await DNSProviderRouting.load(
                    db: db, sealer: sealer, project: project, explicit: dnsProvider, identifiers: dnsNames, settings: settings)
        } catch let unusable as DNSProviderRouting.Unusable {
            return Outcome(checks: [], failure: (unusable.code, unusable.message))
        }
        let solver = try routing?.solver(db: db, jobID: jobID ?? UUID(), defaultResolver: settings.defaultDNSResolver)
        return await run(identifiers: identifiers, dnsNames: Set(dnsNames), solver: solver, settings: settings, caaIdentities: caaIdentities)
    }

    public static func run(
        identifiers: [String], dnsNames: Set<String>, solver: RoutedDNS01Solver?, settings: ACMESettings,
        caaIdentities: [String]
    ) async -> Outcome {
        let fallback = settings.defaultDNSResolver.flatMap(DNSServer.init)
        let preflight = IssuancePreflight(caaIdentities: caaIdentities.isEmpty ? settings.caaIdentities : caaIdentities)
        do {
            let checks = try await preflight.run(
                identifiers: identifiers, dns01: { dnsNames.contains($0) },
                resolver: { base in solver?.resolver(forBase: base) ?? fallback },
                providerCheck: { base in await solver?.canWrite(base: base) })
            return Outcome(checks: checks, failure: nil)
        } catch {
            return Outcome(checks: error.checks, failure: (error.code, error.message))
        }
    }

    /// Whether an issuance runs the preflight: `on` always, `auto` when its dns-01 goes through the project's providers.
    public static func wanted(_ settings: ACMESettings, usesProviders: Bool) -> Bool {
        settings.preflight == "on" || (settings.preflight == "auto" && usesProviders)
    }
}
