/// How a delivery target receives a certificate (`delivery_targets.kind`).
public enum DeliveryTargetKind: String, Sendable, Codable, CaseIterable {
    /// `fullchain.pem`, `privkey.pem`, `chain.pem`, `cert.pem` written atomically into a
    /// directory per certificate, then a reload command (certbot/lego deploy hooks).
    case files
    /// HAProxy's runtime API over its stats socket: `set ssl cert` … `commit ssl cert`.
    case haproxy
    /// A CloudEvent POSTed in structured mode, signed with HMAC-SHA256.
    case webhook
    /// A `certfleet agent` on the edge host fetches the current versions with the target's
    /// key (HTTP long-poll), applies them as files + command, and acknowledges the fingerprint.
    case agent
    /// NGINX Unit's control API over its control socket: upload under a versioned name, switch
    /// the listener's `tls/certificate`, delete the old bundle.
    case unit

    /// Kinds a worker pushes to with a deliver job; an agent pulls instead.
    public var isPushed: Bool { self != .agent }
}
