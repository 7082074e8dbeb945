import Foundation

/// RFC 8659 CAA evaluation, pure: given the relevant CAA record set (the first non-empty set
/// found climbing from the name towards the root), may a CA with `identities` issue?
public enum CAAPolicy {
    public struct Record: Sendable, Hashable {
        public var critical: Bool
        public var tag: String
        public var value: String

        public init(critical: Bool, tag: String, value: String) {
            self.critical = critical
            self.tag = tag
            self.value = value
        }
    }

    public enum Decision: Sendable, Hashable {
        case permitted
        /// With the reason a person can act on.
        case forbidden(String)
    }

    /// RECORDS: the relevant set (empty: no CAA anywhere up the tree, so any CA may issue).
    /// IDENTITIES: the CA's `caaIdentities` (empty: unknown, so only a set that admits no CA
    /// at all, `issue ";"`, or an unknown critical property forbids).
    public static func evaluate(records: [Record], identities: [String], wildcard: Bool) -> Decision {
        guard !records.isEmpty else { return .permitted }
        // Section 4.2.1 / 5.4: an unknown property with the critical flag forbids issuance.
        let known: Set<String> = ["issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc"]
        if let unknown = records.first(where: { $0.critical && !known.contains($0.tag.lowercased()) }) {
            return .forbidden("CAA has an unknown critical property '\(unknown.tag)'")
        }
        let issue = records.filter { $0.tag.lowercased() == "issue" }
        let issuewild = records.filter { $0.tag.lowercased() == "issuewild" }
        // Wildcards: issuewild when present, else issue (section 4.3); no issue property at all: any CA.
        let relevant = wildcard && !issuewild.isEmpty ? issuewild : issue
        let property = wildcard && !issuewild.isEmpty ? "issuewild" : "issue"
        guard !relevant.isEmpty else { return .permitted }
        let allowed = relevant.compactMap { issuer($0.value) }
        if allowed.isEmpty { return .forbidden("CAA \(property) \";\" forbids every CA") }
        let wanted = Set(identities.map { $0.lowercased() })
        if wanted.isEmpty { return .permitted }
        if allowed.contains(where: wanted.contains) { return .permitted }
        return .forbidden(
            "CAA \(property) allows only \(allowed.sorted().joined(separator: ", ")); this CA is \(wanted.sorted().joined(separator: ", "))")
    }

    /// The issuer domain of an issue/issuewild value (`letsencrypt.org; validationmethods=dns-01`); nil for `;` (no CA).
    static func issuer(_ value: String) -> String? {
        let domain = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let trimmed = domain.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }
}
