import Foundation

/// A target's settings (`delivery_targets.config`), checked: the API refuses a target that
/// could never work (422 with the code), and the deliver job reads the same values.
public enum DeliveryTargetSettings: Sendable, Equatable {
    /// `directory` (absolute; a directory per certificate inside), `reload_command` (run by
    /// `/bin/sh -c`), `reload_timeout_seconds` (default 30).
    case files(directory: String, reloadCommand: String?, reloadTimeout: Duration)
    /// `socket` (the stats socket, absolute), `certificate` (the crt path of the bind line;
    /// `{name}` stands for the certificate's name).
    case haproxy(socket: String, certificate: String)
    /// `url` (http or https); the HMAC secret is the target's sealed secret.
    case webhook(url: String)
    /// A `certfleet agent` fetches from the API with the target's key (made at creation).
    case agent
    /// NGINX Unit's control API on `socket` (absolute path of the control socket): the bundle
    /// goes in under a versioned name, `listener`'s `tls/certificate` is switched to it, the
    /// previous bundle is deleted.
    case unit(socket: String, listener: String)

    public static func parse(kind: DeliveryTargetKind, config: [String: String], hasSecret: Bool) throws -> DeliveryTargetSettings {
        switch kind {
        case .files:
            guard let directory = config["directory"], directory.hasPrefix("/") else {
                throw DeliveryFailure(.targetMisconfigured, "a files target needs an absolute 'directory'")
            }
            let timeout = config["reload_timeout_seconds"].map { Int($0) } ?? 30
            guard let timeout, (1...3600).contains(timeout) else {
                throw DeliveryFailure(.targetMisconfigured, "'reload_timeout_seconds' must be 1-3600")
            }
            let command = config["reload_command"].flatMap { $0.isEmpty ? nil : $0 }
            return .files(directory: directory, reloadCommand: command, reloadTimeout: .seconds(timeout))
        case .haproxy:
            guard let socket = config["socket"], socket.hasPrefix("/"), socket.utf8.count < 108 else {
                throw DeliveryFailure(.targetMisconfigured, "an haproxy target needs the absolute path of its stats 'socket' (under 108 bytes)")
            }
            guard let certificate = config["certificate"], !certificate.isEmpty,
                !certificate.contains(where: { $0.isWhitespace || $0.isNewline })
            else {
                throw DeliveryFailure(.targetMisconfigured, "an haproxy target needs 'certificate': the crt path of its bind line")
            }
            return .haproxy(socket: socket, certificate: certificate)
        case .webhook:
            guard let url = config["url"], url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil else {
                throw DeliveryFailure(.targetMisconfigured, "a webhook target needs an http(s) 'url'")
            }
            guard hasSecret else { throw DeliveryFailure(.targetMisconfigured, "a webhook target needs a 'secret' to sign with") }
            return .webhook(url: url)
        case .agent:
            return .agent
        case .unit:
            guard let socket = config["socket"], socket.hasPrefix("/"), socket.utf8.count < 108 else {
                throw DeliveryFailure(.targetMisconfigured, "a unit target needs the absolute path of Unit's control 'socket' (under 108 bytes)")
            }
            guard let listener = config["listener"], !listener.isEmpty, !listener.contains("/"),
                !listener.contains(where: { $0.isWhitespace })
            else {
                throw DeliveryFailure(.targetMisconfigured, "a unit target needs the 'listener' whose tls.certificate it switches (e.g. *:443)")
            }
            return .unit(socket: socket, listener: listener)
        }
    }
}
