import Foundation

/// Refusals and conflicts of the store, each with a stable code the API maps to HTTP.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another live certificate of the project has this name (409).
    case nameTaken(String)
    /// A job of this kind is already queued or running for the certificate (409).
    case jobAlreadyActive(jobID: UUID, kind: String)
    /// No such certificate in the project (404; also for other projects' certificates).
    case certificateNotFound(String)
    /// No such job in the project (404).
    case jobNotFound(UUID)
    /// The certificate is bound to consumers and cannot be deleted (409).
    case certificateInUse(consumers: [String])
    /// The certificate's state does not allow this (409), with the state machine's code.
    case transitionRefused(code: String, state: String)
    /// The certificate changed since the caller read it (`If-Match`, optimistic lock) (409/412).
    case versionMismatch(expected: Int64, actual: Int64)
    /// Only ACME certificates are renewed by CertFleet (409).
    case notRenewable(source: String)
    /// Only ACME certificates are revoked through CertFleet (409).
    case notRevocable(source: String)
    /// No such ACME account in the project (404).
    case acmeAccountNotFound(String)
    /// A client's idempotency key is empty, too long or uses a prefix kept for CertFleet's own jobs (400).
    case idempotencyKeyInvalid(String)
    /// The idempotency key already named a request of another kind or certificate (422).
    case idempotencyKeyReused(kind: String)
    /// Another project verified this zone or one containing it (409).
    case zoneOwnedElsewhere(zone: String)
    /// Another account of the project holds this place in the CA chain (409).
    case fallbackOrderTaken(Int)
    /// No such DNS provider in the project (404).
    case dnsProviderNotFound(String)
    /// The project already has a DNS provider of this name (409).
    case dnsProviderNameTaken(String)
    /// No such delivery target in the project (404; also for other projects' targets).
    case targetNotFound(String)
    /// Another live target of the project has this name (409).
    case targetNameTaken(String)
    /// The target is named by bindings and cannot be deleted (409).
    case targetInUse(bindings: [String])
    /// The consumer already has a live certificate bound (409): change it instead of creating one.
    case consumerTaken(String)

    public var code: String {
        switch self {
        case .nameTaken: return "name_taken"
        case .jobAlreadyActive: return "job_already_running"
        case .certificateNotFound: return "certificate_not_found"
        case .jobNotFound: return "job_not_found"
        case .certificateInUse: return "certificate_in_use"
        case .transitionRefused(let code, _): return code
        case .versionMismatch: return "version_mismatch"
        case .notRenewable: return "not_renewable"
        case .notRevocable: return "not_revocable"
        case .acmeAccountNotFound: return "acme_account_not_found"
        case .idempotencyKeyInvalid: return "idempotency_key_invalid"
        case .idempotencyKeyReused: return "idempotency_key_reused"
        case .zoneOwnedElsewhere: return "zone_owned_elsewhere"
        case .fallbackOrderTaken: return "fallback_order_taken"
        case .dnsProviderNotFound: return "dns_provider_not_found"
        case .dnsProviderNameTaken: return "name_taken"
        case .targetNotFound: return "target_not_found"
        case .targetNameTaken: return "target_name_taken"
        case .targetInUse: return "target_in_use"
        case .consumerTaken: return "tls_exists"
        }
    }

    public var description: String {
        switch self {
        case .nameTaken(let name): return "a certificate named '\(name)' already exists; choose another name or update it with PUT"
        case .jobAlreadyActive(let id, let kind): return "a \(kind) job (\(id.uuidString.lowercased())) is already in progress for this certificate"
        case .certificateNotFound(let ref): return "certificate '\(ref)' not found"
        case .jobNotFound(let id): return "job \(id.uuidString.lowercased()) not found"
        case .certificateInUse(let consumers): return "the certificate is in use by \(consumers.joined(separator: ", ")); unbind it first"
        case .transitionRefused(let code, let state): return "not possible while the certificate is \(state) (\(code))"
        case .versionMismatch(let expected, let actual): return "the certificate changed (version \(actual), expected \(expected)); read it again"
        case .notRenewable: return "an uploaded certificate is renewed by uploading its successor with PUT /v1/certificates/{ref}"
        case .notRevocable: return "only certificates issued through ACME can be revoked here"
        case .acmeAccountNotFound(let ref): return "ACME account '\(ref)' not found"
        case .idempotencyKeyInvalid(let why): return why
        case .idempotencyKeyReused(let kind):
            return "this idempotency key was already used for a \(kind) request of another certificate or kind; use a new key"
        case .zoneOwnedElsewhere(let zone):
            return "zone '\(zone)' is verified by another project; only the system scope can reassign it"
        case .fallbackOrderTaken(let order):
            return "another ACME account of the project is number \(order) in its CA chain; choose another fallback_order"
        case .dnsProviderNameTaken(let name): return "a DNS provider named '\(name)' already exists; delete it first or choose another name"
        case .dnsProviderNotFound(let ref): return "DNS provider '\(ref)' not found in this project (GET /v1/dns/providers lists them)"
        case .targetNotFound(let ref): return "delivery target '\(ref)' not found"
        case .targetNameTaken(let name): return "a delivery target named '\(name)' already exists; choose another name"
        case .targetInUse(let bindings): return "the target is used by the bindings \(bindings.joined(separator: ", ")); unbind them first"
        case .consumerTaken(let consumer): return "consumer '\(consumer)' already has a TLS configuration; change it with PUT"
        }
    }
}

/// The worker no longer owns the job (its lease expired and the reaper gave it away):
/// it must commit nothing.
public struct LeaseLost: Error, Sendable, CustomStringConvertible {
    public let jobID: UUID

    public init(jobID: UUID) { self.jobID = jobID }
    public var description: String { "lease on job \(jobID.uuidString.lowercased()) was lost; nothing committed" }
}
