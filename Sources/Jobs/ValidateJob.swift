import CertFleetCore
import Foundation
import Logging
import Postgres
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
            return .failed(code: "version_missing", message: "the job names no certificate version")
        }
        guard let row = try await context.db.query("""
            SELECT v.chain_pem, v.client_ca_pem, v.private_key_sealed, v.master_key_id, c.usage, c.sans
            FROM certificate_versions v JOIN certificates c ON c.id = v.certificate_id
            WHERE v.certificate_id = \(job.certificateID) AND v.version = \(Int32(version))
            """).first else {
            return .failed(code: "version_missing", message: "certificate version \(version) does not exist")
        }
        guard let sealed = try row.decode(PostgresBytes?.self, "private_key_sealed"),
              let keyID = try row.decode(String?.self, "master_key_id") else {
            return .failed(code: "key_missing", message: "the version has no private key (erased)")
        }
        let keyPEM: String
        do {
            let opened = try context.sealer.open(sealed.bytes, keyID: keyID, context: KeySealer.certificateKeyContext(certificate: job.certificateID, version: version))
            keyPEM = String(decoding: opened, as: UTF8.self)
        } catch let error as KeySealerError {
            // The master key is not loaded here: another worker (or this one, reconfigured) may have it.
            return .retry(code: "master_key_unavailable", message: error.description, notBefore: nextAttempt(job))
        }
        let usage = CertificateUsage(rawValue: try row.decode(String.self, "usage"))
        do {
            let bundle = try CertificateBundle.parse(
                chain: try row.decode(String.self, "chain_pem"), key: keyPEM, clientCA: try row.decode(String?.self, "client_ca_pem"))
            try bundle.validate(at: Date())
            let report = bundle.lint(LintOptions(usage: usage))
            if let blocking = report.findings.first(where: { $0.severity == .error }) {
                return .failed(code: blocking.code, message: blocking.message)
            }
            return .validated(try Self.facts(of: bundle, lint: report))
        } catch let error as X509Error {
            return .failed(code: error.code, message: error.message)
        }
    }

    private func nextAttempt(_ job: ClaimedJob) -> Date {
        context.backoff.nextAttempt(after: job.attempt, now: Date()) ?? Date().addingTimeInterval(60)
    }

    /// The facts of a parsed, checked bundle, as the commit stores them (validate, issue and renew).
    static func facts(of bundle: CertificateBundle, lint: LintReport) throws -> ValidatedVersion {
        let leaf = bundle.leaf.info
        return ValidatedVersion(
            commonName: leaf.subject.commonName, sans: bundle.leaf.subjectAltNames, serial: leaf.serialNumber,
            notBefore: leaf.validity.since, notAfter: leaf.validity.until, fingerprintSHA256: leaf.fingerprintSHA256,
            issuer: DistinguishedName.format(leaf.issuer), subject: DistinguishedName.format(leaf.subject),
            details: try PostgresJSON(encoding: bundle.details()), lint: try PostgresJSON(encoding: lint.findings))
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
