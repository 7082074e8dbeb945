import CertFleetCore
import Foundation

/// What a certificate will be used for, checked against its Extended Key Usage.
public enum CertificateUsage: String, Codable, Sendable, Hashable {
    /// TLS server (`serverAuth`).
    case server
    /// TLS client (`clientAuth`).
    case client

    var extendedKeyUsage: String { self == .server ? "serverAuth" : "clientAuth" }
}

/// One problem (or remark) about a bundle.
public struct LintFinding: Codable, Sendable, Hashable {
    public enum Severity: String, Codable, Sendable, Hashable {
        /// The bundle should not be used.
        case error
        /// Works for many clients but should be fixed.
        case warning
        /// Worth knowing.
        case info
    }

    public var severity: Severity
    /// Stable code, e.g. `missing_intermediate`, `sha1_signature`.
    public var code: String
    public var message: String
    /// 0-based chain position (leaf = 0) the finding is about, if any.
    public var chainIndex: Int?

    public init(severity: Severity, code: String, message: String, chainIndex: Int? = nil) {
        self.severity = severity
        self.code = code
        self.message = message
        self.chainIndex = chainIndex
    }

    enum CodingKeys: String, CodingKey {
        case severity, code, message
        case chainIndex = "chain_index"
    }
}

/// Findings about a bundle, most severe first.
public struct LintReport: Codable, Sendable, Hashable {
    public var findings: [LintFinding]

    /// True when any finding is an error.
    public var hasErrors: Bool { findings.contains { $0.severity == .error } }

    /// The codes, for quick assertions and logs.
    public var codes: [String] { findings.map(\.code) }
}

/// What to check a bundle against.
public struct LintOptions: Sendable {
    /// The instant validity is judged at.
    public var now: Date
    /// Warn when the leaf expires within this many days.
    public var expiryWarningDays: Int
    /// Required usage, checked against Extended Key Usage.
    public var usage: CertificateUsage?
    /// Names the leaf must cover besides its own SANs (e.g. the requested domains).
    public var hostnames: [String]
    /// Whether a missing private key is an error (an upload) or fine (a chain only).
    public var requireKey: Bool

    public init(
        now: Date = Date(), expiryWarningDays: Int = 30, usage: CertificateUsage? = nil,
        hostnames: [String] = [], requireKey: Bool = true
    ) {
        self.now = now
        self.expiryWarningDays = expiryWarningDays
        self.usage = usage
        self.hostnames = hostnames
        self.requireKey = requireKey
    }
}

extension CertificateBundle {
    /// Parses and lints in one step: a parse failure becomes a single error
    /// finding carrying the error's code.
    public static func lint(pem: String, passphrase: String? = nil, options: LintOptions = LintOptions()) -> LintReport {
        do {
            return try parse(pem: pem, passphrase: passphrase).lint(options)
        } catch {
            return LintReport(findings: [LintFinding(severity: .error, code: error.code, message: error.message)])
        }
    }

    /// Everything worth telling the uploader about this bundle.
    public func lint(_ options: LintOptions = LintOptions()) -> LintReport {
        var findings: [LintFinding] = []
        func add(_ severity: LintFinding.Severity, _ code: String, _ message: String, _ index: Int? = nil) {
            findings.append(LintFinding(severity: severity, code: code, message: message, chainIndex: index))
        }

        // Key.
        if let privateKey {
            if !privateKey.matches(leaf) {
                add(.error, "key_mismatch", X509Error.keyMismatch.message, 0)
            }
        } else if options.requireKey {
            add(.error, "key_missing", X509Error.keyMissing.message)
        }

        // Chain shape.
        if isIncomplete {
            add(
                .warning, "missing_intermediate",
                "The chain stops at a certificate that is not a CA; add the intermediate that issued it, or clients will fail to verify.",
                chain.count - 1)
        }
        if rootIncluded {
            add(
                .warning, "root_included",
                "The chain includes its root; clients have their own copy, so sending it only costs bytes. Remove it.",
                chain.count - 1)
        }
        if wasReordered {
            add(
                .warning, "wrong_order",
                "The certificates were not uploaded leaf first, each followed by its issuer; they were reordered.")
        }
        for position in duplicatePositions {
            add(
                .warning, "duplicate_certificate",
                "Certificate \(position + 1) of the upload repeats an earlier one; the copy was dropped.")
        }

        // Dates and algorithms, per certificate.
        let root = rootIncluded ? chain.count - 1 : nil
        let warnBefore = options.now.addingTimeInterval(TimeInterval(options.expiryWarningDays) * 86_400)
        for (index, certificate) in chain.enumerated() {
            let info = certificate.info
            let which = index == 0 ? "The leaf" : "Chain certificate \(index + 1)"
            if options.now < info.validity.since {
                add(.error, "not_yet_valid", "\(which) is not valid before \(RFC3339.format(info.validity.since)).", index)
            } else if options.now > info.validity.until {
                add(
                    index == root ? .warning : .error, "expired",
                    "\(which) expired at \(RFC3339.format(info.validity.until)).", index)
            } else if info.validity.until < warnBefore {
                add(
                    .warning, "expires_soon",
                    "\(which) expires at \(RFC3339.format(info.validity.until)), within \(options.expiryWarningDays) days.", index)
            }
            if info.publicKey.type == .rsa && info.publicKey.bits < 2048 {
                add(.error, "weak_key", "\(which) has an RSA key of \(info.publicKey.bits) bits; use at least 2048.", index)
            }
            // A root's self-signature is never checked by clients, so its hash does not matter.
            if index != root && info.signatureAlgorithm.lowercased().contains("sha1") {
                add(.error, "sha1_signature", "\(which) is signed with SHA-1 (\(info.signatureAlgorithm)), which clients reject.", index)
            }
        }
        if let privateKey, privateKey.details.type == .rsa, privateKey.details.bits < 2048, leaf.info.publicKey != privateKey.details {
            add(.error, "weak_key", "The private key is RSA with \(privateKey.details.bits) bits; use at least 2048.")
        }

        // Names.
        let sans = leaf.subjectAltNames
        if sans.isEmpty {
            add(
                .error, "no_subject_alt_names",
                "The leaf has no subjectAltName; clients ignore the common name, so it is valid for no host name.", 0)
        }
        for san in sans where IPAddress.parse(san) == nil && Hostname.normalizePattern(san) == nil {
            add(.warning, "invalid_san", "The leaf's SAN \"\(san.prefix(100))\" is not a valid host name or wildcard; no client will match it.", 0)
        }
        if let cn = leaf.info.subject.commonName, !sans.isEmpty, !sans.contains(where: { $0.caseInsensitiveCompare(cn) == .orderedSame }),
            Hostname.match(cn, against: sans) == nil
        {
            add(.warning, "common_name_not_in_sans", "The leaf's common name \"\(cn.prefix(100))\" is not among its SANs.", 0)
        }
        for host in options.hostnames where Hostname.match(host, against: sans) == nil {
            add(.error, "hostname_mismatch", "The leaf is not valid for \"\(host.prefix(253))\": no SAN matches it.", 0)
        }

        // Usage.
        if let usage = options.usage {
            let eku = leaf.info.extendedKeyUsage
            // No EKU extension means no restriction (RFC 5280 section 4.2.1.12).
            if !eku.isEmpty && !eku.contains(usage.extendedKeyUsage) && !eku.contains("anyExtendedKeyUsage") {
                add(
                    .error, "eku_mismatch",
                    "The leaf's Extended Key Usage (\(eku.joined(separator: ", "))) does not allow \(usage.extendedKeyUsage); "
                        + "it cannot be used as a TLS \(usage.rawValue).",
                    0)
            }
        }

        // Client CA for two-way TLS.
        for (index, certificate) in clientCA.enumerated() where !certificate.info.isCA {
            add(
                .error, "client_ca_not_ca",
                "Client-CA certificate \(index + 1) (\(certificate.info.subject.commonName ?? "no CN")) is not a CA; "
                    + "clients cannot be verified against it."
            )
        }

        let rank: [LintFinding.Severity: Int] = [.error: 0, .warning: 1, .info: 2]
        let sorted = findings.enumerated().sorted { a, b in
            (rank[a.element.severity]!, a.offset) < (rank[b.element.severity]!, b.offset)
        }.map(\.element)
        return LintReport(findings: sorted)
    }
}
