import Foundation

/// A CA's rate limits that CertFleet keeps a budget for, each a count in a sliding window.
public struct IssuanceLimits: Sendable, Equatable, Codable {
    public struct Window: Sendable, Equatable, Codable {
        public var count: Int
        public var seconds: Int

        public init(_ count: Int, per seconds: Int) {
            self.count = count
            self.seconds = seconds
        }
    }

    /// New orders per ACME account.
    public var ordersPerAccount: Window
    /// Certificates containing a name under the same registered domain (eTLD+1).
    public var certificatesPerRegisteredDomain: Window
    /// Certificates for exactly the same set of names.
    public var duplicateCertificates: Window
    /// Failed validations per account and hostname: past it, no new order names the host.
    public var failedValidationsPerHostname: Window
    /// New accounts per IP address (this installation's registrations at the CA).
    public var accountsPerIP: Window

    public init(
        ordersPerAccount: Window, certificatesPerRegisteredDomain: Window, duplicateCertificates: Window,
        failedValidationsPerHostname: Window = .init(5, per: 3600), accountsPerIP: Window = .init(10, per: 3 * 3600)
    ) {
        self.accountsPerIP = accountsPerIP
        self.ordersPerAccount = ordersPerAccount
        self.certificatesPerRegisteredDomain = certificatesPerRegisteredDomain
        self.duplicateCertificates = duplicateCertificates
        self.failedValidationsPerHostname = failedValidationsPerHostname
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            ordersPerAccount: try container.decode(Window.self, forKey: .ordersPerAccount),
            certificatesPerRegisteredDomain: try container.decode(Window.self, forKey: .certificatesPerRegisteredDomain),
            duplicateCertificates: try container.decode(Window.self, forKey: .duplicateCertificates),
            failedValidationsPerHostname: try container.decodeIfPresent(Window.self, forKey: .failedValidationsPerHostname)
                ?? IssuanceLimits.letsEncrypt.failedValidationsPerHostname,
            accountsPerIP: try container.decodeIfPresent(Window.self, forKey: .accountsPerIP) ?? IssuanceLimits.letsEncrypt.accountsPerIP)
    }

    /// Let's Encrypt's published defaults: 300 new orders per account per 3 hours,
    /// 50 certificates per registered domain per 7 days, 5 duplicate certificates per 7 days,
    /// 5 failed validations per account and hostname per hour, 10 new accounts per IP per 3 hours.
    public static let letsEncrypt = IssuanceLimits(
        ordersPerAccount: .init(300, per: 3 * 3600),
        certificatesPerRegisteredDomain: .init(50, per: 7 * 86400),
        duplicateCertificates: .init(5, per: 7 * 86400))

    enum CodingKeys: String, CodingKey {
        case ordersPerAccount = "orders_per_account"
        case certificatesPerRegisteredDomain = "certificates_per_registered_domain"
        case duplicateCertificates = "duplicate_certificates"
        case failedValidationsPerHostname = "failed_validations_per_hostname"
        case accountsPerIP = "accounts_per_ip"
    }
}

/// Which limit a reservation would exceed. Stable codes: they reach the certificate's error.
public enum IssuanceLimit: String, Sendable, Equatable, CaseIterable {
    case ordersPerAccount = "orders_per_account"
    case certificatesPerRegisteredDomain = "certificates_per_registered_domain"
    case duplicateCertificates = "duplicate_certificates"
    case failedValidationsPerHostname = "failed_validations_per_hostname"
    case accountsPerIP = "accounts_per_ip"
}

/// The registered domain (eTLD+1) of a host name, as CAs count "certificates per domain".
///
/// From the Public Suffix List Debian ships (`publicsuffix`:
/// `/usr/share/publicsuffix/public_suffix_list.dat`, or `CERTFLEET_PUBLIC_SUFFIX_LIST`), read
/// once per process. Without the file: a small built-in rule set (every single-label TLD plus
/// the common multi-label suffixes below), under which a name below a missing suffix counts
/// one label too high — stricter, never looser.
public enum RegisteredDomain {
    /// Multi-label public suffixes of the built-in fallback.
    public static let multiLabelSuffixes: Set<String> = [
        "co.uk", "org.uk", "me.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "net.uk", "sch.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au", "id.au",
        "co.nz", "org.nz", "net.nz", "govt.nz", "ac.nz",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
        "co.kr", "or.kr", "com.br", "net.br", "org.br", "gov.br", "com.cn", "net.cn", "org.cn", "gov.cn",
        "com.mx", "com.ar", "com.tr", "com.tw", "com.hk", "com.sg", "com.my", "co.in", "net.in", "org.in",
        "co.za", "org.za", "co.il", "com.ua", "com.pl", "co.at", "or.at",
        // Private suffixes of hosting platforms (each customer is its own registered domain).
        "github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app", "pages.dev", "workers.dev",
        "blogspot.com", "appspot.com", "cloudfront.net", "azurewebsites.net", "s3.amazonaws.com",
    ]

    /// Where Debian's `publicsuffix` package puts the list.
    public static let debianListPath = "/usr/share/publicsuffix/public_suffix_list.dat"

    /// The list in use: the file's, or nil (the built-in rules).
    public static let list: PublicSuffixList? = {
        let path = ProcessInfo.processInfo.environment["CERTFLEET_PUBLIC_SUFFIX_LIST"] ?? debianListPath
        return (try? String(contentsOfFile: path, encoding: .utf8)).map(PublicSuffixList.init(text:))
    }()

    /// The registered domain of HOST (lower-cased, a leading `*.` ignored); the host itself
    /// when it is a public suffix or a single label.
    public static func of(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("*.") { name.removeFirst(2) }
        if name.hasSuffix(".") { name.removeLast() }
        if DomainOwnership.isIPAddress(name) { return name } // an IP identifier counts as itself
        if let list { return list.registeredDomain(of: name) }
        let labels = name.split(separator: ".").map(String.init)
        guard labels.count > 2 else { return name }
        let lastTwo = labels.suffix(2).joined(separator: ".")
        let take = multiLabelSuffixes.contains(lastTwo) ? 3 : 2
        return labels.suffix(take).joined(separator: ".")
    }
}

/// The Public Suffix List's rules (https://publicsuffix.org/list/): plain, wildcard (`*.ck`)
/// and exception (`!www.ck`) rules; the longest matching rule wins, exceptions first; an
/// unlisted TLD is a public suffix (the implicit `*` rule).
public struct PublicSuffixList: Sendable {
    private var rules: Set<String> = []
    private var wildcards: Set<String> = []
    private var exceptions: Set<String> = []

    public init(text: String) {
        for line in text.split(whereSeparator: \.isNewline) {
            guard let rule = line.split(whereSeparator: \.isWhitespace).first, !rule.hasPrefix("//") else { continue }
            let lowered = rule.lowercased()
            if lowered.hasPrefix("!") {
                exceptions.insert(String(lowered.dropFirst()))
            } else if lowered.hasPrefix("*.") {
                wildcards.insert(String(lowered.dropFirst(2)))
            } else {
                rules.insert(lowered)
            }
        }
    }

    /// How many trailing labels of NAME's labels form its public suffix.
    func suffixLength(_ labels: [Substring]) -> Int {
        var longest = 1 // the implicit "*" rule
        for count in 1...labels.count {
            let candidate = labels.suffix(count).joined(separator: ".")
            if exceptions.contains(candidate) { return count - 1 }
            if rules.contains(candidate) { longest = max(longest, count) }
            if count < labels.count, wildcards.contains(candidate) { longest = max(longest, count + 1) }
        }
        return longest
    }

    /// The public suffix plus one label; NAME itself when it is a suffix or a single label.
    public func registeredDomain(of name: String) -> String {
        let labels = name.split(separator: ".")
        guard labels.count > 1 else { return name }
        let suffix = suffixLength(labels)
        guard suffix < labels.count else { return name }
        return labels.suffix(suffix + 1).joined(separator: ".")
    }
}
