import CertFleetCore
import Foundation

/// What `certfleet agent` does with an offer on its own host: the files + command delivery
/// (atomic swap, key 0600, reload with a timeout), refusing a version older than installed.
public struct AgentInstaller: Sendable {
    let files: FilesDeliverer

    public init(directory: String, reloadCommand: String?, reloadTimeout: Duration) {
        files = FilesDeliverer(directory: directory, reloadCommand: reloadCommand, reloadTimeout: reloadTimeout)
    }

    /// Installs one version; returns the answer to acknowledge with, or throws `DeliveryFailure`.
    public func install(
        certificateID: UUID, projectID: UUID, name: String, version: Int, serial: String, fingerprintSHA256: String,
        chainPEM: String, keyPEM: String
    ) async throws -> String {
        try await files.deliver(
            DeliveryBundle(
                certificateID: certificateID, projectID: projectID, certificateName: name, version: version,
                serial: serial, fingerprintSHA256: fingerprintSHA256, chainPEM: chainPEM, keyPEM: keyPEM))
    }

    /// The version installed under DIRECTORY for certificate NAME (its `certfleet.json`), if any.
    public static func installedVersion(directory: String, name: String) -> Int? {
        FilesDeliverer.heldVersion("\(directory)/\(name)")
    }
}
