import CertFleetCore
import Foundation

/// What a target receives: one version of one certificate. KEYPEM is secret: it goes to
/// the target and nowhere else (no log line, error or event carries it).
struct DeliveryBundle: Sendable {
    let certificateID: UUID
    let projectID: UUID
    let certificateName: String
    let version: Int
    let serial: String
    let fingerprintSHA256: String
    /// Leaf first, then the intermediates (as stored).
    let chainPEM: String
    let keyPEM: String

    /// The certificates of the chain, each a PEM block ending in a newline.
    var certificates: [String] {
        var blocks: [String] = []
        var current = ""
        for line in chainPEM.split(separator: "\n", omittingEmptySubsequences: true) {
            current += line.trimmingCharacters(in: .whitespaces) + "\n"
            if line.hasPrefix("-----END ") {
                blocks.append(current)
                current = ""
            }
        }
        return blocks
    }

    var leafPEM: String { certificates.first ?? "" }
    var intermediatesPEM: String { certificates.dropFirst().joined() }
    var fullchainPEM: String { certificates.joined() }
}

/// One kind of target: puts BUNDLE there, returns the target's answer (short, no secret),
/// or throws a `DeliveryFailure` with a stable code.
protocol Deliverer: Sendable {
    func deliver(_ bundle: DeliveryBundle) async throws -> String
}
