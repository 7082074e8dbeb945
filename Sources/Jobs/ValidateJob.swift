import CertFleetCore
import Foundation
import Logging
import Store
import X509

/// Validates an uploaded version: opens its sealed key, checks chain, key and dates,
/// lints it, and returns the facts to commit — or the reason it is refused.
public struct ValidateJob: JobHandler {
    public let kind = JobKind.validate
    let context: JobContext

    public init(context: JobContext) { self.context = context }

    public func run(_ job: ClaimedJob, logger: Logger) async throws -> JobResult {
        guard let version = job.certificateVersion else {
            return .failed(.versionMissing, message: "the job names no certificate version")
        }
        // The claim read it (`JobLedger.claimQuery`); nil there means the version does not exist.
        guard let material = job.material else {
            return .failed(.versionMissing, message: "certificate version \(version) does not exist")
        }
        let keyPEM: String
        do {
            guard let opened = try material.openKey(with: context.sealer) else {
                return .failed(.keyMissing, message: "the version has no private key (erased)")
            }
            keyPEM = opened
        } catch let error as KeySealerError {
            // The master key is not loaded here: another worker (or this one, reconfigured) may have it.
            return .retry(.masterKeyUnavailable, message: error.description, notBefore: nextAttempt(job))
        }
        let usage = CertificateUsage(rawValue: material.usage)
        do {
            let bundle = try CertificateBundle.parse(
                chain: material.chainPEM ?? "", key: keyPEM, clientCA: material.clientCAPEM)
            try bundle.validate(at: Date())
            let report = bundle.lint(LintOptions(usage: usage))
            if let blocking = report.findings.first(where: { $0.severity == .error }) {
                return .failed(.certificate(code: blocking.code), message: blocking.message)
            }
            return .validated(try Self.facts(of: bundle, lint: report))
        } catch let error as X509Error {
            return .failed(.certificate(code: error.code), message: error.message)
        }
    }

    private func nextAttempt(_ job: ClaimedJob) -> Date {
        context.backoff.nextAttempt(after: job.attempt, now: Date()) ?? Date().addingTimeInterval(60)
    }

    /// The facts of a parsed, checked bundle, as the commit stores them (validate, issue and renew).
    static func facts(of bundle: CertificateBundle, lint: LintReport) throws -> ValidatedVersion {
        let leaf = bundle.leaf.info
        return try ValidatedVersion(
            commonName: leaf.subject.commonName, sans: bundle.leaf.subjectAltNames, serial: leaf.serialNumber,
            notBefore: leaf.validity.since, notAfter: leaf.validity.until, fingerprintSHA256: leaf.fingerprintSHA256,
            issuer: DistinguishedName.format(leaf.issuer), subject: DistinguishedName.format(leaf.subject),
            details: bundle.details(), lint: lint.findings)
    }
}

/// `CN=R3,O=Let's Encrypt,C=US`, the way Unikraft Cloud shows subject and issuer.
enum DistinguishedName {
    static func format(_ name: NameInfo) -> String {
        var parts: [String] = []
        if let cn = name.commonName { parts.append("CN=\(cn)") }
        if let o = name.organization { parts.append("O=\(o)") }
        if let st = name.stateOrProvince { parts.append("ST=\(st)") }
        if let c = name.country { parts.append("C=\(c)") }
        return parts.joined(separator: ",")
    }
}
