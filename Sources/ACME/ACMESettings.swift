import CertFleetCore
import Foundation
import X509

/// How the ACME jobs reach CAs and DNS, from the environment:
/// - `CERTFLEET_ACME_DIRECTORY_URL` (or `CERTFLEET_ACME_DIRECTORY`): the directory of a
///   project's default account, created on first use when the project has none;
/// - `CERTFLEET_ACME_CA_FILE`: an extra CA for the ACME server's HTTPS (Pebble's);
/// - `CERTFLEET_DNS01_PROVIDER`: `challtestsrv` (with `CERTFLEET_CHALLTESTSRV_URL`) or `none`;
///   defaults to `challtestsrv` when that URL is set;
/// - `CERTFLEET_ACME_DNS_SERVER`: `host:port` of the resolver that must see a TXT record
///   before the CA is asked to look (dns-01 and dns-01-manual);
/// - `CERTFLEET_ACME_MANUAL_RECHECK_SECONDS`: how often a dns-01-manual job looks again (default 10);
/// - `CERTFLEET_ACME_DEFAULT_CHALLENGE`: the challenge of requests that name none (API; default http-01);
/// - `CERTFLEET_ACME_BUDGET=off`: no rate-limit budget (test CAs such as Pebble); by default
///   every new order reserves in `IssuanceBudget` (Let's Encrypt's limits) first;
/// - `CERTFLEET_ACME_RATE_LIMITS`: the budget's limits per CA directory URL as JSON
///   (see `IssuanceBudget.init(db:limitsJSON:)`);
/// - `CERTFLEET_ACME_PROJECT_SHARE`: the part (0–1, default 1) of a registered domain's
///   certificate window one project may hold;
/// - `CERTFLEET_ACME_DIRECTORIES`: comma-separated directory URLs a project may register
///   accounts at (default: Let's Encrypt production and staging); the default directory
///   is always allowed. Anything else is refused before any request leaves the server;
/// - `CERTFLEET_DNS_RESOLVER`: `host:port` where DNS providers find zones, nameservers and CNAMEs
///   when a provider names no resolver (default: `CERTFLEET_ACME_DNS_SERVER`, else /etc/resolv.conf);
/// - `CERTFLEET_DNS_EXEC_DIR`: the directory of hook scripts `exec` providers may run (unset: exec disabled);
/// - `CERTFLEET_DNS_HTTPREQ_ALLOWED`: comma-separated URL prefixes `httpreq` and `acme-dns` providers may call;
/// - `CERTFLEET_PREFLIGHT`: `auto` (default: before orders whose dns-01 goes through the project's DNS
///   providers), `on` (before every order) or `off`;
/// - `CERTFLEET_ACME_CAA_IDENTITIES`: comma-separated CAA identities of the CA when its directory
///   publishes none (Pebble), for the CAA preflight;
/// - `CERTFLEET_DOMAIN_POLICY`: `enforce` (default): a project issues only for names inside
///   zones it verified (`/v1/domains`); `off`: any name (a single-tenant or local stack).
public struct ACMESettings: Sendable {
    public var defaultDirectoryURL: String?
    public var trustedCAFile: String?
    public var challTestSrvURL: String?
    public var dnsServer: String?
    public var manualRecheck: TimeInterval
    public var propagationTimeout: Duration
    /// Whether new orders reserve in the issuance budget first.
    public var budgetEnabled: Bool
    /// The budget's limits per CA (JSON); nil: Let's Encrypt's for every CA.
    public var budgetLimitsJSON: String?
    /// The part of a registered domain's certificate window one project may hold (`CERTFLEET_ACME_PROJECT_SHARE`).
    public var budgetProjectShare: Double = 1
    /// The challenge of an issue request that names none.
    public var defaultChallenge: String
    /// Directories accounts may be registered at, besides the default one.
    public var allowedDirectories: [String]
    /// Whether issue requests must name only the project's verified zones.
    public var domainPolicy: DomainOwnership.Policy
    /// `CERTFLEET_DNS_RESOLVER`.
    public var dnsResolver: String?
    /// `CERTFLEET_DNS_EXEC_DIR`: exec providers run only scripts inside it.
    public var dnsExecDirectory: String?
    /// `CERTFLEET_DNS_HTTPREQ_ALLOWED`: URL prefixes httpreq and acme-dns providers may call.
    public var dnsHTTPAllowed: [String] = []
    /// `CERTFLEET_PREFLIGHT`: auto, on, off.
    public var preflight: String = "auto"
    /// `CERTFLEET_ACME_CAA_IDENTITIES`.
    public var caaIdentities: [String] = []

    /// Let's Encrypt production and staging: the allowed directories when none are configured.
    public static let letsEncryptDirectories = [
        "https://acme-v02.api.letsencrypt.org/directory", "https://acme-staging-v02.api.letsencrypt.org/directory",
    ]

    /// Whether accounts may be registered at directory URL (exact match: no fetch is made otherwise).
    public func allowsDirectory(_ url: String) -> Bool {
        url == defaultDirectoryURL || allowedDirectories.contains(url)
    }

    public init(
        defaultDirectoryURL: String? = nil, trustedCAFile: String? = nil, challTestSrvURL: String? = nil, dnsServer: String? = nil,
        manualRecheck: TimeInterval = 10, propagationTimeout: Duration = .seconds(120), budgetEnabled: Bool = true,
        budgetLimitsJSON: String? = nil, defaultChallenge: String = "http-01",
        allowedDirectories: [String] = ACMESettings.letsEncryptDirectories, domainPolicy: DomainOwnership.Policy = .enforce
    ) {
        self.allowedDirectories = allowedDirectories
        self.domainPolicy = domainPolicy
        self.budgetEnabled = budgetEnabled
        self.budgetLimitsJSON = budgetLimitsJSON
        self.defaultChallenge = defaultChallenge
        self.defaultDirectoryURL = defaultDirectoryURL
        self.trustedCAFile = trustedCAFile
        self.challTestSrvURL = challTestSrvURL
        self.dnsServer = dnsServer
        self.manualRecheck = manualRecheck
        self.propagationTimeout = propagationTimeout
    }

    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ACMESettings {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let provider = value("CERTFLEET_DNS01_PROVIDER") ?? (value("CERTFLEET_CHALLTESTSRV_URL") != nil ? "challtestsrv" : "none")
        var settings = ACMESettings(
            defaultDirectoryURL: value("CERTFLEET_ACME_DIRECTORY_URL") ?? value("CERTFLEET_ACME_DIRECTORY"),
            trustedCAFile: value("CERTFLEET_ACME_CA_FILE"),
            challTestSrvURL: provider == "challtestsrv" ? value("CERTFLEET_CHALLTESTSRV_URL") : nil,
            dnsServer: value("CERTFLEET_ACME_DNS_SERVER"),
            manualRecheck: value("CERTFLEET_ACME_MANUAL_RECHECK_SECONDS").flatMap(TimeInterval.init) ?? 10,
            budgetEnabled: value("CERTFLEET_ACME_BUDGET") != "off",
            budgetLimitsJSON: value("CERTFLEET_ACME_RATE_LIMITS"),
            defaultChallenge: value("CERTFLEET_ACME_DEFAULT_CHALLENGE") ?? "http-01",
            allowedDirectories: value("CERTFLEET_ACME_DIRECTORIES").map {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } ?? letsEncryptDirectories,
            domainPolicy: value("CERTFLEET_DOMAIN_POLICY").flatMap(DomainOwnership.Policy.init(rawValue:)) ?? .enforce)
        settings.budgetProjectShare = value("CERTFLEET_ACME_PROJECT_SHARE").flatMap(Double.init) ?? 1
        settings.dnsResolver = value("CERTFLEET_DNS_RESOLVER")
        settings.dnsExecDirectory = value("CERTFLEET_DNS_EXEC_DIR")
        settings.preflight = value("CERTFLEET_PREFLIGHT") ?? "auto"
        func list(_ name: String) -> [String] {
            (value(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        settings.caaIdentities = list("CERTFLEET_ACME_CAA_IDENTITIES")
        settings.dnsHTTPAllowed = list("CERTFLEET_DNS_HTTPREQ_ALLOWED")
        return settings
    }

    public var resolver: DNSTXTResolver? { dnsServer.flatMap { DNSTXTResolver(server: $0) } }

    /// Where DNS providers look up zones, nameservers and CNAMEs by default.
    public var defaultDNSResolver: String? {
        dnsResolver ?? dnsServer ?? verificationResolver.map { "\($0.host):\($0.port)" }
    }

    /// Where domain-ownership TXT records are looked up: the ACME DNS server when set,
    /// else the system's first nameserver (/etc/resolv.conf).
    public var verificationResolver: DNSTXTResolver? {
        if let resolver { return resolver }
        let conf = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        for line in conf.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 2 && fields[0] == "nameserver" { return DNSTXTResolver(host: String(fields[1])) }
        }
        return nil
    }

    /// The client configuration for an account on DIRECTORYURL.
    public func configuration(directoryURL: String) -> ACMEConfiguration {
        ACMEConfiguration(directoryURL: directoryURL, trustedCAFile: trustedCAFile)
    }

    /// A client for the CA's plain GETs (the directory, `renewalInfo`), which no account
    /// signs: any key will do. The caller shuts it down.
    public func unsignedClient(directoryURL: String, timeout: Duration) throws -> ACMEClient {
        var configuration = configuration(directoryURL: directoryURL)
        configuration.requestTimeout = timeout
        return try ACMEClient(configuration: configuration, accountKey: try PrivateKey.generate(.ecP256))
    }
}
