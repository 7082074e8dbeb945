import CertFleetCore
import Foundation

/// The message on a job queue: ids only, PostgreSQL holds the truth.
/// Schema: `schemas/messages/job.v1.schema.json`.
public struct JobMessage: Codable, Sendable, Equatable {
    public static let schemaName = "certfleet.job.v1"
    public var schema: String
    public var jobID: UUID
    public var certificateID: UUID
    public var projectID: UUID
    public var kind: JobKind

    public init(jobID: UUID, certificateID: UUID, projectID: UUID, kind: JobKind) {
        self.schema = Self.schemaName
        self.jobID = jobID
        self.certificateID = certificateID
        self.projectID = projectID
        self.kind = kind
    }

    enum CodingKeys: String, CodingKey {
        case schema, kind
        case jobID = "job_id"
        case certificateID = "certificate_id"
        case projectID = "project_id"
    }

    /// Decodes and checks the schema name; anything else is unparseable (dead-lettered).
    public static func decode(_ body: [UInt8]) throws -> JobMessage {
        let message = try JSONDecoder().decode(JobMessage.self, from: Data(body))
        guard message.schema == schemaName else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "schema \(message.schema) is not \(schemaName)"))
        }
        return message
    }
}

/// A lifecycle event as a CloudEvents 1.0 JSON message (`io.certfleet.certificate.<event>`).
/// Schema: `schemas/messages/certificate-event.v1.schema.json`.
public struct CertificateEventMessage: Codable, Sendable, Equatable {
    public var specversion = "1.0"
    public var id: String
    public var source = "/certfleet"
    public var type: String
    public var time: Date
    public var subject: String
    public var datacontenttype = "application/json"
    public var data: EventData

    public struct EventData: Codable, Sendable, Equatable {
        public var certificateID: UUID
        public var projectID: UUID
        public var name: String
        public var state: String
        public var version: Int?
        public var serial: String?
        public var notAfter: Date?
        public var reason: String?
        public var jobID: UUID?
        /// `expiring` only: the threshold (days before `not_after`) that was crossed.
        public var thresholdDays: Int?
        /// `issued`/`renewed` through ACME: the CA's directory URL that issued the version.
        public var ca: String?
        /// `delivered`/`delivery_failed`: the target, and what it answered.
        public var target: EventTarget?

        public init(
            certificateID: UUID, projectID: UUID, name: String, state: String, version: Int? = nil, serial: String? = nil,
            notAfter: Date? = nil, reason: String? = nil, jobID: UUID? = nil, thresholdDays: Int? = nil, ca: String? = nil,
            target: EventTarget? = nil
        ) {
            self.certificateID = certificateID
            self.projectID = projectID
            self.name = name
            self.state = state
            self.version = version
            self.serial = serial
            self.notAfter = notAfter
            self.reason = reason
            self.jobID = jobID
            self.thresholdDays = thresholdDays
            self.ca = ca
            self.target = target
        }

        enum CodingKeys: String, CodingKey {
            case name, state, version, serial, reason, ca, target
            case certificateID = "certificate_id"
            case projectID = "project_id"
            case notAfter = "not_after"
            case jobID = "job_id"
            case thresholdDays = "threshold_days"
        }
    }

    /// The target of a `delivered` or `delivery_failed` event (never its secret).
    public struct EventTarget: Codable, Sendable, Equatable {
        public var id: UUID
        public var name: String
        public var kind: String
        /// The SHA-256 fingerprint of the leaf the target now holds (`delivered`).
        public var fingerprintSHA256: String?
        /// The target's answer, trimmed: a reload's output, HAProxy's reply, an HTTP status.
        public var answer: String?

        public init(id: UUID, name: String, kind: String, fingerprintSHA256: String?, answer: String?) {
            self.id = id
            self.name = name
            self.kind = kind
            self.fingerprintSHA256 = fingerprintSHA256
            self.answer = answer
        }

        enum CodingKeys: String, CodingKey {
            case id, name, kind, answer
            case fingerprintSHA256 = "fingerprint_sha256"
        }
    }

    /// EVENT is the short name (`validated`, `failed`, `deleted`, …).
    public init(id: String, event: String, time: Date, data: EventData) {
        self.id = id
        self.type = "io.certfleet.certificate.\(event)"
        self.time = time
        self.subject = data.certificateID.uuidString.lowercased()
        self.data = data
    }
}
